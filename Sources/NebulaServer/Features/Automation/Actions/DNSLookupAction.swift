import Foundation
import NebulaCore

/// `dns_lookup`: resolves a host name with the system resolver. Params: `host`, `expected` (an
/// address that must be among the answers). Fails when the name does not resolve or lacks it.
struct DNSLookupAction: RunbookAction {
    let name = "dns_lookup"
    let summary = "Resolve a host name (optionally expecting an address)"
    let parameters = [ActionParameter(name: "host", kind: .string, required: true), ActionParameter(name: "expected", kind: .string)]

    func isIdempotent(_ params: [String: TemplateValue]) -> Bool { true }

    func run(_ params: [String: TemplateValue], _ context: ActionContext) async throws -> TemplateValue {
        let host = try params.requiredText("host")
        guard host.count <= 253, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-_:".contains($0)) }) else {
            throw ActionFailure("'\(host.prefix(60))' is not a host name")
        }
        let addresses = try await Self.resolve(host)
        await context.log("\(host) → \(addresses.isEmpty ? "nothing" : addresses.joined(separator: ", "))")
        let output: TemplateValue = ["host": .string(host), "addresses": .list(addresses.map { .string($0) })]
        if let expected = params.text("expected"), !addresses.contains(expected) {
            throw ActionFailureWithOutput(description: "\(host) does not resolve to \(expected) (got \(addresses.joined(separator: ", ")))", output: output)
        }
        return output
    }

    /// getaddrinfo on a thread of its own (it blocks).
    static func resolve(_ host: String) async throws -> [String] {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var result: UnsafeMutablePointer<addrinfo>?
                let status = getaddrinfo(host, nil, &hints, &result)
                guard status == 0 else {
                    continuation.resume(throwing: ActionFailure("\(host) does not resolve: \(String(cString: gai_strerror(status)))"))
                    return
                }
                var addresses: [String] = []
                var cursor = result
                while let entry = cursor {
                    var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                    if getnameinfo(entry.pointee.ai_addr, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                        let address = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                        if !addresses.contains(address) { addresses.append(address) }
                    }
                    cursor = entry.pointee.ai_next
                }
                freeaddrinfo(result)
                continuation.resume(returning: addresses)
            }
        }
    }
}
