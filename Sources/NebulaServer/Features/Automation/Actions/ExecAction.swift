import Foundation
import NebulaAgent
import NebulaCore
import NebulaSSH

/// `exec`: an allow-listed command (``AllowedCommand``) on a server: in-process on the control
/// plane's machine, through the agent on agent nodes (which checks the list again), over SSH on
/// agentless servers (every word single-quoted; `sudo -n` for a non-root user when it changes the
/// system). Params: `command` (a line or a list of words), `server`. Fails on a non-zero exit.
struct ExecAction: RunbookAction {
    let name = "exec"
    let summary = "Run an allow-listed command on a server (agent, local or SSH)"
    let parameters = [ActionParameter(name: "command", kind: .any, required: true),
                      ActionParameter(name: "server", kind: .string)]

    func isIdempotent(_ params: [String: TemplateValue]) -> Bool {
        guard let argv = Self.argv(params["command"]), let command = try? AllowedCommand(argv: argv) else { return false }
        return !command.changesSystem
    }

    func validate(_ params: [String: TemplateValue]) -> [(parameter: String, message: String)] {
        if params["command"]?.isTemplated == true { return [] }
        guard let argv = Self.argv(params["command"]) else { return [("command", "must be a command line or a list of words")] }
        do {
            _ = try AllowedCommand(argv: argv)
            return []
        } catch {
            return [("command", error.description)]
        }
    }

    static func argv(_ value: TemplateValue?) -> [String]? {
        switch value {
        case .list(let words)?: words.compactMap(\.textValue)
        case .string(let line)?: line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        default: nil
        }
    }

    func run(_ params: [String: TemplateValue], _ context: ActionContext) async throws -> TemplateValue {
        guard let argv = Self.argv(params["command"]) else { throw ActionFailure("command must be a command line or a list of words") }
        let command: AllowedCommand
        do {
            command = try AllowedCommand(argv: argv)
        } catch {
            throw ActionFailure(error.description)
        }
        let server = try await context.environment.server(params.text("server"))
        let serverID = try server.requireID()
        let seconds = max(1, min(Int(context.timeout.seconds), 3600))
        await context.log("$ \(command) (on \(server.name))")
        let result: ExecResult
        switch server.connection {
        case .local:
            result = try await command.run(timeout: .seconds(seconds))
        case .agent:
            let reply = try await context.environment.connections.call(serverID, AgentRequest(action: .exec, exec: ExecCall(argv: command.argv, timeoutSeconds: seconds)),
                                                                        timeout: .seconds(seconds + 5))
            guard reply.ok, let answer = reply.exec else {
                throw ActionFailure(reply.exec == nil && reply.ok ? "the agent on \(server.name) does not support exec; update it" : reply.message)
            }
            result = answer
        case .ssh:
            let line = (command.changesSystem && (server.username ?? "root") != "root" ? "sudo -n " : "") + ShellWord.join(command.argv)
            let answer = try await context.environment.ssh.exec(line, on: server)
            result = ExecResult(status: answer.exitStatus, output: String((answer.stdoutText + answer.stderrText).prefix(64 << 10)))
        }
        let output = context.mask(result.output)
        for line in output.split(separator: "\n", omittingEmptySubsequences: false).suffix(50) where !line.isEmpty { await context.log("  " + line) }
        let value: TemplateValue = ["exit_status": .number(Double(result.status)), "output": .string(String(output.prefix(16 << 10))),
                                    "server": .string(server.name), "command": .string(command.description)]
        guard result.status == 0 else {
            throw ActionFailureWithOutput(description: "`\(command)` on \(server.name) exited with status \(result.status)", output: value)
        }
        return value
    }

    func dryRun(_ params: [String: TemplateValue], _ context: ActionContext) async -> String {
        "would run `\(Self.argv(params["command"])?.joined(separator: " ") ?? "?")` on \(params.text("server") ?? "the local server")"
    }
}
