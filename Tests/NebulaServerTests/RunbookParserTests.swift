import Foundation
import NebulaCore
@testable import NebulaServer
import Testing

/// The runbook format: every bad input the issue names is refused with its place.
@Suite struct RunbookParserTests {
    static let issueExample = """
    name: restart-unhealthy-service
    trigger:
      type: alert
      condition: "service.health == 'unhealthy' && service.restart_count < 3"
    steps:
      - name: Attempt restart
        action: docker
        params: { command: restart, container: "{{ service.container_id }}" }
      - name: Check health
        action: health_check
        params: { url: "{{ service.health_endpoint }}", expected_status: 200 }
      - name: Notify on failure
        action: notify
        condition: "{{ steps.check_health.failed }}"
        params: { channel: discord, message: "Failed to recover {{ service.name }}" }
    escalation: { after_failures: 3, notify: [discord, email] }
    """

    func problems(_ yaml: String) -> [RunbookProblem] {
        switch RunbookParser.check(yaml: yaml) {
        case .success: []
        case .failure(let found): found.problems
        }
    }

    @Test func theIssueExampleParsesWithSnakeCaseStepIDs() throws {
        // act
        let document = try RunbookParser.parse(yaml: Self.issueExample)
        // verify
        #expect(document.steps.map(\.id) == ["attempt_restart", "check_health", "notify_on_failure"])
        #expect(document.trigger.type == .alert)
        #expect(document.escalation == RunbookDocument.Escalation(afterFailures: 3, notify: ["discord", "email"]))
        #expect(document.steps[1].params["expected_status"] == .number(200))
    }

    @Test func invalidYAMLIsReportedWithItsLineAndColumn() {
        // act
        let found = problems("name: broken\nsteps:\n  - name: a\n    action: [log\n")
        // verify
        #expect(found.count == 1)
        #expect(found.first?.line != nil && found.first?.column != nil)
        #expect(found.first?.message.contains("invalid YAML") == true)
    }

    @Test func anUnknownActionIsReportedAtTheStep() {
        // act
        let found = problems("name: unknown-action\nsteps:\n  - name: Go\n    action: teleport\n")
        // verify
        let problem = found.first { $0.path == "steps[0].action" }
        #expect(problem?.line == 4 && problem?.column == 13, "\(found)")
        #expect(problem?.message.contains("unknown action 'teleport'") == true)
        #expect(problem?.message.contains("docker") == true, "lists the actions")
    }

    @Test func unknownParametersAndMissingRequiredOnesAreReported() {
        // act
        let found = problems("""
        name: bad-params
        steps:
          - name: Restart
            action: docker
            params: { command: reboot, contianer: web }
        """)
        // verify
        #expect(found.contains { $0.path == "steps[0].params.contianer" && $0.message.contains("no parameter 'contianer'") })
        #expect(found.contains { $0.path == "steps[0].params.command" && $0.message.contains("restart, start, stop") })
        #expect(found.contains { $0.path == "steps[0].params.container" && $0.message.contains("required") })
    }

    @Test func aTemplateReferringToAMissingValueIsReported() {
        // act
        let found = problems("""
        name: missing-values
        inputs:
          - name: host
        steps:
          - name: Say
            action: log
            params:
              message: "{{ inputs.hots }} and {{ steps.later.ok }}"
          - name: Later
            action: log
            params: { message: "{{ nothing.here }} {{ vars.unset }}" }
        """)
        // verify
        let typo = found.first { $0.message.contains("inputs.hots") }
        #expect(typo?.path == "steps[0].params.message")
        #expect(typo?.line == 8 && typo?.column == 20, "points at the placeholder: \(String(describing: typo))")
        #expect(found.contains { $0.message.contains("runs after this one") })
        #expect(found.contains { $0.path == "steps[1].params.message" && $0.message.contains("'nothing'") })
        #expect(found.contains { $0.message.contains("no set step sets the variable 'unset'") })
    }

    @Test func aTemplateThatDoesNotParseIsReported() {
        // act
        let found = problems("name: bad-template\nsteps:\n  - name: Say\n    action: log\n    params: { message: \"hi {{ inputs.x\" }\n")
        // verify
        #expect(found.contains { $0.path == "steps[0].params.message" && $0.message.contains("template:") && $0.line == 5 })
    }

    @Test func aConditionThatDoesNotParseIsReportedWithItsColumn() {
        // act
        let found = problems("""
        name: bad-condition
        trigger:
          type: alert
          condition: "service.health == == 'x'"
        steps:
          - name: Say
            action: log
            condition: "steps.nope.ok &&"
            params: { message: hi }
        """)
        // verify
        let trigger = found.first { $0.path == "trigger.condition" }
        #expect(trigger?.line == 4)
        #expect(trigger?.message.hasPrefix("condition:") == true)
        #expect((trigger?.column ?? 0) > 14, "the column is inside the condition: \(String(describing: trigger))")
        #expect(found.contains { $0.path == "steps[0].condition" })
    }

    @Test func aCronExpressionOutOfRangeIsReported() {
        // act
        let found = problems("""
        name: bad-cron
        trigger:
          type: schedule
          cron: "0 25 * * *"
          timezone: Mars/Olympus
        steps:
          - { name: Say, action: log, params: { message: hi } }
        """)
        // verify
        let cron = found.first { $0.path == "trigger.cron" }
        #expect(cron?.line == 4 && cron?.message.contains("cron") == true, "\(found)")
        #expect(found.contains { $0.path == "trigger.timezone" && $0.message.contains("time zone") })
    }

    @Test func execCommandsOutsideTheAllowListAreRefused() {
        // act
        let found = problems("""
        name: bad-exec
        steps:
          - { name: Wipe, action: exec, params: { command: "rm -rf /" } }
          - { name: Sneaky, action: exec, params: { command: "find / -type f -mtime +1 -delete" } }
          - { name: Fine, action: exec, params: { command: "systemctl restart nginx.service" } }
        """)
        // verify
        #expect(found.contains { $0.path == "steps[0].params.command" && $0.message.contains("not on the allow-list") })
        #expect(found.contains { $0.path == "steps[1].params.command" && $0.message.contains("/tmp") })
        #expect(!found.contains { $0.path.hasPrefix("steps[2]") })
    }

    @Test func workflowCyclesAndUnknownNeedsAreReported() {
        // act
        let found = problems("""
        kind: workflow
        name: bad-dag
        steps:
          - { name: A, action: log, needs: [c], params: { message: a } }
          - { name: B, action: log, needs: [a], params: { message: b } }
          - { name: C, action: log, needs: [b], params: { message: c } }
          - { name: D, action: log, needs: [ghost], params: { message: d } }
        """)
        // verify
        #expect(found.contains { $0.message.contains("cycle") && $0.message.contains("→") })
        #expect(found.contains { $0.path == "steps[3].needs[0]" && $0.message.contains("unknown step 'ghost'") && $0.line == 7 })
    }

    @Test func everyProblemIsReportedNotJustTheFirst() {
        // act
        let found = problems("name: X\nbogus: 1\nsteps:\n  - name: a\n    action: nope\n")
        // verify
        #expect(found.count >= 3)
        #expect(found.contains { $0.path == "name" })
        #expect(found.contains { $0.path == "bogus" })
    }

    @Test func theShippedLibraryHasAtLeastFifteenValidRunbooksInThreeTiers() {
        // act
        let library = RunbookLibrary.load()
        // verify
        #expect(library.problems.isEmpty, "\(library.problems)")
        #expect(library.entries.count >= 15)
        let tiers = Dictionary(grouping: library.entries, by: { $0.document.tier })
        for tier in RunbookDocument.Tier.allCases { #expect((tiers[tier]?.count ?? 0) >= 3, "tier \(tier.rawValue)") }
        #expect(Set(library.entries.map(\.document.name)).count == library.entries.count, "unique names")
    }
}
