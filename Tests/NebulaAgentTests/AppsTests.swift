import DockerEngine
import Foundation
@testable import NebulaAgent
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The node-side pieces of app installs and git deploys.
enum AppsTests {}

extension AppsTests {
    // MARK: - AppDirectory

    struct AppDirectoryTests {
        /// Values that break naive quoting.
        static let trickyValues: [String: String] = [
            "SPACES": "with some spaces",
            "HASH": "not # a comment",
            "QUOTES": #"it's "quoted""#,
            "DOLLAR": "cost $5, $HOME and $$",
            "BACKSLASH": #"C:\path\n not a newline \" inside"#,
            "NEWLINE": "line one\nline two",
            "EMPTY": "",
            "PADDED": "  padded  ",
            "EQUALS": "a=b=c",
            "UNICODE": "héllo ✓",
        ]

        @Test func writesComposeAndA0600EnvFileAtomically() async throws {
            try await withTempTree { tree in
                // setup
                let apps = try AppDirectory(appsRoot: tree.path("apps"))
                // act
                let files = try apps.write(project: "blog", compose: "services: {}\n", environment: ["PORT": "8080", "PASSWORD": "s3cret"],
                                           dialect: .composeV1)
                // verify
                #expect(files.directory == tree.path("apps/blog"))
                #expect(tree.text("apps/blog/docker-compose.yml") == "services: {}\n")
                #expect(try Posix.statPath(files.envFile).mode == 0o600)
                #expect(try Posix.statPath(files.composeFile).mode == 0o644)
                #expect(tree.text("apps/blog/.env")?.contains("PASSWORD='s3cret'\n") == true)
                #expect(tree.names("apps/blog").sorted() == [".env", "docker-compose.yml"])

                // act: rewrite, the mode stays 0600 even when the old file had looser bits
                chmod(files.envFile, 0o644)
                try apps.write(project: "blog", compose: "services: {}\n", environment: ["PORT": "9090"], dialect: .composeV1)
                // verify
                #expect(try Posix.statPath(files.envFile).mode == 0o600)
                #expect(tree.text("apps/blog/.env")?.contains("PORT='9090'") == true)
                #expect(tree.text("apps/blog/.env")?.contains("PASSWORD") == false)
            }
        }

        /// Reads the file back with python-dotenv exactly as docker-compose 1.x does
        /// (`dotenv_values(path, encoding='utf-8-sig', interpolate=True)`).
        @Test(.enabled(if: AppDirectoryTests.composeV1DotenvAvailable, "docker-compose 1.x's python-dotenv is not installed"))
        func envValuesRoundTripThroughComposeV1sParser() async throws {
            try await withTempTree { tree in
                // setup
                let apps = try AppDirectory(appsRoot: tree.path("apps"))
                let files = try apps.write(project: "roundtrip", compose: "services: {}\n", environment: Self.trickyValues, dialect: .composeV1)
                // act
                let parsed = try await Self.pythonDotenv(files.envFile)
                // verify
                #expect(parsed == Self.trickyValues)
            }
        }

        @Test func v2QuotingEscapesDollarsAndV1RefusesBraces() throws {
            // act
            let v2 = try AppDirectory.envFileText(["A": "plain $X", "B": "it's $X", "C": "${Y}"], dialect: .composeV2)
            var v1Error: AppDirectoryError?
            do throws(AppDirectoryError) { _ = try AppDirectory.envFileText(["C": "${Y}"], dialect: .composeV1) } catch { v1Error = error }
            var trailingBackslash: AppDirectoryError?
            do throws(AppDirectoryError) { _ = try AppDirectory.envFileText(["T": #"ends in \"#], dialect: .composeV2) } catch { trailingBackslash = error }
            var badKey: AppDirectoryError?
            do throws(AppDirectoryError) { _ = try AppDirectory.envFileText(["1BAD": "x"], dialect: .composeV2) } catch { badKey = error }
            // verify: single quotes are literal in compose-go; double quotes need \$
            #expect(v2.contains("A='plain $X'\n"))
            #expect(v2.contains(#"B="it's \$X""#))
            #expect(v2.contains("C='${Y}'\n"))
            guard case .invalidVariable("C", _) = v1Error else { Issue.record("v1 accepted ${…}: \(String(describing: v1Error))"); return }
            guard case .invalidVariable("T", _) = trailingBackslash else { Issue.record("a trailing backslash was accepted"); return }
            guard case .invalidVariable("1BAD", _) = badKey else { Issue.record("bad key accepted"); return }
        }

        @Test func refusesBadNamesSymlinksAndTraversal() async throws {
            try await withTempTree { tree in
                // setup
                let apps = try AppDirectory(appsRoot: tree.path("apps"))
                try tree.mkdir("outside")
                try tree.write("outside/keep.txt", "keep")
                try tree.symlink("apps/linked", to: tree.path("outside"))
                // act
                var nameErrors: [AppDirectoryError] = []
                for name in ["../outside", "..", "Blog", "", "a/b", ".env", "-x", String(repeating: "a", count: 64)] {
                    do throws(AppDirectoryError) { try apps.write(project: name, compose: "x", environment: [:], dialect: .composeV2) } catch { nameErrors.append(error) }
                }
                var writeThroughLink: AppDirectoryError?
                do throws(AppDirectoryError) { try apps.write(project: "linked", compose: "x", environment: [:], dialect: .composeV2) } catch { writeThroughLink = error }
                var removeThroughLink: AppDirectoryError?
                do throws(AppDirectoryError) { try apps.remove(project: "linked") } catch { removeThroughLink = error }
                var removeTraversal: AppDirectoryError?
                do throws(AppDirectoryError) { try apps.remove(project: "../outside") } catch { removeTraversal = error }
                // verify
                #expect(nameErrors.count == 8)
                #expect(nameErrors.allSatisfy { if case .invalidProjectName = $0 { true } else { false } })
                #expect(writeThroughLink == .symlinkRefused(tree.path("apps/linked")))
                #expect(removeThroughLink == .symlinkRefused(tree.path("apps/linked")))
                #expect(removeTraversal == .invalidProjectName("../outside"))
                #expect(tree.names("outside") == ["keep.txt"])
            }
        }

        @Test func removeDeletesTheAppButNeverFollowsLinksInside() async throws {
            try await withTempTree { tree in
                // setup
                let apps = try AppDirectory(appsRoot: tree.path("apps"))
                try apps.write(project: "wiki", compose: "services: {}\n", environment: [:], dialect: .composeV2)
                try tree.mkdir("apps/wiki/data/deep")
                try tree.write("apps/wiki/data/deep/file", "x")
                try tree.mkdir("outside")
                try tree.write("outside/precious.txt", "keep")
                try tree.symlink("apps/wiki/data/link", to: tree.path("outside"))
                // act
                let removed = try apps.remove(project: "wiki")
                let again = try apps.remove(project: "wiki")
                // verify
                #expect(removed)
                #expect(!again)
                #expect(!tree.exists("apps/wiki"))
                #expect(tree.text("outside/precious.txt") == "keep")
            }
        }

        static var composeV1DotenvAvailable: Bool {
            FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")
                && FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/dotenv/main.py")
        }

        static func pythonDotenv(_ path: String) async throws -> [String: String] {
            let script = "import json,sys; from dotenv import dotenv_values; print(json.dumps(dotenv_values(sys.argv[1], encoding='utf-8-sig', interpolate=True)))"
            let child = ChildProcess(executable: "/usr/bin/python3", arguments: ["-c", script, path], environment: ["PATH": "/usr/bin:/bin"],
                                     timeout: .seconds(30))
            let lines = LinesBox()
            let outcome = try await child.run(output: lines.append)
            guard outcome.succeeded, let json = lines.all.last(where: { $0.hasPrefix("{") }) else {
                throw LoopbackError("python-dotenv failed: \(outcome.tail.joined(separator: "\n"))")
            }
            return try JSONDecoder().decode([String: String].self, from: Data(json.utf8))
        }
    }

    // MARK: - HealthProbe

    struct HealthProbeTests {
        @Test func passesForAnAnsweringServerAndAnOpenPort() async throws {
            // setup
            let server = try LoopbackServer { _ in LoopbackServer.http(200, "ok") }
            defer { server.stop() }
            let probe = HealthProbe(attemptTimeout: .seconds(2))
            // act
            let http = await probe.probe(.http(port: server.port, path: "/health"))
            let tcp = await probe.probe(.tcp(port: server.port))
            let redirect = try LoopbackServer { _ in LoopbackServer.http(302, headers: ["Location: /login"]) }
            defer { redirect.stop() }
            let redirected = await probe.probe(.http(port: redirect.port))
            // verify
            #expect(http == nil)
            #expect(tcp == nil)
            #expect(redirected == nil)
            #expect(server.received.contains { $0.hasPrefix("GET /health HTTP/1.1\r\n") })
        }

        @Test func failuresSayWhy() async throws {
            // setup
            let unavailable = try LoopbackServer { _ in LoopbackServer.http(503) }
            let silent = try LoopbackServer { _ in nil }
            defer { unavailable.stop(); silent.stop() }
            let closed = try ClosedPort()
            let closedPort = closed.port
            let probe = HealthProbe(attemptTimeout: .milliseconds(400))
            // act
            let refused = await probe.probe(.http(port: closedPort))
            let refusedTCP = await probe.probe(.tcp(port: closedPort))
            let status = await probe.probe(.http(port: unavailable.port))
            let wrongExpected = await probe.probe(.http(port: unavailable.port, expectStatus: 200))
            let clock = ContinuousClock()
            let started = clock.now
            let timedOut = await probe.probe(.http(port: silent.port))
            let took = clock.now - started
            // verify
            #expect(refused == "connection refused")
            #expect(refusedTCP == "connection refused")
            #expect(status == "HTTP 503")
            #expect(wrongExpected == "HTTP 503 (expected 200)")
            #expect(timedOut == "timed out")
            // The attempt gave up on its own deadline, not after a TCP timeout of minutes (room for a loaded machine).
            #expect(took < .seconds(15))
            withExtendedLifetime(closed) {}
        }

        @Test func waitsUntilHealthyOrReportsTheLastReasons() async throws {
            // setup: 503 for the first two requests, then 200
            let counter = LinesBox()
            let warmingUp = try LoopbackServer { request in
                guard request.hasPrefix("GET") else { return nil }   // the TCP check only connects
                counter.append("hit")
                return counter.all.count <= 2 ? LoopbackServer.http(503) : LoopbackServer.http(200)
            }
            defer { warmingUp.stop() }
            let closed = try ClosedPort()
            let closedPort = closed.port
            // Generous limits: on a loaded CI machine a round can take seconds; the counts are what matters.
            let probe = HealthProbe(attemptTimeout: .seconds(2))
            let rounds = LinesBox()
            // act
            let healthy = try await probe.waitUntilHealthy(checks: [.http(port: warmingUp.port), .tcp(port: warmingUp.port)],
                                                           interval: .milliseconds(50), timeout: .seconds(60),
                                                           progress: { rounds.append("\($0.rounds)") })
            let unhealthy = try await probe.waitUntilHealthy(checks: [.http(port: warmingUp.port), .tcp(port: closedPort)],
                                                             interval: .milliseconds(100), timeout: .milliseconds(600))
            // verify
            #expect(healthy.healthy)
            #expect(healthy.rounds >= 3)
            #expect(healthy.failures.isEmpty)
            #expect(rounds.all.count == healthy.rounds)
            #expect(!unhealthy.healthy)
            #expect(unhealthy.failures == [.tcp(port: closedPort): "connection refused"])
            #expect(unhealthy.elapsed >= .milliseconds(600))
            withExtendedLifetime(closed) {}
        }
    }

    // MARK: - ListeningPorts

    struct ListeningPortsTests {
        static let tcpFixture = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
               1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12346 1 0000000000000000 100 0 0 10 0
               2: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 12347 1 0000000000000000 20 4 30 10 -1
            garbage line
               3: 0100007F:ZZZZ 00000000:0000 0A
            """
        static let tcp6Fixture = """
              sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 100 0 0 10 0
            """
        static let udpFixture = """
               sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
              123: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3333 2 0000000000000000 0
              124: 0100007F:A1B2 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 3334 2 0000000000000000 0
            """

        @Test func parsesTheKernelTables() {
            // act
            let tcp = ListeningPorts.parse(Self.tcpFixture, transport: .tcp)
            let tcp6 = ListeningPorts.parse(Self.tcp6Fixture, transport: .tcp)
            let udp = ListeningPorts.parse(Self.udpFixture, transport: .udp)
            // verify
            #expect(tcp == [ListeningPort(port: 8080, transport: .tcp), ListeningPort(port: 22, transport: .tcp)])
            #expect(tcp6 == [ListeningPort(port: 443, transport: .tcp)])
            #expect(udp == [ListeningPort(port: 53, transport: .udp)])
            #expect(ListeningPorts.parse("", transport: .tcp).isEmpty)
        }

        @Test func seesASocketThisTestOpens() async throws {
            try await withTempTree { tree in
                // setup
                let server = try LoopbackServer { _ in nil }
                let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(udp, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(udp, $0, &length) } }
                let udpPort = Int(UInt16(bigEndian: address.sin_port))
                // act
                let open = try ListeningPorts.current()
                server.stop()
                close(udp)
                let afterClose = try ListeningPorts.current()
                var missing: ListeningPortsError?
                do throws(ListeningPortsError) { _ = try ListeningPorts.current(procRoot: tree.path("no-proc")) } catch { missing = error }
                // verify
                #expect(open.contains(ListeningPort(port: server.port, transport: .tcp)))
                #expect(open.contains(ListeningPort(port: udpPort, transport: .udp)))
                #expect(!afterClose.contains(ListeningPort(port: server.port, transport: .tcp)))
                #expect(missing != nil)
            }
        }
    }

    // MARK: - GitCheckout

    struct GitCheckoutTests {
        /// Runs git in the test (setup only), failing the test on a non-zero status.
        @discardableResult
        static func git(_ arguments: [String]) async throws -> [String] {
            guard let git = ChildProcess.find("git", path: "/usr/local/bin:/usr/bin:/bin") else { throw LoopbackError("git is not installed") }
            let child = ChildProcess(executable: git, arguments: ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"] + arguments,
                                     environment: ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent", "LC_ALL": "C"], timeout: .seconds(60))
            let outcome = try await child.run()
            guard outcome.succeeded else { throw LoopbackError("git \(arguments.joined(separator: " ")): \(outcome.tail.joined(separator: "\n"))") }
            return outcome.tail
        }

        /// A repository with one commit on `main`, served as file://.
        static func makeRepository(_ tree: TempTree) async throws -> String {
            let repo = tree.path("origin")
            try await git(["init", "-q", repo])
            try tree.write("origin/index.html", "v1\n")
            try await git(["-C", repo, "add", "index.html"])
            try await git(["-C", repo, "commit", "-q", "-m", "First release"])
            return repo
        }

        @Test func clonesThenUpdatesToTheNewestCommit() async throws {
            try await withTempTree { tree in
                // setup
                let repo = try await Self.makeRepository(tree)
                let source = GitSource(url: "file://\(repo)", branch: "main")
                let checkout = GitCheckout(timeout: .seconds(60))
                let lines = LinesBox()
                // act: first deploy
                let first = try await checkout.checkout(source, into: tree.path("deploys/site"), output: lines.append)
                let firstHead = try await Self.git(["-C", repo, "rev-parse", "HEAD"])
                // verify
                #expect(first.sha == firstHead.last)
                #expect(first.subject == "First release")
                #expect(tree.text("deploys/site/index.html") == "v1\n")
                #expect(tree.names("deploys").sorted() == ["site"], "no staging directory left behind")

                // setup: a new commit upstream, a local edit and a stray file in the checkout
                try tree.write("origin/index.html", "v2\n")
                try await Self.git(["-C", repo, "commit", "-q", "-am", "Second release"])
                try tree.write("deploys/site/index.html", "edited on the node\n")
                try tree.write("deploys/site/stray.txt", "x")
                // act: redeploy
                let second = try await checkout.checkout(source, into: tree.path("deploys/site"))
                let secondHead = try await Self.git(["-C", repo, "rev-parse", "HEAD"])
                // verify
                #expect(second.sha == secondHead.last)
                #expect(second.sha != first.sha)
                #expect(second.subject == "Second release")
                #expect(tree.text("deploys/site/index.html") == "v2\n")
                #expect(!tree.exists("deploys/site/stray.txt"))
            }
        }

        @Test func missingBranchRepositoryAndBadInputAreClear() async throws {
            try await withTempTree { tree in
                // setup
                let repo = try await Self.makeRepository(tree)
                let checkout = GitCheckout(timeout: .seconds(60))
                try tree.mkdir("busy")
                try tree.write("busy/file", "x")
                // act
                var errors: [String: GitCheckoutError] = [:]
                let attempts: [(String, GitSource, String)] = [
                    ("branch", GitSource(url: "file://\(repo)", branch: "no-such-branch"), tree.path("a")),
                    ("repo", GitSource(url: "file://\(tree.path("nothing-here"))", branch: "main"), tree.path("b")),
                    ("option", GitSource(url: "--upload-pack=touch /tmp/x", branch: "main"), tree.path("c")),
                    ("badBranch", GitSource(url: "file://\(repo)", branch: "-f"), tree.path("d")),
                    ("busy", GitSource(url: "file://\(repo)", branch: "main"), tree.path("busy")),
                    ("password", GitSource(url: "https://user:hunter2-secret@example.invalid/r.git", branch: "main"), tree.path("e")),
                ]
                for (name, source, directory) in attempts {
                    do throws(GitCheckoutError) { _ = try await checkout.checkout(source, into: directory) } catch { errors[name] = error }
                }
                // verify
                guard case .branchNotFound("no-such-branch", _) = errors["branch"] else { Issue.record("branch: \(String(describing: errors["branch"]))"); return }
                guard case .repositoryNotFound = errors["repo"] else { Issue.record("repo: \(String(describing: errors["repo"]))"); return }
                guard case .invalidSource = errors["option"] else { Issue.record("option: \(String(describing: errors["option"]))"); return }
                guard case .invalidSource = errors["badBranch"] else { Issue.record("badBranch: \(String(describing: errors["badBranch"]))"); return }
                #expect(errors["busy"] == .directoryNotEmpty(tree.path("busy")))
                guard case .invalidSource(let message) = errors["password"] else { Issue.record("password: \(String(describing: errors["password"]))"); return }
                #expect(!message.contains("hunter2-secret"))
                #expect(!tree.exists("a") && !tree.exists("b"))
            }
        }

        /// An HTTPS-style remote that refuses every request: the token travels as a header, the failure
        /// is an authentication error, and the token is in no error, output line or file.
        @Test func theTokenIsSentAsAHeaderAndNeverShown() async throws {
            try await withTempTree { tree in
                // setup
                let token = "tok-\(UUID().uuidString)"
                let server = try LoopbackServer { _ in
                    LoopbackServer.http(401, "denied", headers: ["WWW-Authenticate: Basic realm=\"git\""])
                }
                defer { server.stop() }
                let checkout = GitCheckout(timeout: .seconds(60))
                let lines = LinesBox()
                let source = GitSource(url: "http://127.0.0.1:\(server.port)/team/app.git", branch: "main", token: token)
                // act
                var caught: GitCheckoutError?
                do throws(GitCheckoutError) { _ = try await checkout.checkout(source, into: tree.path("app"), output: lines.append) } catch { caught = error }
                // verify
                let error = try #require(caught)
                guard case .authenticationFailed = error else { Issue.record("not an authentication failure: \(error)"); return }
                let basic = Data("x-access-token:\(token)".utf8).base64EncodedString()
                #expect(server.received.contains { $0.contains("Authorization: Basic \(basic)") })
                #expect(!server.received.contains { $0.hasPrefix("GET") && $0.contains(token) }, "the token is not in the URL")
                for text in [error.description, lines.all.joined(separator: "\n")] {
                    #expect(!text.contains(token))
                    #expect(!text.contains(basic))
                }
                #expect(!tree.exists("app"))
                #expect(tree.names("").allSatisfy { !$0.contains("clone") })
            }
        }

        @Test func aTokenIsNeverWrittenToTheCheckout() async throws {
            try await withTempTree { tree in
                // setup: a checkout made without a token, updated from an http remote that refuses the token
                let repo = try await Self.makeRepository(tree)
                let checkout = GitCheckout(timeout: .seconds(60))
                _ = try await checkout.checkout(GitSource(url: "file://\(repo)", branch: "main"), into: tree.path("site"))
                let token = "tok-\(UUID().uuidString)"
                let server = try LoopbackServer { _ in LoopbackServer.http(401, headers: ["WWW-Authenticate: Basic realm=\"git\""]) }
                defer { server.stop() }
                // act
                var caught: GitCheckoutError?
                do throws(GitCheckoutError) {
                    _ = try await checkout.checkout(GitSource(url: "http://127.0.0.1:\(server.port)/r.git", branch: "main", token: token),
                                                    into: tree.path("site"))
                } catch {
                    caught = error
                }
                // verify
                guard case .authenticationFailed = caught else { Issue.record("expected an authentication failure: \(String(describing: caught))"); return }
                let config = tree.text("site/.git/config") ?? ""
                #expect(config.contains("http://127.0.0.1:\(server.port)/r.git"))
                #expect(!config.contains(token))
                #expect(!config.lowercased().contains("extraheader"))
            }
        }
    }
}

