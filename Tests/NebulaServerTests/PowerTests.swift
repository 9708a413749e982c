import Foundation
import NebulaAgent
import NebulaCore
@testable import NebulaServer
import Testing

@Suite struct PowerTests {
    struct Outcome: Decodable { var ok: Bool; var message: String }


    /// A script that records its arguments in `marker` and exits with `status`.
    func recordingCommand(in directory: URL, name: String, status: Int = 0) throws -> (command: String, marker: URL) {
        let marker = directory.appendingPathComponent("\(name).ran")
        let script = directory.appendingPathComponent(name)
        try "#!/bin/sh\necho \"$@\" > '\(marker.path)'\necho '\(name) says hello'\nexit \(status)\n".write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        return (script.path + " --now", marker)
    }

    @Test(arguments: TestDatabase.all)
    func rebootNeedsTheNameTypedBackRunsTheConfiguredCommandAndIsAudited(_ database: TestDatabase) async throws {
        let scripts = FileManager.default.temporaryDirectory.appendingPathComponent("nebula-power-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scripts, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scripts) }
        let reboot = try recordingCommand(in: scripts, name: "fake-reboot")
        let shutdown = try recordingCommand(in: scripts, name: "fake-poweroff", status: 3)
        try await withApp(database, configure: {
            $0.measuresLocalHost = true
            $0.powerCommands = PowerCommands.from(environment: ["NEBULA_REBOOT_COMMAND": reboot.command, "NEBULA_SHUTDOWN_COMMAND": shutdown.command])
        }) { app in
            // setup
            let operatorToken = try await app.token(role: .operator)
            let viewerToken = try await app.token(role: .viewer)
            let node = try await app.localServer(token: viewerToken)
            let offline = try await app.request(.POST, "/api/v1/servers", token: operatorToken, json: #"{"name":"sleepy","connection":"agent"}"#).decode(ServerDTO.self)
            let path = "/api/v1/servers/\(node.id)/power"
            // act
            let unconfirmed = try await app.request(.POST, path, token: operatorToken, json: #"{"action":"reboot"}"#)
            let wrongName = try await app.request(.POST, path, token: operatorToken, json: #"{"action":"reboot","confirm":"other"}"#)
            let asViewer = try await app.request(.POST, path, token: viewerToken, json: #"{"action":"reboot","confirm":"\#(node.name)"}"#)
            let unknownAction = try await app.request(.POST, path, token: operatorToken, json: #"{"action":"explode","confirm":"\#(node.name)"}"#)
            let ranBeforeConfirmation = FileManager.default.fileExists(atPath: reboot.marker.path)
            let rebooted = try await app.request(.POST, path, token: operatorToken, json: #"{"action":"reboot","confirm":"\#(node.name)"}"#)
            let failed = try await app.request(.POST, path, token: operatorToken, json: #"{"action":"shutdown","confirm":"\#(node.name)"}"#)
            let notConnected = try await app.request(.POST, "/api/v1/servers/\(offline.id)/power", token: operatorToken,
                                                     json: #"{"action":"reboot","confirm":"sleepy"}"#)
            // verify
            #expect(unconfirmed.status == .unprocessableEntity && unconfirmed.errorCode == "confirmation_required")
            #expect(wrongName.errorCode == "confirmation_required")
            #expect(asViewer.status == .forbidden)
            #expect(unknownAction.status == .badRequest)
            #expect(!ranBeforeConfirmation, "nothing ran before the name was typed back")
            #expect(rebooted.status == .ok)
            #expect(try rebooted.decode(Outcome.self).ok)
            #expect(try String(contentsOf: reboot.marker, encoding: .utf8) == "--now\n", "the configured command ran with its arguments")
            let failure = try failed.decode(Outcome.self)
            #expect(!failure.ok && failure.message.contains("status 3") && failure.message.contains("fake-poweroff says hello"))
            #expect(notConnected.status == .conflict && notConnected.errorCode == "node_offline")
            let audit = try await app.auditEntries(action: "server.power")
            #expect(audit.filter { $0.outcome == .success }.count == 1)
            #expect(audit.filter { $0.outcome == .failure }.count == 4, "two unconfirmed, the failed shutdown, the offline node")
            #expect(audit.filter { $0.outcome == .denied }.count == 1)
            let events = try await app.services.events.recent(types: [.serverPowerAction], before: nil, limit: 10).items
            #expect(events.count == 1)
        }
    }

    @Test(arguments: TestDatabase.all)
    func wakeOnLANSendsTheMagicPacketFromTheControlPlaneOrThroughARealAgent(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let listener = try UDPListener()
            let sleeper = try await app.request(.POST, "/api/v1/servers", token: token, json: #"{"name":"sleeper","connection":"agent"}"#).decode(ServerDTO.self)
            let noMAC = try await app.request(.POST, "/api/v1/servers/\(sleeper.id)/wake", token: token)
            let badMAC = try await app.request(.PATCH, "/api/v1/servers/\(sleeper.id)", token: token, json: #"{"macAddress":"52:54:00:zz:00:01"}"#)
            let badBroadcast = try await app.request(.PATCH, "/api/v1/servers/\(sleeper.id)", token: token, json: #"{"macAddress":"52:54:00:ab:cd:ef","wakeBroadcast":"300.1.1.1"}"#)
            let configured = try await app.request(.PATCH, "/api/v1/servers/\(sleeper.id)", token: token,
                                                   json: #"{"macAddress":"52-54-00-AB-CD-EF","wakeBroadcast":"127.0.0.1","wakePort":\#(listener.port)}"#)
            let (relay, joinToken) = try await app.agentServer(token: token, name: "relay")
            let agent = try CLI.spawn(["agent", "--server", app.baseURL, "--token", joinToken,
                                       "--credential-file", app.directory.appendingPathComponent("relay/credential.json").path, "--interval", "1"])
            defer { agent.terminate() }
            let connected = try await waitUntil { await (try app.services).agents.connections.isConnected(relay.id) }
            // act
            let direct = try await app.request(.POST, "/api/v1/servers/\(sleeper.id)/wake", token: token)
            let directPacket = await listener.receive()
            let relayed = try await app.request(.POST, "/api/v1/servers/\(sleeper.id)/wake", token: token, json: #"{"via":"\#(relay.id)"}"#)
            let relayedPacket = await listener.receive()
            await CLI.stop(agent)
            // verify
            #expect(noMAC.status == .unprocessableEntity && noMAC.errorCode == "no_mac_address")
            #expect(badMAC.errorCode == "invalid_mac_address")
            #expect(badBroadcast.errorCode == "invalid_broadcast")
            #expect(try configured.decode(ServerDTO.self).macAddress == "52:54:00:ab:cd:ef")
            #expect(connected, "the relay agent connected")
            let magic = [UInt8](repeating: 0xFF, count: 6) + Array([[UInt8]](repeating: [0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF], count: 16).joined())
            #expect(try direct.decode(Outcome.self).ok)
            #expect(directPacket == magic, "6 × 0xFF then the MAC 16 times, from the control plane")
            let relayOutcome = try relayed.decode(Outcome.self)
            #expect(relayOutcome.ok && relayOutcome.message.hasSuffix("from relay"), "\(relayOutcome.message)")
            #expect(relayedPacket == magic, "the agent process sent the same packet")
            #expect(try await app.auditEntries(action: "server.wake").filter { $0.outcome == .success }.count == 2)
        }
    }
}
