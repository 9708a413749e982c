import Foundation
import NebulaCore

/// `tls_check`: how many days the certificate a TLS server presents has left. Params: `host`,
/// `port` (443), `min_days` (14): fails when fewer days are left. Uses the monitoring feature's
/// TLS probe, so a runbook and a TLS check read certificates the same way.
struct TLSCheckAction: RunbookAction {
    let name = "tls_check"
    let summary = "Days left on a TLS certificate (fails under min_days)"
    let parameters = [ActionParameter(name: "host", kind: .string, required: true), ActionParameter(name: "port", kind: .integer),
                      ActionParameter(name: "min_days", kind: .integer)]

    func isIdempotent(_ params: [String: TemplateValue]) -> Bool { true }

    func run(_ params: [String: TemplateValue], _ context: ActionContext) async throws -> TemplateValue {
        let host = try params.requiredText("host")
        guard host.count <= 253, host.first != "-", host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-_:".contains($0)) }) else {
            throw ActionFailure("'\(host.prefix(60))' is not a host name")
        }
        let port = try params.integer("port") ?? 443
        guard (1...65535).contains(port) else { throw ActionFailure("port must be 1–65535") }
        let minDays = try params.integer("min_days") ?? 14
        let probe = TLSProbe(target: HostPort(host: host, port: port), warnDays: minDays,
                             timeout: .seconds(max(5, min(Int(context.timeout.seconds), 60))))
        let expiry: Date
        do {
            expiry = try await probe.expiry()
        } catch {
            throw ActionFailure("\(host):\(port): \(TCPProbe.describe(error))")
        }
        let daysLeft = Int(floor(expiry.timeIntervalSinceNow / 86_400))
        let expiresAt = ISO8601DateFormatter().string(from: expiry)
        await context.log("\(host):\(port) certificate expires \(expiresAt) (\(daysLeft) days left)")
        let output: TemplateValue = ["host": .string(host), "port": .number(Double(port)), "days_left": .number(Double(daysLeft)),
                                     "expires_at": .string(expiresAt)]
        guard daysLeft >= minDays else {
            throw ActionFailureWithOutput(description: "the certificate of \(host):\(port) has \(daysLeft) days left (min_days: \(minDays))", output: output)
        }
        return output
    }
}
