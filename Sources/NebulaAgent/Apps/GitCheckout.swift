import DockerEngine
import Foundation

/// A git repository branch to deploy from.
public struct GitSource: Sendable, Hashable {
    /// `https://…`, `http://…`, `ssh://…`, `git@host:path`, `git://…` or `file://…`, without credentials.
    public var url: String
    /// The branch to check out.
    public var branch: String
    /// An access token for an HTTPS repository (GitHub, GitLab, Gitea personal access tokens).
    public var token: String?
    /// The user name sent with the token (most forges accept anything; GitLab OAuth tokens want `oauth2`).
    public var username: String

    public init(url: String, branch: String, token: String? = nil, username: String = "x-access-token") {
        self.url = url
        self.branch = branch
        self.token = token
        self.username = username
    }
}

/// The commit a checkout ended on.
public struct GitCommit: Sendable, Hashable, Codable {
    /// The full commit id.
    public var sha: String
    /// The first line of its message.
    public var subject: String
}

/// Clones or updates a repository with the `git` CLI for a deploy.
///
/// A new directory gets a shallow, single-branch clone (made next to it and renamed into place, so
/// a failed clone leaves nothing half-done); an existing checkout is fetched (depth 1) and set to
/// exactly `origin/<branch>` (`checkout -B`, `reset --hard`, `clean -ffd`; ignored files such as
/// build caches stay).
///
/// The token is never in argv, in `.git/config`, in errors or in output: git gets it through
/// `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_0=http.extraHeader` in its environment, and every line
/// returned is scrubbed of it. Git never prompts (`GIT_TERMINAL_PROMPT=0`, ssh in batch mode).
public struct GitCheckout: Sendable {
    /// The limit for each git command (clone or fetch).
    public var timeout: Duration
    private let environment: [String: String]

    /// `environment` supplies `PATH` and `HOME` (for git and ssh configuration).
    public init(timeout: Duration = .seconds(600), environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.timeout = timeout
        self.environment = environment
    }

    /// Clones `source` into `directory` (absolute; missing or empty) or updates the checkout there;
    /// git's progress goes to `output` line by line.
    public func checkout(_ source: GitSource, into directory: String,
                         output: @escaping @Sendable (String) -> Void = { _ in }) async throws(GitCheckoutError) -> GitCommit {
        let scrubber = SecretScrubber(source: source)
        try validate(source, directory: directory, scrubber: scrubber)
        let directory = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        guard let git = ChildProcess.find("git", path: ChildProcess.baseEnvironment(from: environment)["PATH"]) else { throw .gitMissing }
        let session = Session(git: git, environment: childEnvironment(source), timeout: timeout, scrubber: scrubber, output: output)
        let branch = source.branch

        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory + "/.git", isDirectory: &isDirectory), isDirectory.boolValue {
            try await session.run(["-C", directory, "remote", "set-url", "origin", "--", source.url])
            try await session.run(["-C", directory, "fetch", "--depth=1", "--no-tags", "--prune", "--progress", "origin",
                                   "+refs/heads/\(branch):refs/remotes/origin/\(branch)"])
            try await session.run(["-C", directory, "checkout", "--force", "-B", branch, "refs/remotes/origin/\(branch)"])
            try await session.run(["-C", directory, "reset", "--hard", "refs/remotes/origin/\(branch)"])
            try await session.run(["-C", directory, "clean", "-ffd"])
        } else {
            try await clone(source, into: directory, session: session)
        }
        let log = try await session.run(["-C", directory, "log", "-1", "--format=%H%n%s"], quiet: true)
        guard let sha = log.first(where: { $0.count == 40 && $0.allSatisfy(\.isHexDigit) }) else {
            throw .failed(operation: "git log", status: 0, output: log)
        }
        let subject = log.drop { $0 != sha }.dropFirst().first ?? ""
        return GitCommit(sha: sha, subject: subject)
    }

    private func clone(_ source: GitSource, into directory: String, session: Session) async throws(GitCheckoutError) {
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: directory) {
            let contents = (try? fileManager.contentsOfDirectory(atPath: directory)) ?? ["?"]
            guard contents.isEmpty else { throw .directoryNotEmpty(directory) }
        }
        let target = URL(fileURLWithPath: directory)
        let parent = target.deletingLastPathComponent().path
        do {
            try fileManager.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw .io(parent, error.localizedDescription)
        }
        // Cloned beside the target and renamed in: an interrupted clone never looks like a checkout.
        let staging = parent + "/.\(target.lastPathComponent).clone-\(UUID().uuidString.prefix(8))"
        do {
            try await session.run(["clone", "--depth=1", "--single-branch", "--no-tags", "--progress", "--branch=\(source.branch)",
                                   "--", source.url, staging])
        } catch {
            try? fileManager.removeItem(atPath: staging)
            throw error
        }
        do {
            if fileManager.fileExists(atPath: directory) { try fileManager.removeItem(atPath: directory) }   // empty, checked above
            try fileManager.moveItem(atPath: staging, toPath: directory)
        } catch {
            try? fileManager.removeItem(atPath: staging)
            throw .io(directory, error.localizedDescription)
        }
    }

    private func validate(_ source: GitSource, directory: String, scrubber: SecretScrubber) throws(GitCheckoutError) {
        guard directory.hasPrefix("/") else { throw .invalidSource("the checkout directory '\(directory)' is not an absolute path") }
        let url = source.url
        let shown = scrubber.redactedURL(url)
        guard !url.isEmpty, !url.hasPrefix("-"), !url.contains(where: { $0.isWhitespace || $0.isNewline }) else {
            throw .invalidSource("'\(shown)' is not a repository URL")
        }
        let lower = url.lowercased()
        let schemes = ["https://", "http://", "ssh://", "git://", "file://"]
        let scpLike = !lower.contains("://") && (url.firstIndex(of: ":").map { $0 > url.startIndex } ?? false)
        guard schemes.contains(where: { lower.hasPrefix($0) }) || scpLike else {
            throw .invalidSource("'\(shown)' is not an https, ssh, git or file URL")
        }
        if let components = URLComponents(string: url), components.password != nil {
            throw .invalidSource("the URL '\(shown)' contains a password; give the token separately so it is never stored in the checkout")
        }
        if source.token != nil, !(lower.hasPrefix("https://") || lower.hasPrefix("http://")) {
            throw .invalidSource("an access token works only with an https URL, not '\(shown)'")
        }
        if let token = source.token, token.isEmpty || token.contains(where: \.isNewline) || source.username.contains(":") {
            throw .invalidSource("the access token (or its user name) is malformed")
        }
        let branch = source.branch
        let forbidden: Set<Character> = ["~", "^", ":", "?", "*", "[", "\\", " "]
        guard !branch.isEmpty, !branch.hasPrefix("-"), !branch.hasPrefix("/"), !branch.hasSuffix("/"), !branch.hasSuffix(".lock"),
              !branch.contains(".."), !branch.contains("@{"), !branch.contains("//"),
              !branch.contains(where: { forbidden.contains($0) || $0.isNewline || ($0.asciiValue ?? 32) < 32 }) else {
            throw .invalidSource("'\(branch)' is not a valid branch name")
        }
    }

    private func childEnvironment(_ source: GitSource) -> [String: String] {
        var result = ChildProcess.baseEnvironment(from: environment)
        result["GIT_TERMINAL_PROMPT"] = "0"
        result["GCM_INTERACTIVE"] = "never"
        result["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
        // Messages in English, so failures can be told apart.
        result["LC_ALL"] = "C"
        result["LANG"] = "C"
        // Settings that must not come from argv (the token) or that would let git linger in the background.
        var settings: [(String, String)] = [("credential.helper", ""), ("gc.auto", "0"), ("maintenance.auto", "false"),
                                            ("advice.detachedHead", "false")]
        if let token = source.token {
            let basic = Data("\(source.username):\(token)".utf8).base64EncodedString()
            settings.append(("http.extraHeader", "Authorization: Basic \(basic)"))
        }
        result["GIT_CONFIG_COUNT"] = String(settings.count)
        for (index, setting) in settings.enumerated() {
            result["GIT_CONFIG_KEY_\(index)"] = setting.0
            result["GIT_CONFIG_VALUE_\(index)"] = setting.1
        }
        return result
    }

    /// Runs git commands with one environment, scrubbing and classifying their output.
    private struct Session: Sendable {
        let git: String
        let environment: [String: String]
        let timeout: Duration
        let scrubber: SecretScrubber
        let output: @Sendable (String) -> Void

        /// The command's last lines (scrubbed); throws the classified failure.
        @discardableResult
        func run(_ arguments: [String], quiet: Bool = false) async throws(GitCheckoutError) -> [String] {
            let scrubber = self.scrubber
            let output = self.output
            let child = ChildProcess(executable: git, arguments: arguments, environment: environment, timeout: timeout)
            let outcome: ChildProcess.Outcome
            do {
                outcome = try await child.run { line in if !quiet { output(scrubber.scrub(line)) } }
            } catch {
                throw .gitMissing
            }
            let tail = outcome.tail.map(scrubber.scrub)
            let operation = "git " + (arguments.first == "-C" ? arguments.dropFirst(2).first ?? "" : arguments.first ?? "")
            if outcome.cancelled { throw .cancelled }
            if outcome.timedOut { throw .timedOut(operation: operation, output: tail) }
            guard outcome.succeeded else { throw GitCheckoutError.classify(operation: operation, status: outcome.status, output: tail) }
            return tail
        }
    }
}

/// Removes the token (as given, base64 in the header, percent-encoded) from text shown to anyone.
struct SecretScrubber: Sendable {
    private let secrets: [String]

    init(source: GitSource) {
        guard let token = source.token, !token.isEmpty else { secrets = []; return }
        var found = [token, Data("\(source.username):\(token)".utf8).base64EncodedString()]
        if let encoded = token.addingPercentEncoding(withAllowedCharacters: .alphanumerics), encoded != token { found.append(encoded) }
        secrets = found.sorted { $0.count > $1.count }
    }

    func scrub(_ text: String) -> String {
        secrets.reduce(text) { $0.replacingOccurrences(of: $1, with: "***") }
    }

    /// The URL without any password, for messages.
    func redactedURL(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return scrub(url) }
        components.password = "***"
        return scrub(components.string ?? "(a URL)")
    }
}

/// Why a clone or update failed. Each case says what the user can do; no case ever holds the token.
public enum GitCheckoutError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `git` is not installed on this node: install it (apt-get install git).
    case gitMissing
    /// The URL, branch name, token or directory cannot be used (the message says which); fix the project's settings.
    case invalidSource(String)
    /// There is no repository at the URL, or it is private and the token is missing; check the URL and the token.
    case repositoryNotFound(output: [String])
    /// The repository has no such branch; check the branch name.
    case branchNotFound(String, output: [String])
    /// The server refused the credentials (or wanted some); check the token and its scopes (read access to contents).
    case authenticationFailed(output: [String])
    /// The server could not be reached (DNS, connection refused, network); check the node's network and the host name.
    case unreachable(output: [String])
    /// The checkout directory exists, is not empty and is not a git checkout; empty it or choose another directory.
    case directoryNotEmpty(String)
    /// A file operation failed (disk full, permissions).
    case io(String, String)
    /// Git took longer than the timeout and was stopped; retry, or raise the timeout for a large repository.
    case timedOut(operation: String, output: [String])
    /// The deploy was cancelled and git stopped.
    case cancelled
    /// Any other git failure; the output says why.
    case failed(operation: String, status: Int32, output: [String])

    /// Tells the failures apart by git's (English, `LC_ALL=C`) messages.
    static func classify(operation: String, status: Int32, output: [String]) -> GitCheckoutError {
        let text = output.joined(separator: "\n").lowercased()
        func has(_ needles: String...) -> Bool { needles.contains { text.contains($0) } }
        if has("remote branch", "couldn't find remote ref", "could not find remote branch") && (has("not found") || has("couldn't find remote ref")) {
            let branch = output.lazy.compactMap { line -> String? in
                if let range = line.range(of: "Remote branch ") { return String(line[range.upperBound...].prefix { $0 != " " }) }
                if let range = line.range(of: "couldn't find remote ref refs/heads/") { return String(line[range.upperBound...]) }
                return nil
            }.first ?? ""
            return .branchNotFound(branch, output: output)
        }
        if has("authentication failed", "could not read username", "could not read password", "terminal prompts disabled",
               "access denied", "permission denied (publickey", "returned error: 401", "returned error: 403", "invalid username or password") {
            return .authenticationFailed(output: output)
        }
        if has("repository not found", "does not appear to be a git repository", "not found", "returned error: 404", "no such repository") {
            return .repositoryNotFound(output: output)
        }
        if has("could not resolve host", "failed to connect", "connection refused", "connection timed out", "network is unreachable",
               "could not resolve hostname", "no route to host") {
            return .unreachable(output: output)
        }
        return .failed(operation: operation, status: status, output: output)
    }

    public var description: String {
        func lines(_ output: [String]) -> String { output.isEmpty ? "" : "\n" + output.suffix(20).joined(separator: "\n") }
        switch self {
        case .gitMissing:
            return "git is not installed on this node. Install it (apt-get install git) and retry."
        case .invalidSource(let message):
            return "Cannot check out: \(message)."
        case .repositoryNotFound(let output):
            return "The repository was not found. Check the URL; a private repository also needs an access token." + lines(output)
        case .branchNotFound(let branch, let output):
            return "The repository has no branch '\(branch)'. Check the branch name." + lines(output)
        case .authenticationFailed(let output):
            return "The git server refused the credentials. Check the access token and that it may read the repository." + lines(output)
        case .unreachable(let output):
            return "The git server could not be reached. Check the host name and this node's network." + lines(output)
        case .directoryNotEmpty(let path):
            return "\(path) is not empty and is not a git checkout. Empty it or choose another directory."
        case .io(let path, let reason):
            return "Cannot update \(path): \(reason). Check the disk space and permissions."
        case .timedOut(let operation, let output):
            return "\(operation) did not finish in time and was stopped. Retry, or raise the timeout for a large repository." + lines(output)
        case .cancelled:
            return "The checkout was cancelled."
        case .failed(let operation, let status, let output):
            return "\(operation) failed with status \(status). The output below says why." + lines(output)
        }
    }
}
