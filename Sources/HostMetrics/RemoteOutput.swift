import Foundation

/// What one run of a `RemoteCollection` script printed, split into its sections: the files it read
/// (as `HostFiles`, so the usual readers parse them), the `statfs` answers per mount point, and the
/// output and exit status of commands.
struct RemoteOutput: Sendable {
    /// Which script printed the output.
    enum Script: String, Sendable {
        case sample, hardware
    }

    /// How `stat -f` answered for one mount point.
    enum MountStatus: Sendable, Equatable {
        /// Block size and the total, free and available block counts.
        case measured(blockSize: UInt64, blocks: UInt64, free: UInt64, available: UInt64)
        /// `timeout` killed it.
        case timedOut
        /// It failed with this exit status (the mount point vanished, permission denied; 127: no `stat`).
        case failed(status: Int)
    }

    /// Files and one-line values by absolute path, and the files that could not be read.
    var files: HostFiles
    /// `statfs` answers by (unescaped) mount point.
    var mounts: [String: MountStatus]
    /// What a command printed, by name (`nvidia-smi`, `uname`, `pagesize`).
    var outputs: [String: String]
    /// How a command exited, by name.
    var exitStatuses: [String: Int]

    /// Where errors about the stream itself point.
    static let source = "remote output"

    /// Splits `output` into sections.
    /// - Throws: `.malformed` when the output is too large, has no begin line, comes from another
    ///   script or format version, or stops before its end marker (the command was cut off).
    static func parse(_ output: String, expecting script: Script) throws(HostMetricsError) -> RemoteOutput {
        let bytes = Array(output.utf8)
        guard bytes.count <= RemoteCollection.maximumOutputBytes else {
            throw .malformed(source, reason: "\(bytes.count) bytes is more than the \(RemoteCollection.maximumOutputBytes) accepted")
        }
        let begin = Array("@@nebula:begin:".utf8)
        guard let beginAt = lineStarts(of: begin, in: bytes, from: 0).first else {
            let start = String(decoding: bytes.prefix(120), as: UTF8.self)
            throw .malformed(source, reason: "no '@@nebula:begin:' line; is this the output of RemoteCollection.\(script)Script? It starts with: \(start)")
        }
        let beginLine = line(in: bytes, from: beginAt + begin.count)
        let header = String(decoding: bytes[beginLine], as: UTF8.self).fields.map(String.init)
        guard header.count == 3, let nonce = header.first, isNonce(nonce) else {
            throw .malformed(source, reason: "unexpected begin line '@@nebula:begin:\(String(decoding: bytes[beginLine].prefix(120), as: UTF8.self))'")
        }
        guard header[2] == String(RemoteCollection.formatVersion) else {
            throw .malformed(source, reason: "format version \(header[2]) is not supported (expected \(RemoteCollection.formatVersion)); the script and this parser come from different versions")
        }
        guard header[1] == script.rawValue else {
            throw .malformed(source, reason: "this is the output of the \(header[1]) script, expected the \(script.rawValue) script")
        }

        var collected = Collector()
        let marker = Array("@@nebula:\(nonce):".utf8)
        let starts = lineStarts(of: marker, in: bytes, from: beginLine.upperBound)
        for (index, start) in starts.enumerated() {
            let headerRange = line(in: bytes, from: start + marker.count)
            let contentStart = min(headerRange.upperBound + 1, bytes.count)
            // The newline before the next marker belongs to the marker, not to this content.
            let contentEnd = index + 1 < starts.count ? starts[index + 1] - 1 : bytes.count
            let sectionHeader = String(decoding: bytes[headerRange], as: UTF8.self)
            if sectionHeader == "end" {
                collected.sawEnd = true
                break
            }
            collected.add(header: sectionHeader, content: bytes[contentStart..<max(contentStart, contentEnd)])
        }
        guard collected.sawEnd else {
            throw .malformed(source, reason: "the output stops before its end marker: the command was cut off (connection lost, or killed)")
        }
        return RemoteOutput(files: HostFiles(contents: collected.contents, failures: collected.failures),
                            mounts: collected.mounts, outputs: collected.outputs, exitStatuses: collected.exitStatuses)
    }

    /// The sections gathered so far.
    private struct Collector {
        var contents: [String: String] = [:]
        var failures: [String: String] = [:]
        var mounts: [String: MountStatus] = [:]
        var outputs: [String: String] = [:]
        var exitStatuses: [String: Int] = [:]
        var sawEnd = false

        mutating func add(header: String, content: ArraySlice<UInt8>) {
            let kind = header.prefix { $0 != " " }
            let argument = header.dropFirst(kind.count).trimmingCharacters(in: .whitespaces)
            switch kind {
            case "file" where isPath(argument):
                if contents[argument] == nil, failures[argument] == nil {
                    contents[argument] = String(decoding: content, as: UTF8.self)
                }
            case "unreadable" where isPath(argument):
                contents[argument] = nil   // `cat` started, then failed
                let reason = String(decoding: content.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                failures[argument] = reason.isEmpty ? "unreadable on the remote machine" : reason
            case "procs":
                addProcesses(content)
            case "values":
                addValues(content)
            case "statfs":
                addMounts(content)
            case "output" where !argument.isEmpty:
                if outputs[argument] == nil { outputs[argument] = String(decoding: content, as: UTF8.self) }
            case "exit":
                let columns = argument.fields
                if columns.count == 2, let status = Int(columns[1]) { exitStatuses[String(columns[0])] = status }
            default:
                break   // an unknown kind from a newer script, or a damaged header: skipped
            }
        }

        /// `/proc/[pid]/stat` lines become the files `/proc/<pid>/stat`. A process may put a newline
        /// in its name and so split its line: the fragments fail to parse and are skipped later, and
        /// when a fragment claims a pid that has a line of its own, the longer text (the real line) wins.
        private mutating func addProcesses(_ content: ArraySlice<UInt8>) {
            for line in content.split(separator: UInt8(ascii: "\n")) {
                let digits = line.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
                guard !digits.isEmpty, digits.count <= 10, line.dropFirst(digits.count).first == UInt8(ascii: " "),
                      let pid = Int32(String(decoding: digits, as: UTF8.self)) else { continue }
                let path = "/proc/\(pid)/stat"
                let text = String(decoding: line, as: UTF8.self) + "\n"
                if let existing = contents[path], existing.utf8.count >= text.utf8.count { continue }
                contents[path] = text
            }
        }

        /// `path<TAB>value` lines become one-line files; a bare path is a file that could not be read.
        private mutating func addValues(_ content: ArraySlice<UInt8>) {
            for line in content.split(separator: UInt8(ascii: "\n")) {
                if let tab = line.firstIndex(of: UInt8(ascii: "\t")) {
                    let path = String(decoding: line[..<tab], as: UTF8.self)
                    guard isPath(path), contents[path] == nil else { continue }
                    contents[path] = String(decoding: line[(tab + 1)...], as: UTF8.self) + "\n"
                } else {
                    let path = String(decoding: line, as: UTF8.self)
                    guard isPath(path), contents[path] == nil else { continue }
                    failures[path] = "could not be read on the remote machine"
                }
            }
        }

        /// `status mountpoint blocksize blocks free available` lines.
        private mutating func addMounts(_ content: ArraySlice<UInt8>) {
            for line in String(decoding: content, as: UTF8.self).nonEmptyLines {
                let columns = line.fields
                guard columns.count >= 2, let status = Int(columns[0]) else { continue }
                let mountPoint = MountEntry.unescape(columns[1])
                guard mounts[mountPoint] == nil else { continue }
                let numbers = columns.dropFirst(2).compactMap { UInt64($0) }
                if status == 0, columns.count == 6, numbers.count == 4 {
                    mounts[mountPoint] = .measured(blockSize: numbers[0], blocks: numbers[1], free: numbers[2], available: numbers[3])
                } else if status == 124 || status == 137 {
                    mounts[mountPoint] = .timedOut
                } else {
                    mounts[mountPoint] = .failed(status: status)
                }
            }
        }
    }

    /// The sizes of `host`'s real filesystems, as `HostSampler` measures them with `statvfs`: a mount
    /// that failed or reported no blocks is left out, one that timed out is an issue.
    func filesystems(_ host: HostRoot, issues: inout [HostMetricsError]) -> [FilesystemUsage] {
        let real: [MountEntry]
        do {
            real = try MountEntry.realFilesystems(of: host, mountTables: ["proc/1/mounts", "proc/self/mounts", "proc/mounts"])
        } catch {
            issues.append(error)
            return []
        }
        let usages = real.compactMap { mount -> FilesystemUsage? in
            switch mounts[mount.mountPoint] {
            case .measured(let blockSize, let blocks, let free, let available):
                return FilesystemUsage(mount, blockSize: blockSize, blocks: blocks, freeBlocks: free, availableBlocks: available)
            case .timedOut:
                issues.append(.timedOut("statvfs \(mount.mountPoint)", after: Double(RemoteCollection.statfsTimeoutSeconds)))
                return nil
            case .failed, nil:
                return nil
            }
        }
        if mounts.values.contains(.failed(status: 127)) {
            issues.append(.commandFailed("stat -f", reason: "not found on the remote machine, so no filesystem sizes: install coreutils or busybox"))
        }
        return usages
    }

    /// The GPUs `nvidia-smi` reported, as `GPUProbe.probe()` would: none when it is not installed,
    /// an issue when it failed, timed out or printed something unexpected.
    func gpus(issues: inout [HostMetricsError]) -> [GPUInfo] {
        guard let printed = outputs["nvidia-smi"] else { return [] }
        let status = exitStatuses["nvidia-smi"]
        switch status {
        case 0:
            do { return try GPUInfo.parse(printed) } catch { issues.append(error) }
        case 124, 137:
            issues.append(.timedOut("nvidia-smi", after: Double(RemoteCollection.nvidiaSMITimeoutSeconds)))
        default:
            let how = status.map { "exit status \($0)" } ?? "no exit status"
            let message = printed.trimmingCharacters(in: .whitespacesAndNewlines)
            issues.append(.commandFailed("nvidia-smi", reason: message.isEmpty ? how : "\(how): \(message.prefix(500))"))
        }
        return []
    }

    /// Bytes per memory page on the remote machine (`KernelPageSize: 4 kB`), when it said.
    var pageSize: Int? {
        guard let columns = outputs["pagesize"]?.fields, columns.count == 2,
              let amount = Int(columns[0]), amount > 0, amount <= 1 << 20 else { return nil }
        switch columns[1].trimmingCharacters(in: .whitespacesAndNewlines).lowercased() {
        case "kb": return amount * 1024
        case "b": return amount
        default: return nil
        }
    }

    /// `uname -nrm` of the remote machine.
    var systemName: SystemName? {
        outputs["uname"].flatMap(SystemName.parse)
    }

    private static func isNonce(_ text: String) -> Bool {
        (8...64).contains(text.utf8.count)
            && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || $0 == 0x2D }
    }

    private static func isPath(_ text: String) -> Bool {
        text.hasPrefix("/") && !text.contains("\n")
    }

    /// The positions where `pattern` starts a line (at `from`, or right after a newline), in order.
    private static func lineStarts(of pattern: [UInt8], in bytes: [UInt8], from: Int) -> [Int] {
        var starts: [Int] = []
        var position = min(max(from, 0), bytes.count)
        while position < bytes.count {
            if position == 0 || bytes[position - 1] == UInt8(ascii: "\n"),
               position + pattern.count <= bytes.count,
               bytes[position..<(position + pattern.count)].elementsEqual(pattern) {
                starts.append(position)
            }
            guard let newline = bytes[position...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            position = newline + 1
        }
        return starts
    }

    /// The range of the line that starts at `start`, without its newline.
    private static func line(in bytes: [UInt8], from start: Int) -> Range<Int> {
        let start = min(start, bytes.count)
        let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
        return start..<end
    }
}
