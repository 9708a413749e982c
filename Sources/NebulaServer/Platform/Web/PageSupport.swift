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

func formatBytes(_ count: Int) -> String {
    ByteCountFormatter.string(fromByteCount: Int64(count), countStyle: .binary)
}
