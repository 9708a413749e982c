import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A network card's hardware address, as Wake-on-LAN needs it.
public struct MACAddress: Sendable, Hashable, Codable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Accepts `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` and `aabb.ccdd.eeff`, in any case.
    public init?(_ text: String) {
        let hex = text.trimmingCharacters(in: .whitespaces).filter { $0 != ":" && $0 != "-" && $0 != "." }
        guard hex.count == 12, hex.allSatisfy(\.isHexDigit) else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.bytes = bytes
    }

    /// Lower-case, colon-separated.
    public var description: String { bytes.map { String(format: "%02x", $0) }.joined(separator: ":") }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let address = MACAddress(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a MAC address: \(text)"))
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Where and how to send a Wake-on-LAN magic packet.
public struct WakeTarget: Sendable, Codable, Equatable {
    public var mac: MACAddress
    /// An IPv4 broadcast address of the sleeping machine's LAN (default 255.255.255.255).
    public var broadcast: String
    /// UDP port; 9 (discard) by convention, sometimes 7.
    public var port: Int

    public init(mac: MACAddress, broadcast: String = "255.255.255.255", port: Int = 9) {
        self.mac = mac
        self.broadcast = broadcast
        self.port = port
    }
}

/// Why a magic packet could not be sent.
public struct WakeOnLANError: Error, Equatable, CustomStringConvertible {
    public let description: String
}

/// Sends Wake-on-LAN magic packets: 6 bytes of 0xFF, then the MAC address 16 times, in one UDP
/// datagram to a broadcast address.
public enum WakeOnLAN {
    public static func magicPacket(for mac: MACAddress) -> [UInt8] {
        [UInt8](repeating: 0xFF, count: 6) + Array([[UInt8]](repeating: mac.bytes, count: 16).joined())
    }

    /// Sends the packet once (a sleeping card needs only one; callers may repeat for lossy Wi-Fi).
    public static func send(_ target: WakeTarget) throws(WakeOnLANError) {
        var address = in_addr()
        guard inet_pton(AF_INET, target.broadcast, &address) == 1 else {
            throw WakeOnLANError(description: "\(target.broadcast) is not an IPv4 address (use the LAN's broadcast address, such as 192.168.1.255)")
        }
        guard (1...65535).contains(target.port) else { throw WakeOnLANError(description: "the Wake-on-LAN port is 1–65535 (usually 9)") }
        #if canImport(Darwin)
        let descriptor = socket(AF_INET, SOCK_DGRAM, 0)
        #else
        let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        #endif
        guard descriptor >= 0 else { throw WakeOnLANError(description: "cannot open a UDP socket: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var enabled: Int32 = 1
        guard setsockopt(descriptor, SOL_SOCKET, SO_BROADCAST, &enabled, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw WakeOnLANError(description: "cannot enable broadcast on the UDP socket: \(String(cString: strerror(errno)))")
        }
        var destination = sockaddr_in()
        destination.sin_family = sa_family_t(AF_INET)
        destination.sin_port = in_port_t(UInt16(target.port).bigEndian)
        destination.sin_addr = address
        let packet = magicPacket(for: target.mac)
        let sent = packet.withUnsafeBytes { bytes in
            withUnsafePointer(to: &destination) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(descriptor, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard sent == packet.count else {
            throw WakeOnLANError(description: "sending to \(target.broadcast):\(target.port) failed: \(String(cString: strerror(errno)))")
        }
    }
}
