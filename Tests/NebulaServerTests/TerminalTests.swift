import Foundation
import NebulaAgent
import NebulaCore
@testable import NebulaServer
import Testing
import WebSocketKit

@Suite struct TerminalTests {


    /// Types commands into a terminal and checks size, TERM, UTF-8, resizing and the end of the shell.
    func exercise(_ terminal: TerminalClient) async throws {
        // act: the size and terminal type the shell sees; UTF-8 output built from octal escapes,
        // so the typed command's echo cannot satisfy the check.
        try await terminal.type("stty size; echo \"term=$TERM\"; printf 'h\\303\\251llo \\342\\234\\223\\n'\r")
        let initial = try await terminal.waitFor("24 80")
        let term = try await terminal.waitFor("term=xterm-256color")
        let utf8 = try await terminal.waitFor("héllo ✓")
        try await terminal.resize(columns: 120, rows: 40)
        try await terminal.type("stty size\r")
        let resized = try await terminal.waitFor("40 120")
        try await terminal.type("exit 0\r")
        let ended = try await terminal.waitUntil { terminal.controls.contains { $0.contains("\"exit\"") } }
        // verify
        #expect(initial, "the PTY starts at the size the browser asked for: \(terminal.output.suffix(300))")
        #expect(term)
        #expect(utf8, "UTF-8 output arrives intact")
        #expect(resized, "a resize reaches the PTY")
        #expect(ended, "the end of the shell is reported")
        #expect(terminal.controls.last?.contains("status 0") == true, "\(terminal.controls)")
    }

    @Test(arguments: TestDatabase.all)
    func aTerminalOnTheLocalNodeRunsAShellInAPTYAndIsAudited(_ database: TestDatabase) async throws {
        try await withApp(database, configure: { $0.measuresLocalHost = true }) { app in
            // setup
            let token = try await app.token(role: .operator)
            let node = try await app.localServer(token: token)
            // act
            let terminal = try await TerminalClient.connect(baseURL: app.baseURL, serverID: node.id, token: token)
            try await exercise(terminal)
            await terminal.close()
            // verify
            let closed = try await waitUntil { try await !app.auditEntries(action: "terminal.close").isEmpty }
            #expect(closed, "the end of the session is audited")
            let opened = try await app.auditEntries(action: "terminal.open")
            #expect(opened.count == 1 && opened.first?.outcome == .success && opened.first?.target == "server:\(node.name)")
            #expect(try await app.auditEntries(action: "terminal.close").first?.detail?.contains("status 0") == true)
        }
    }

    @Test(arguments: TestDatabase.all)
    func aTerminalOnAnAgentNodeIsRelayedOverTheAgentsWebSocket(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let (server, joinToken) = try await app.agentServer(token: token, name: "shell-node")
            let running = try await app.startAgent(for: server.id, joinToken: joinToken)
            defer { running.cancel() }
            // act
            let terminal = try await TerminalClient.connect(baseURL: app.baseURL, serverID: server.id, token: token)
            try await exercise(terminal)
            // verify
            #expect(try await app.auditEntries(action: "terminal.open").first?.outcome == .success)
        }
    }

    @Test(arguments: TestDatabase.all)
    func terminalsAreRefusedToViewersOtherSitesPlainHTTPAndOfflineNodes(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let viewer = try await app.token(role: .viewer)
            let operatorToken = try await app.token(role: .operator)
            let offline = try await app.request(.POST, "/api/v1/servers", token: operatorToken, json: #"{"name":"dark","connection":"agent"}"#).decode(ServerDTO.self)
            func refusal(_ token: String, headers: [(String, String)] = []) async -> UInt? {
                do {
                    let terminal = try await TerminalClient.connect(baseURL: app.baseURL, serverID: offline.id, token: token, headers: headers)
                    await terminal.close()
                    return nil
                } catch WebSocketClient.Error.invalidResponseStatus(let head) {
                    return head.status.code
                } catch {
                    return 0
                }
            }
            // act
            let asViewer = await refusal(viewer)
            let crossSite = await refusal(operatorToken, headers: [("Origin", "https://evil.example")])
            let offlineNode = await refusal(operatorToken, headers: [("Origin", app.baseURL)])
            let plain = try await app.request(.GET, "/api/v1/servers/\(offline.id)/terminal", token: operatorToken)
            // verify
            #expect(asViewer == 403)
            #expect(crossSite == 403)
            #expect(offlineNode == 409, "an agent node that is not connected cannot open a terminal")
            #expect(plain.status == .badRequest && plain.errorCode == "websocket_required")
            #expect(try await app.auditEntries(action: "terminal.open").map(\.outcome).sorted { $0.rawValue < $1.rawValue } == [.denied, .failure])
        }
    }
}
