import DockerEngine
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The compose runner (`Engine`, against the real dockerd) and the process runner under it.
enum ComposeRunnerTests {}

extension ComposeRunnerTests {
    /// The compose runner against the real dockerd and whichever compose this machine has.
    @Suite(.enabled(if: TestDocker.enabled, TestDocker.skipMessage))
    struct Engine {
        /// A busybox httpd on a port from `.env`, with a named volume.
        static func webProject(image: String = TestDocker.image.rawValue) -> String {
            """
            services:
              web:
                image: \(image)
                command: ["httpd", "-f", "-p", "80", "-h", "/www"]
                ports:
                  - "127.0.0.1:${WEB_PORT}:80"
                volumes:
                  - data:/data
            volumes:
              data: {}
            """
        }

        func runner() throws -> DefaultComposeRunner {
            let docker = try TestDocker.client()
            return DefaultComposeRunner(endpoint: docker.endpoint, docker: docker)
        }

        @Test func findsComposeOnce() async throws {
            // setup
            let compose = try runner()
            // act
            let first = try await compose.tool()
            let second = try await compose.tool()
            // verify
            #expect(first == second)
            #expect(first.majorVersion >= 1)
            #expect(FileManager.default.isExecutableFile(atPath: first.command[0]))
        }

        @Test func upServesHTTPThenDownKeepsOrRemovesTheVolume() async throws {
            // setup
            let compose = try runner()
            let docker = try TestDocker.client()
            let project = TestProjects.projectName("web")
            let directory = try TestProjects.directory("compose")
            let port = try TestProjects.freePort()
            try TestProjects.write(directory + "/docker-compose.yml", Self.webProject())
            try TestProjects.write(directory + "/.env", "WEB_PORT=\(port)\n")
            defer { TestProjects.remove(directory) }
            do {
                // act: up
                let upLines = TestProjects.Lines()
                let clock = ContinuousClock()
                let upStarted = clock.now
                let up = try await compose.up(project: project, directory: directory, pull: false, timeout: .seconds(120), output: upLines.callback)
                let upTook = clock.now - upStarted
                let containers = try await compose.containers(project: project)
                let answer = await TestProjects.httpGet(port: port)
                // verify
                #expect(up.operation == "up")
                #expect(!upLines.all.isEmpty, "compose's output reached the callback")
                #expect(containers.count == 1)
                #expect(containers.first?.service == "web")
                #expect(containers.first?.state == .running)
                #expect(containers.first?.container.ports.contains { $0.publicPort == port } == true)
                #expect(answer?.status == 200)
                #expect(answer?.body.contains("ok") == true)
                print("compose up took \(upTook)")

                // act: down, keeping the volume (httpd ignores SIGTERM as PID 1: a 1 s stop timeout)
                let downStarted = clock.now
                _ = try await compose.down(project: project, directory: directory, removeVolumes: false, stopTimeout: .seconds(1),
                                           timeout: .seconds(60), output: { _ in })
                let downTook = clock.now - downStarted
                let afterDown = try await compose.containers(project: project)
                let volumesAfterDown = try await docker.volumes().map(\.name)
                // verify
                #expect(afterDown.isEmpty)
                #expect(volumesAfterDown.contains("\(project)_data"))
                print("compose down took \(downTook)")

                // act: down -v
                _ = try await compose.down(project: project, directory: directory, removeVolumes: true, stopTimeout: .seconds(1),
                                           timeout: .seconds(60), output: { _ in })
                let volumesAfterRemoval = try await docker.volumes().map(\.name)
                // verify
                #expect(!volumesAfterRemoval.contains("\(project)_data"))
            } catch {
                _ = try? await compose.down(project: project, directory: directory, removeVolumes: true, stopTimeout: .seconds(1),
                                            timeout: .seconds(60), output: { _ in })
                throw error
            }
        }

        @Test func anUnknownImageFailsWithComposesOutput() async throws {
            // setup
            let compose = try runner()
            let project = TestProjects.projectName("missing")
            let directory = try TestProjects.directory("compose")
            try TestProjects.write(directory + "/docker-compose.yml", """
                services:
                  web:
                    image: nebula-test/no-such-image:1
                """)
            defer { TestProjects.remove(directory) }
            // act
            var caught: ComposeError?
            do {
                _ = try await compose.up(project: project, directory: directory, pull: false, timeout: .seconds(120), output: { _ in })
            } catch {
                caught = error
            }
            _ = try? await compose.down(project: project, directory: directory, removeVolumes: true, stopTimeout: .seconds(1),
                                        timeout: .seconds(60), output: { _ in })
            // verify
            let error = try #require(caught)
            #expect(error.code == .failed)
            #expect(error.exitStatus != 0)
            #expect(!error.output.isEmpty)
            #expect(error.output.joined(separator: "\n").contains("no-such-image"))
            #expect(error.description.contains("no-such-image"))
        }

        @Test func configValidatesTheFile() async throws {
            // setup
            let compose = try runner()
            let directory = try TestProjects.directory("compose")
            defer { TestProjects.remove(directory) }
            try TestProjects.write(directory + "/docker-compose.yml", Self.webProject())
            try TestProjects.write(directory + "/.env", "WEB_PORT=8080\n")
            // act
            let valid = try await compose.config(project: "nt-config", directory: directory, timeout: .seconds(60))
            try TestProjects.write(directory + "/docker-compose.yml", "services:\n  web:\n    imagex: foo\n")
            let unknownKey = try await compose.config(project: "nt-config", directory: directory, timeout: .seconds(60))
            try TestProjects.write(directory + "/docker-compose.yml", "services:\n  web: [\n")
            let badYAML = try await compose.config(project: "nt-config", directory: directory, timeout: .seconds(60))
            // verify
            #expect(valid == .valid(services: ["web"], warnings: []))
            guard case .invalid(let why) = unknownKey else { Issue.record("an unknown key passed: \(unknownKey)"); return }
            #expect(why.contains("imagex"))
            #expect(!badYAML.isValid)
        }

        @Test func refusesBadNamesAndMissingFiles() async throws {
            // setup
            let compose = try runner()
            let empty = try TestProjects.directory("compose")
            defer { TestProjects.remove(empty) }
            // act
            var badName: ComposeError?
            var noFile: ComposeError?
            do { _ = try await compose.up(project: "../etc", directory: empty, pull: false, timeout: .seconds(5), output: { _ in }) } catch { badName = error }
            do { _ = try await compose.up(project: "nt-empty", directory: empty, pull: false, timeout: .seconds(5), output: { _ in }) } catch { noFile = error }
            // verify
            #expect(badName?.code == .invalidProjectName)
            #expect(noFile?.code == .missingComposeFile)
            #expect(ComposeProject.isValidName("app_1-b"))
            #expect(!ComposeProject.isValidName("App"))
            #expect(!ComposeProject.isValidName("-app"))
            #expect(!ComposeProject.isValidName(String(repeating: "a", count: 64)))
        }
    }

    /// The process runner under the compose runner, image builder and git checkout (no engine needed).
    struct ChildProcesses {
        func sh(_ script: String, timeout: Duration = .seconds(60)) -> ChildProcess {
            ChildProcess(executable: "/bin/sh", arguments: ["-c", script], environment: ["PATH": "/usr/bin:/bin"], timeout: timeout)
        }

        @Test func streamsLinesInOrderAndReportsTheStatus() async throws {
            // setup
            let lines = TestProjects.Lines()
            // act
            let outcome = try await sh("printf 'one\\ntwo\\r\\nthree'; echo err >&2; exit 3").run(output: lines.callback)
            // verify
            #expect(lines.all == ["one", "two", "three", "err"] || lines.all == ["one", "two", "threeerr"])
            #expect(outcome.status == 3)
            #expect(!outcome.succeeded)
            #expect(outcome.tail == lines.all)
        }

        @Test func argumentsAreNeverInterpreted() async throws {
            // setup
            let lines = TestProjects.Lines()
            // A generous limit: the point is what echo prints, not how fast a loaded machine runs it.
            let child = ChildProcess(executable: "/bin/echo", arguments: ["$HOME", "; rm -rf /", "`id`"], environment: [:], timeout: .seconds(60))
            // act
            let outcome = try await child.run(output: lines.callback)
            // verify
            #expect(outcome.succeeded)
            #expect(lines.all == ["$HOME ; rm -rf / `id`"])
        }

        @Test func aTimeoutEndsTheWholeProcessGroup() async throws {
            // setup: a child that starts a grandchild and ignores SIGTERM itself
            let marker = "nebula-child-\(UUID().uuidString.prefix(8))"
            var child = sh("trap '' TERM; sleep 30 & echo started; wait; echo \(marker)", timeout: .milliseconds(500))
            child.killGrace = .milliseconds(500)
            let clock = ContinuousClock()
            let started = clock.now
            // act
            let outcome = try await child.run()
            let took = clock.now - started
            // verify
            #expect(outcome.timedOut)
            #expect(outcome.signal == SIGKILL)
            // Well before the 30 s the grandchild would sleep, even on a loaded machine.
            #expect(took < .seconds(20))
            #expect(outcome.tail == ["started"])
        }

        @Test func cancellingTheTaskStopsTheProgram() async throws {
            // setup
            let lines = TestProjects.Lines()
            let child = sh("echo begin; exec sleep 30", timeout: .seconds(60))
            let clock = ContinuousClock()
            let started = clock.now
            // act
            let task = Task { try await child.run(output: lines.callback) }
            while lines.all.isEmpty && clock.now - started < .seconds(5) { try await Task.sleep(for: .milliseconds(20)) }
            let cancelledAt = clock.now
            task.cancel()
            let outcome = try await task.value
            // verify
            #expect(outcome.cancelled)
            #expect(outcome.signal == SIGTERM)
            // Well before the 30 s the program would run, even on a loaded machine.
            #expect(clock.now - cancelledAt < .seconds(20))
        }

        @Test func aMissingProgramIsALaunchFailure() async throws {
            // act
            var failure: ChildProcess.LaunchFailure?
            do {
                _ = try await ChildProcess(executable: "/nonexistent/tool", arguments: [], environment: [:], timeout: .seconds(5)).run()
            } catch {
                failure = error
            }
            // verify
            #expect(failure?.reason.isEmpty == false)
            #expect(ChildProcess.find("sh", path: "/usr/bin:/bin") != nil)
            #expect(ChildProcess.find("no-such-tool-nebula", path: "/usr/bin:/bin") == nil)
        }

        @Test func linesOfTurnsACallbackIntoAStream() async throws {
            // setup
            let child = sh("echo a; echo b; exit 1")
            // act
            var seen: [String] = []
            var thrown: (any Error)?
            do {
                for try await line in ChildProcess.lines(of: { output in
                    let outcome = try await child.run(output: output)
                    if !outcome.succeeded { throw TestProjectError("status \(outcome.status)") }
                    return outcome.status
                }) {
                    seen.append(line)
                }
            } catch {
                thrown = error
            }
            // verify
            #expect(seen == ["a", "b"])
            #expect((thrown as? TestProjectError)?.description == "status 1")
        }
    }
}
