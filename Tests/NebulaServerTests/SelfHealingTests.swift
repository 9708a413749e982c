import DockerEngine
import Foundation
import NebulaAgent
import NebulaCore
@testable import NebulaServer
import Testing

/// The promise of issue 5 end to end, against the real dockerd: a container becomes unhealthy,
/// its container check fails into an incident, the incident triggers a runbook that restarts the
/// container, the check passes again and the incident resolves, with every step on its timeline.
@Suite struct SelfHealingTests {
    struct Incidents: Decodable { var items: [IncidentDTO] }

    /// A busybox container whose health check fails while /tmp/broken exists; starting removes it,
    /// and it stops at once on SIGTERM (a shell as PID 1 ignores it unless trapped).
    static func startFlakyContainer(named name: String) async throws {
        let script = "trap 'exit 0' TERM; rm -f /tmp/broken; while true; do sleep 1; done"
        _ = try await docker(["run", "-d", "--name", name, "--network", "none", "--label", "nebula.test=\(name)",
                              "--health-cmd", "test ! -f /tmp/broken", "--health-interval", "1s", "--health-retries", "1",
                              TestEngine.image.rawValue, "sh", "-c", script])
    }

    static func docker(_ arguments: [String]) async throws -> String {
        let result = try await CommandRunner.run(["docker", "-H", TestEngine.host ?? ""] + arguments, timeout: .seconds(60))
        guard result.status == 0 else { throw TestEngineError.cli("docker", result.output) }
        return result.output
    }

    static func health(of name: String) async throws -> String {
        try await docker(["inspect", "-f", "{{.State.Health.Status}}", name]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test(.enabled(if: TestEngine.enabled), arguments: TestDatabase.all)
    func anUnhealthyContainerIsRestartedAndItsIncidentResolves(_ database: TestDatabase) async throws {
        let name = "nebula-heal-\(UUID().uuidString.prefix(8).lowercased())"
        try await Self.startFlakyContainer(named: name)
        defer { Task { _ = try? await Self.docker(["rm", "-f", name]) } }
        try await withApp(database) { app in
            // setup: a container check (run by hand here, not by the scheduler) and the remediation runbook
            let token = try await app.token(role: .operator)
            let local = try await app.services.fleet.ensureLocalServer(hostName: "nas")
            #expect(try await waitUntil(timeout: .seconds(60)) { try await Self.health(of: name) == "healthy" })
            let created = try await app.request(.POST, "/api/v1/checks", token: token, json: """
            {"name":"web-health","kind":"container","serverId":"\(local)","container":"\(name)","enabled":false,
             "timeoutSeconds":30,"failuresBeforeIncident":2,"successesBeforeResolve":1,"severity":"critical"}
            """)
            try #require(created.status == .created, "\(created.body)")
            let check = try created.decode(CheckDTO.self)
            _ = try await app.importRunbook("""
            name: restart-unhealthy-service
            trigger:
              type: alert
              check: web-health
              condition: "service.health == 'unhealthy' && service.restart_count < 3"
            steps:
              - name: Attempt restart
                action: docker
                params: { command: restart, container: "{{ service.container_id }}", timeout: 5 }
              - name: Check health
                action: health_check
                params: { check: web-health }
                retries: { attempts: 20, backoff: { initial: 1s, factor: 1, max: 2s } }
            """, token: token)
            // act: the container turns unhealthy; two failed runs of the check open the incident
            _ = try await Self.docker(["exec", name, "sh", "-c", ": > /tmp/broken"])
            #expect(try await waitUntil(timeout: .seconds(60)) { try await Self.health(of: name) == "unhealthy" })
            for _ in 0..<2 { _ = try await app.request(.POST, "/api/v1/checks/\(check.id)/run", token: token) }
            // verify: a run restarted it, the check passed, the incident resolved on its own
            var incident: IncidentDTO?
            #expect(try await waitUntil(timeout: .seconds(120)) {
                let list = try await app.request(.GET, "/api/v1/incidents", token: token).decode(Incidents.self).items
                incident = list.first { $0.checkId == check.id }
                return incident?.status == .resolved
            }, "incident: \(String(describing: incident))")
            let opened = try #require(incident)
            // The check passing (inside the run's health_check step) resolves the incident; the run ends just after.
            var run: RunSummaryDTO?
            #expect(try await waitUntil(timeout: .seconds(60)) {
                run = try await app.services.automation.runs(runbook: nil, by: .system()).first { $0.incidentId == opened.id }
                return run?.status == .succeeded
            }, "run: \(String(describing: run))")
            #expect(opened.resolvedBy == "monitoring", "resolved by the check passing, not by a person")
            #expect(try await Self.health(of: name) == "healthy")
            let detail = try await app.request(.GET, "/api/v1/incidents/\(opened.id)", token: token).decode(IncidentDTO.self)
            let timeline = (detail.timeline ?? []).map { "\($0.kind): \($0.message)" }.joined(separator: "\n")
            #expect(timeline.contains("restart-unhealthy-service"), "\(timeline)")
            #expect(try await app.auditEntries().contains { $0.action == "container.restart" && ($0.target ?? "").contains(name) })
        }
    }
}
