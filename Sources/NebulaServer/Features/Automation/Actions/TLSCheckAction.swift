import Foundation
import NebulaAgent
import NebulaCore

/// `tls_check`: how many days the certificate a TLS server presents has left. Params: `host`,
/// `port` (443), `min_days` (14): fails when fewer days are left. Reads the certificate with
/// `openssl` (run without a shell).
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
        let timeout = Duration.seconds(max(5, min(Int(context.timeout.seconds), 60)))
        let session = try await CommandRunner.run(["openssl", "s_client", "-connect", "\(host):\(port)", "-servername", host], timeout: timeout)
        guard let start = session.output.range(of: "-----BEGIN CERTIFICATE-----"),
              let end = session.output.range(of: "-----END CERTIFICATE-----", range: start.upperBound..<session.output.endIndex) else {
            throw ActionFailure("\(host):\(port) presented no certificate: \(session.output.suffix(300))")
        }
        let pem = String(session.output[start.lowerBound..<end.upperBound]) + "\n"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nebula-tls-\(UUID().uuidString).pem")
        try Data(pem.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let dates = try await CommandRunner.run(["openssl", "x509", "-noout", "-enddate", "-subject", "-in", file.path], timeout: .seconds(10))
        guard let line = dates.output.split(separator: "\n").first(where: { $0.hasPrefix("notAfter=") }) else {
            throw ActionFailure("could not read the certificate's expiry: \(dates.output.prefix(300))")
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "MMM d HH:mm:ss yyyy zzz"
        let text = line.dropFirst("notAfter=".count).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        guard let expiry = formatter.date(from: text) else { throw ActionFailure("could not read the certificate's expiry '\(text)'") }
        let daysLeft = Int(floor(expiry.timeIntervalSinceNow / 86400))
        let subject = dates.output.split(separator: "\n").first(where: { $0.hasPrefix("subject") }).map(String.init) ?? ""
        await context.log("\(host):\(port) certificate expires \(text) (\(daysLeft) days left)")
        let output: TemplateValue = ["host": .string(host), "port": .number(Double(port)), "days_left": .number(Double(daysLeft)),
                                     "expires_at": .string(ISO8601DateFormatter().string(from: expiry)), "subject": .string(subject)]
        guard daysLeft >= minDays else {
            throw ActionFailureWithOutput(description: "the certificate of \(host):\(port) has \(daysLeft) days left (min_days: \(minDays))", output: output)
        }
        return output
    }
}
