import Foundation

/// TCP or UDP.
public enum TransportProtocol: String, Sendable, Hashable, Codable, CaseIterable {
    case tcp, udp
}

/// A port something on this machine listens on (TCP) or is bound to (UDP), on any address.
public struct ListeningPort: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var port: Int
    public var transport: TransportProtocol

    public init(port: Int, transport: TransportProtocol) {
        self.port = port
        self.transport = transport
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.port, lhs.transport.rawValue) < (rhs.port, rhs.transport.rawValue)
    }

    /// `8080/tcp`.
    public var description: String { "\(port)/\(transport.rawValue)" }
}

/// The ports this machine listens on, from the kernel's socket tables (`/proc/net/tcp`, `tcp6`,
/// `udp`, `udp6`), so an install can pick a free host port and say which app holds a taken one.
///
/// The tables are those of the agent's network namespace: run the agent in the host's namespace
/// (as a systemd service or a container with `network_mode: host`) to see every published port.
public enum ListeningPorts {
    /// `0A` in `/proc/net/tcp*`: a listening socket.
    static let tcpListen = "0A"
    /// `07` in `/proc/net/udp*`: a bound, unconnected socket (one that receives datagrams).
    static let udpBound = "07"

    /// Every listening TCP port and bound UDP port. Reads are quick (`/proc` is in memory).
    public static func current(procRoot: String = "/proc") throws(ListeningPortsError) -> Set<ListeningPort> {
        var ports: Set<ListeningPort> = []
        var readAny = false
        var lastFailure = ""
        for (file, transport) in [("tcp", TransportProtocol.tcp), ("tcp6", .tcp), ("udp", .udp), ("udp6", .udp)] {
            let path = "\(procRoot)/net/\(file)"
            // A missing tcp6/udp6 means IPv6 is off, which is fine as long as something was readable.
            guard let data = readWhole(path) else {
                lastFailure = "cannot read \(path)"
                continue
            }
            readAny = true
            ports.formUnion(parse(String(decoding: data, as: UTF8.self), transport: transport))
        }
        guard readAny else { throw .unreadable(lastFailure) }
        return ports
    }

    /// A /proc file read to its end. They report a size of 0 and are generated a page per read,
    /// so one read of a busy machine's table would miss most of its sockets.
    static func readWhole(_ path: String) -> Data? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var data = Data()
        while let chunk = try? handle.read(upToCount: 1 << 16), !chunk.isEmpty {
            data.append(chunk)
        }
        return data
    }

    /// The ports in one table's text (`/proc/net/tcp` format); lines that do not parse are skipped.
    public static func parse(_ table: String, transport: TransportProtocol) -> Set<ListeningPort> {
        let wanted = transport == .tcp ? tcpListen : udpBound
        var ports: Set<ListeningPort> = []
        for line in table.split(whereSeparator: \.isNewline) {
            // "  0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 ..."
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 4, fields[0].hasSuffix(":") else { continue }   // skips the header row
            guard fields[3].uppercased() == wanted else { continue }
            guard let colon = fields[1].lastIndex(of: ":"),
                  let port = Int(fields[1][fields[1].index(after: colon)...], radix: 16),
                  (1...65535).contains(port) else { continue }
            ports.insert(ListeningPort(port: port, transport: transport))
        }
        return ports
    }
}

/// Why the listening ports could not be read.
public enum ListeningPortsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// None of `/proc/net/{tcp,tcp6,udp,udp6}` could be read: is `/proc` mounted (and not hidden from the agent)?
    case unreadable(String)

    public var description: String {
        switch self {
        case .unreadable(let reason):
            return "The listening ports are unknown: \(reason). Is /proc mounted and visible to the agent?"
        }
    }
}
