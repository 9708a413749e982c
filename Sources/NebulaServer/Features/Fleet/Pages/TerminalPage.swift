import Foundation
import NebulaCore
import Plot
import Vapor

/// `/servers/{id}/terminal`: xterm.js over the terminal WebSocket.
enum TerminalPage {
    static func register(_ page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void) {
        page(.GET, ["servers", ":id", "terminal"], .operator, nil, show)
    }

    /// xterm.js is bundled from Debian's node-xterm by `make` (never committed).
    static var bundled: Bool {
        guard let directory = Bundle.module.resourceURL?.appendingPathComponent("Public/xterm") else { return false }
        return FileManager.default.fileExists(atPath: directory.appendingPathComponent("xterm.js").path)
    }

    @Sendable static func show(req: Request) async throws -> Response {
        let server = try await req.nebula.fleet.find(try req.uuidParameter(), by: try req.actor)
        let context = try await req.pageContext("Terminal · \(server.name)", active: .servers)
        return req.render(Layout.page(context, actions: Div {
            Span("connecting").class("badge tone-blue").attribute(named: "data-terminal-status", value: "true")
            LinkButton("Back to \(server.name)", href: "/servers/\(server.id)", style: .secondary)
        }.class("button-row")) {
            if bundled {
                tag("link", [.value("rel", "stylesheet"), .value("href", "/xterm/xterm.css")])
                Div {}
                    .class("terminal-screen")
                    .attribute(named: "data-terminal-server", escaping: server.id.uuidString)
                    .attribute(named: "aria-label", escaping: "Terminal on \(server.name)")
                Paragraph("The session is audited. Closing this page hangs up the shell.").class("muted")
                tag("script", [.value("src", "/xterm/xterm.js")])
                tag("script", [.value("src", "/xterm/xterm-fit.js")])
                tag("script", [.value("type", "module"), .value("src", "/js/terminal.js")])
            } else {
                EmptyState(title: "The terminal is not installed",
                           message: "xterm.js is bundled at build time from Debian's node-xterm with esbuild: run make run (or make vendor) and restart.")
            }
        })
    }
}
