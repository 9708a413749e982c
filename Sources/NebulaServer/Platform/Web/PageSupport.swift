import Foundation
import NebulaCore
import Plot
import Vapor

/// Shared plumbing for server-rendered pages: the layout context, HTML responses and flash messages.
extension Request {
    /// The layout context for a signed-in page.
    func pageContext(_ title: String, active: NavItem?) async throws -> PageContext {
        let actor = try actor
        let instanceName = await instanceName()
        return PageContext(title: title, active: active, username: actor.username, role: actor.role,
                           csrfToken: CSRF.token(for: self), flash: takeFlash(), instanceName: instanceName)
    }

    /// The layout context for /login and /setup.
    func bareContext(_ title: String, flash: Flash? = nil) async -> PageContext {
        PageContext(title: title, csrfToken: CSRF.token(for: self), flash: flash ?? takeFlash(), instanceName: await instanceName())
    }

    private func instanceName() async -> String {
        (try? await nebula.settings.current().instanceName) ?? "Nebula Command"
    }

    private struct FlashTakenKey: StorageKey { typealias Value = Bool }

    /// The flash message set by the previous response, if any (read once).
    func takeFlash() -> Flash? {
        guard storage[FlashTakenKey.self] != true, let raw = cookies[FlashCookie.name]?.string else { return nil }
        storage[FlashTakenKey.self] = true
        return FlashCookie.decode(raw)
    }

    /// A whole page. Clears a shown flash and sets the CSRF cookie if this browser has none yet.
    func render(_ html: HTML, status: HTTPResponseStatus = .ok) -> Response {
        var headers = HTTPHeaders()
        headers.contentType = .html
        headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        let response = Response(status: status, headers: headers, body: .init(string: html.render()))
        if storage[FlashTakenKey.self] == true {
            response.cookies[FlashCookie.name] = HTTPCookies.Value(string: "", expires: Date(timeIntervalSince1970: 0), maxAge: 0, path: "/", isHTTPOnly: true, sameSite: .lax)
        }
        return response
    }

    /// Redirects (303, so the browser follows with GET) and shows `flash` on the next page.
    func redirect(to path: String, flash: Flash?) -> Response {
        let response = Response(status: .seeOther)
        response.headers.replaceOrAdd(name: .location, value: path)
        if let flash {
            response.cookies[FlashCookie.name] = HTTPCookies.Value(string: FlashCookie.encode(flash), maxAge: 60, path: "/", isHTTPOnly: true, sameSite: .lax)
        }
        return response
    }

    /// A form field, trimmed; nil when absent or empty.
    func formField(_ name: String) -> String? {
        guard let value = try? content.get(String.self, at: name) else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// A form field exactly as typed (passwords, secret values).
    func rawFormField(_ name: String) -> String {
        (try? content.get(String.self, at: name)) ?? ""
    }
}

enum FlashCookie {
    static let name = "nebula_flash"

    static func encode(_ flash: Flash) -> String {
        flash.kind.rawValue + "." + Data(flash.message.prefix(300).utf8).base64EncodedString()
            .replacingOccurrences(of: "=", with: "")
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
    }

    static func decode(_ raw: String) -> Flash? {
        let parts = raw.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let kind = Flash.Kind(rawValue: String(parts[0])) else { return nil }
        var base64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64) else { return nil }
        return Flash(kind: kind, message: String(decoding: data, as: UTF8.self))
    }
}

/// Runs a form action; a refused or invalid action goes back to `page` with the reason shown.
func formAction(_ req: Request, backTo page: String, success: String, _ action: () async throws -> Void) async throws -> Response {
    do {
        try await action()
        return req.redirect(to: page, flash: Flash(kind: .success, message: success))
    } catch let error as NebulaError where error.status != .unauthorized {
        return req.redirect(to: page, flash: Flash(kind: .error, message: error.message))
    } catch let error as DecodingError {
        return req.redirect(to: page, flash: Flash(kind: .error, message: NebulaErrorMiddleware.explain(error)))
    }
}

/// A readable error page for browsers.
enum ErrorPage {
    static func render(status: HTTPResponseStatus, message: String) -> String {
        let context = PageContext(title: "\(status.code) \(status.reasonPhrase)")
        return Layout.bare(context) {
            Div {
                Paragraph(message)
                Paragraph { Link("Back to the dashboard", url: "/") }
            }.class("error-page")
        }.render()
    }
}

/// "29 bytes", "2 KB", "1.5 MB", "19.5 GB": binary units, KB whole, MB one decimal, GB and up two,
/// trailing zeros dropped. Written out by hand: the fleet page formats thousands of these, and
/// `ByteCountFormatter` / `String(format:)` are slow on Linux.
func formatBytes(_ count: Int) -> String {
    guard count >= 1024 else { return count == 1 ? "1 byte" : "\(count) bytes" }
    let units = ["KB", "MB", "GB", "TB", "PB"]
    var value = Double(count) / 1024
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return value.fixed(unit == 0 ? 0 : unit == 1 ? 1 : 2, trimmingZeros: true) + " " + units[unit]
}

extension Double {
    /// This number with `decimals` digits after the point ("3.80", "42"), rounded half away from
    /// zero; `trimmingZeros` drops trailing zeros ("19.50" → "19.5"). Non-finite numbers are "—".
    func fixed(_ decimals: Int, trimmingZeros: Bool = false) -> String {
        guard isFinite else { return "—" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(self) * scale).rounded()
        guard scaled < 9e15 else { return String(self) }
        let whole = Int(scaled / scale)
        var fraction = decimals > 0 ? String(Int(scaled) - whole * Int(scale)) : ""
        while fraction.count < decimals { fraction = "0" + fraction }
        if trimmingZeros { while fraction.hasSuffix("0") { fraction.removeLast() } }
        let sign = self < 0 && scaled > 0 ? "-" : ""
        return sign + String(whole) + (fraction.isEmpty ? "" : "." + fraction)
    }

    /// A 0…1 fraction as a whole percentage: "42%".
    var percent: String { (self * 100).fixed(0) + "%" }
}
