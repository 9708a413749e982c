import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One line of `/proc/self/mounts` (or `/proc/mounts`), with octal escapes (`\040` for a space) undone.
public struct MountEntry: Codable, Sendable, Equatable {
    /// What is mounted: `/dev/nvme0n1p2`, `tank/media` (ZFS), `nas:/export` (NFS), `tmpfs`.
    public var device: String
    /// Where it is mounted.
    public var mountPoint: String
    /// Filesystem type: `ext4`, `btrfs`, `zfs`, `nfs4`, `tmpfs`, `fuse.sshfs`…
    public var type: String
    /// Mount options (`rw`, `relatime`, `subvol=/@home`…).
    public var options: [String]

    public init(device: String, mountPoint: String, type: String, options: [String] = []) {
        self.device = device
        self.mountPoint = mountPoint
        self.type = type
        self.options = options
    }

    /// Filesystem types that hold no user data (kernel interfaces, RAM-backed scratch space,
    /// container layers and read-only images); `realFilesystems` drops them.
    public static let pseudoFilesystemTypes: Set<String> = [
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs",
        "efivarfs", "fusectl", "fuse.gvfsd-fuse", "fuse.lxcfs", "fuse.portal", "fuse.snapfuse", "hugetlbfs",
        "mqueue", "nfsd", "nsfs", "overlay", "proc", "pstore", "ramfs", "rpc_pipefs", "securityfs",
        "selinuxfs", "squashfs", "sysfs", "tmpfs", "tracefs",
    ]

    /// Parses a mount table (`device mountpoint type options dump pass` per line).
    /// - Throws: `.malformed` when a line has fewer than four fields.
    public static func parse(_ text: String) throws(HostMetricsError) -> [MountEntry] {
        var entries: [MountEntry] = []
        for line in text.nonEmptyLines {
            let columns = line.fields
            guard columns.count >= 4 else {
                throw .malformed("/proc/self/mounts", reason: "expected at least 4 fields in: \(line)")
            }
            entries.append(MountEntry(device: unescape(columns[0]), mountPoint: unescape(columns[1]),
                                      type: unescape(columns[2]),
                                      options: columns[3].split(separator: ",").map { unescape($0) }))
        }
        return entries
    }

    /// The mounts that hold real data: pseudo/virtual types (`pseudoFilesystemTypes`) dropped, and
    /// each device kept once — at its first mount point — so bind mounts and btrfs subvolumes of
    /// one device are not counted twice. Network filesystems (nfs, cifs, sshfs) are kept.
    public static func realFilesystems(_ entries: [MountEntry]) -> [MountEntry] {
        var seenDevices: Set<String> = []
        return entries.filter { entry in
            guard !pseudoFilesystemTypes.contains(entry.type) else { return false }
            return seenDevices.insert(entry.device).inserted
        }
    }

    /// The real filesystems (see `realFilesystems`) of the first readable mount table of `candidates`.
    /// - Throws: the error of the last candidate when none can be read, `.malformed` when it cannot be parsed.
    static func realFilesystems(of host: HostRoot, mountTables candidates: [String]) throws(HostMetricsError) -> [MountEntry] {
        realFilesystems(try parse(host.readFirst(candidates)))
    }

    /// Undoes the kernel's octal escapes in mount table fields: `\040` space, `\011` tab,
    /// `\012` newline, `\134` backslash.
    static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        let utf8 = Array(field.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "\\"), index + 3 < utf8.count,
               let value = octalByte(utf8[(index + 1)...(index + 3)]) {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func octalByte(_ digits: ArraySlice<UInt8>) -> UInt8? {
        guard digits.count == 3 else { return nil }
        var value = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "7") else { return nil }
            value = value * 8 + Int(digit - UInt8(ascii: "0"))
        }
        return value <= 255 ? UInt8(value) : nil
    }
}

/// Space on one mounted filesystem, from `statvfs`, in bytes.
public struct FilesystemUsage: Codable, Sendable, Equatable {
    /// What is mounted, as in the mount table.
    public var device: String
    /// Where it is mounted (unescaped).
    public var mountPoint: String
    /// Filesystem type.
    public var type: String
    /// Size of the filesystem.
    public var totalBytes: UInt64
    /// Space in use (`total − free`, including what is reserved for root).
    public var usedBytes: UInt64
    /// Space an ordinary user can still write (`f_bavail`), as `df` reports it.
    public var availableBytes: UInt64

    public init(device: String, mountPoint: String, type: String, totalBytes: UInt64, usedBytes: UInt64, availableBytes: UInt64) {
        self.device = device
        self.mountPoint = mountPoint
        self.type = type
        self.totalBytes = totalBytes
        self.usedBytes = usedBytes
        self.availableBytes = availableBytes
    }

    /// `used / (used + available)`, the percentage `df` shows (reserved blocks left out).
    public var usedFraction: Double {
        let usable = usedBytes &+ availableBytes
        return usable == 0 ? 0 : Double(usedBytes) / Double(usable)
    }

    /// Measures `mount` with `statvfs` at `root` + its mount point (so a sampler whose root is `/host`
    /// measures the host's filesystems). Returns nil when the mount point cannot be stat'ed (it
    /// vanished, permission denied, a dead network mount answering with an error) or reports no blocks.
    ///
    /// This call blocks for as long as the kernel does: a stale NFS mount can hang it. `HostSampler`
    /// therefore runs it off the concurrency pool with a deadline.
    public static func measure(_ mount: MountEntry, root: String = "/") -> FilesystemUsage? {
        var info = statvfs()
        let path = HostRoot(root).path(mount.mountPoint)
        guard statvfs(path, &info) == 0 else { return nil }
        return FilesystemUsage(mount, blockSize: UInt64(info.f_frsize != 0 ? info.f_frsize : info.f_bsize),
                               blocks: UInt64(info.f_blocks), freeBlocks: UInt64(info.f_bfree),
                               availableBlocks: UInt64(info.f_bavail))
    }

    /// The usage of `mount` from `statfs` block counts (`f_frsize`, `f_blocks`, `f_bfree`, `f_bavail`);
    /// nil when the filesystem reports no blocks.
    init?(_ mount: MountEntry, blockSize: UInt64, blocks: UInt64, freeBlocks: UInt64, availableBlocks: UInt64) {
        guard blocks > 0, blockSize > 0 else { return nil }
        self.init(device: mount.device, mountPoint: mount.mountPoint, type: mount.type,
                  totalBytes: blocks &* blockSize,
                  usedBytes: blocks.delta(since: freeBlocks) &* blockSize,
                  availableBytes: availableBlocks &* blockSize)
    }
}
