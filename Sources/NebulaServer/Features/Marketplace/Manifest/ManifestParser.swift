import Foundation
import Yams

/// Reads a marketplace manifest (YAML) into an ``AppManifest``, collecting every problem with its
/// path instead of stopping at the first. Pure: no files, no network, no clock.
public enum ManifestParser {
    /// The keys a manifest may have at its top level.
    public static let topLevelKeys = ["name", "title", "version", "description", "category", "icon", "website",
                                      "compose", "variables", "health_checks", "hooks", "domain"]
    static let variableKeys = ["name", "description", "type", "default", "required", "secret", "generate", "options"]
    static let healthCheckKeys = ["type", "port", "path", "expect_status", "interval", "timeout"]
    /// Used when a manifest has no `icon`.
    public static let defaultIcon = "📦"

    /// The manifest, or every problem found in it.
    public static func parse(yaml: String) throws(ManifestProblems) -> AppManifest {
        try check(yaml: yaml).get()
    }

    /// The manifest, or every problem found in it, as a value.
    public static func check(yaml: String) -> Result<AppManifest, ManifestProblems> {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            return .failure(ManifestProblems([syntaxProblem(error)]))
        }
        guard let root, case .mapping(let mapping) = root else {
            return .failure(ManifestProblems([ManifestProblem(path: "", message: "a manifest is a YAML mapping (name: …, compose: …, variables: …)")]))
        }
        var reader = ManifestReader()
        let manifest = reader.read(mapping)
        guard reader.problems.isEmpty, let manifest else { return .failure(ManifestProblems(reader.problems)) }
        return .success(manifest)
    }

    /// A YAML syntax error as one problem that names the line.
    static func syntaxProblem(_ error: any Error) -> ManifestProblem {
        guard let yamlError = error as? YamlError else {
            return ManifestProblem(path: "", message: "the YAML cannot be read: \(error)")
        }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _), .composer(let context, let problem, let mark, _):
            let detail = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return ManifestProblem(path: "", message: "YAML syntax error at line \(mark.line), column \(mark.column): \(detail)")
        case .reader(let problem, let offset, _, let yaml):
            let line = offset.map { yaml.utf8.prefix($0).filter { $0 == UInt8(ascii: "\n") }.count + 1 }
            return ManifestProblem(path: "", message: "YAML cannot be read\(line.map { " at line \($0)" } ?? ""): \(problem)")
        default:
            return ManifestProblem(path: "", message: "the YAML cannot be read: \(yamlError)")
        }
    }

    // MARK: Rules shared with install values

    /// Why `value` does not fit `variable`, or nil when it does.
    public static func problem(with value: String, for variable: ManifestVariable) -> String? {
        // Values end up as lines of an .env file: a line break would start another variable.
        if value.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\0" }) { return "must be a single line" }
        switch variable.type {
        case .string, .password:
            return nil
        case .port:
            guard let port = Int(value), (1...65535).contains(port) else { return "must be a port number from 1 to 65535 (got '\(value)')" }
            return nil
        case .path:
            guard value.hasPrefix("/") || value.hasPrefix("./") else { return "must be an absolute path such as /srv/media, or start with ./ (got '\(value)')" }
            return nil
        case .bool:
            guard value == "true" || value == "false" else { return "must be true or false (got '\(value)')" }
            return nil
        case .number:
            guard let number = Double(value), number.isFinite else { return "must be a number (got '\(value)')" }
            return nil
        case .enum:
            let options = variable.options ?? []
            guard options.contains(value) else { return "must be one of: \(options.joined(separator: ", ")) (got '\(value)')" }
            return nil
        }
    }

    /// Whether `name` is a package slug: `^[a-z0-9][a-z0-9-]{1,62}$`.
    public static func isPackageName(_ name: String) -> Bool {
        let scalars = Array(name.unicodeScalars)
        guard (2...63).contains(scalars.count) else { return false }
        func lowerOrDigit(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("0"..."9").contains(c) }
        return lowerOrDigit(scalars[0]) && scalars.dropFirst().allSatisfy { lowerOrDigit($0) || $0 == "-" }
    }

    /// Whether `name` is a variable name: `^[A-Z][A-Z0-9_]*$`.
    static func isVariableName(_ name: String) -> Bool {
        let scalars = Array(name.unicodeScalars)
        guard let first = scalars.first, ("A"..."Z").contains(first) else { return false }
        return scalars.allSatisfy { ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    /// Seconds in a duration such as `2s`, `90s`, `5m` or `1h`.
    static func seconds(in duration: String) -> Int? {
        guard let unit = duration.last, let amount = Int(duration.dropLast()), amount > 0, duration.first?.isNumber == true else { return nil }
        switch unit {
        case "s": return amount
        case "m": return amount * 60
        case "h": return amount * 3600
        default: return nil
        }
    }

    /// The variables a Compose string interpolates (`${A}`, `${A:-x}`, `${A?err}`, `$A`), in order,
    /// and whether a `${` is malformed. `$$` is docker compose's escape for a literal `$`.
    static func interpolatedNames(in text: String) -> (names: [String], malformed: Bool) {
        let scalars = Array(text.unicodeScalars)
        func isNameScalar(_ c: Unicode.Scalar) -> Bool {
            ("A"..."Z").contains(c) || ("a"..."z").contains(c) || ("0"..."9").contains(c) || c == "_"
        }
        var names: [String] = []
        var malformed = false
        var index = 0
        while index < scalars.count {
            guard scalars[index] == "$", index + 1 < scalars.count else { index += 1; continue }
            let next = scalars[index + 1]
            if next == "$" { index += 2; continue }
            var end = index + (next == "{" ? 2 : 1)
            let start = end
            while end < scalars.count, isNameScalar(scalars[end]) { end += 1 }
            let name = String(String.UnicodeScalarView(scalars[start..<end]))
            if next == "{" {
                // A nested default (`${A:-${B}}`) is found by carrying on from the name.
                let closes = scalars[end...].contains("}")
                let validFollower = end < scalars.count && ["}", ":", "-", "?", "+"].contains(scalars[end])
                if name.isEmpty || !closes || !validFollower || !(name.unicodeScalars.first.map { !("0"..."9").contains($0) } ?? false) {
                    malformed = true
                } else {
                    names.append(name)
                }
            } else if !name.isEmpty, let first = name.unicodeScalars.first, !("0"..."9").contains(first) {
                names.append(name)
            }
            index = max(end, index + 1)
        }
        return (names, malformed)
    }

    /// The variable a string starts with (`${MEDIA_DIR}/movies` → `MEDIA_DIR`), if it does.
    static func leadingVariable(of text: String) -> String? {
        guard text.hasPrefix("$"), !text.hasPrefix("$$") else { return nil }
        return interpolatedNames(in: text).names.first
    }
}

/// Walks the YAML tree once, remembering problems as it goes.
private struct ManifestReader {
    var problems: [ManifestProblem] = []

    mutating func problem(_ path: String, _ message: String) {
        problems.append(ManifestProblem(path: path, message: message))
    }

    // MARK: Node helpers

    /// A scalar's text; nil (with a problem) for a list or mapping; nil for an explicit null.
    mutating func text(_ node: Node?, _ path: String) -> String? {
        guard let node else { return nil }
        guard case .scalar(let scalar) = node else {
            problem(path, "must be a single value, not a list or mapping")
            return nil
        }
        if node.null != nil && scalar.style == .plain { return nil }
        return scalar.string
    }

    mutating func requiredText(_ node: Node?, _ path: String) -> String? {
        guard let node else {
            problem(path, "is required")
            return nil
        }
        guard let value = text(node, path) else { return nil }
        guard !value.trimmingCharacters(in: .whitespaces).isEmpty else {
            problem(path, "must not be empty")
            return nil
        }
        return value
    }

    mutating func bool(_ node: Node?, _ path: String) -> Bool? {
        guard let value = text(node, path) else { return nil }
        switch value {
        case "true": return true
        case "false": return false
        default:
            problem(path, "must be true or false")
            return nil
        }
    }

    mutating func integer(_ node: Node?, _ path: String, in range: ClosedRange<Int>, what: String) -> Int? {
        guard let value = text(node, path) else { return nil }
        guard let number = Int(value), range.contains(number) else {
            problem(path, "must be \(what) from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return number
    }

    /// The entries of a mapping keyed by text, with unknown and repeated keys reported.
    mutating func fields(_ mapping: Node.Mapping, _ path: String, allowed: [String]) -> [String: Node] {
        var fields: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else {
                problem(path, "keys must be text")
                continue
            }
            let keyPath = join(path, key)
            if !allowed.contains(key) {
                problem(keyPath, "unknown key (allowed: \(allowed.joined(separator: ", ")))")
            } else if fields[key] != nil {
                problem(keyPath, "appears more than once")
            } else {
                fields[key] = value
            }
        }
        return fields
    }

    func join(_ base: String, _ key: String) -> String { base.isEmpty ? key : base + "." + key }

    // MARK: The manifest

    mutating func read(_ mapping: Node.Mapping) -> AppManifest? {
        let fields = self.fields(mapping, "", allowed: ManifestParser.topLevelKeys)
        let name = requiredText(fields["name"], "name")
        if let name, !ManifestParser.isPackageName(name) {
            problem("name", "must be 2–63 lower-case letters, digits and '-', starting with a letter or digit (got '\(name)')")
        }
        let title = requiredText(fields["title"], "title")
        let version = requiredText(fields["version"], "version")
        if let version, version.first?.isNumber != true || version.count > 64 || version.contains(where: \.isWhitespace) {
            problem("version", "must be the app's version and start with a digit, such as 1.23.16 (got '\(version)')")
        }
        let description = requiredText(fields["description"], "description")
        let categoryText = requiredText(fields["category"], "category")
        let category = categoryText.flatMap(AppCategory.init(rawValue:))
        if let categoryText, category == nil {
            problem("category", "must be one of: \(AppCategory.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(categoryText)')")
        }
        let icon = text(fields["icon"], "icon") ?? ManifestParser.defaultIcon
        if !Self.isEmoji(icon) && !Self.isURL(icon, schemes: ["https"]) {
            problem("icon", "must be an emoji or an https:// image URL")
        }
        let website = text(fields["website"], "website")
        if let website, !Self.isURL(website, schemes: ["http", "https"]) {
            problem("website", "must be an http(s) URL")
        }
        let variables = readVariables(fields["variables"])
        let compose = readCompose(fields["compose"], variables: variables)
        let services = compose?.services ?? []
        let healthChecks = readHealthChecks(fields["health_checks"], variables: variables)
        let postInstall = readHooks(fields["hooks"], services: compose.map { Set($0.services) })
        let domain = readDomain(fields["domain"], services: compose.map { Set($0.services) })

        guard let name, let title, let version, let description, let category, let compose else { return nil }
        return AppManifest(name: name, title: title, version: version, description: description, category: category, icon: icon,
                           website: website, composeYAML: compose.text, services: services, variables: variables,
                           healthChecks: healthChecks, postInstall: postInstall, domain: domain)
    }

    static func isEmoji(_ text: String) -> Bool {
        // One or two pictographs (flags and ZWJ sequences count as one character).
        guard (1...2).contains(text.count), text.unicodeScalars.count <= 12 else { return false }
        return text.unicodeScalars.contains { $0.properties.isEmojiPresentation || ($0.properties.isEmoji && $0.value > 0xFF) }
    }

    static func isURL(_ text: String, schemes: Set<String>) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), schemes.contains(scheme),
              let host = url.host, !host.isEmpty else { return false }
        return !text.contains(where: \.isWhitespace)
    }

    // MARK: Variables

    mutating func readVariables(_ node: Node?) -> [ManifestVariable] {
        guard let node else { return [] }
        guard case .sequence(let sequence) = node else {
            problem("variables", "must be a list")
            return []
        }
        var variables: [ManifestVariable] = []
        var seen: [String: Int] = [:]
        for (index, item) in sequence.enumerated() {
            let path = "variables[\(index)]"
            guard case .mapping(let mapping) = item else {
                problem(path, "must be a mapping (name, description, type, …)")
                continue
            }
            let fields = self.fields(mapping, path, allowed: ManifestParser.variableKeys)
            let name = requiredText(fields["name"], path + ".name")
            if let name {
                if !ManifestParser.isVariableName(name) {
                    problem(path + ".name", "must be UPPER_SNAKE_CASE: a capital letter, then capitals, digits and '_' (got '\(name)')")
                } else if let first = seen[name] {
                    problem(path + ".name", "\(name) is already declared at variables[\(first)]")
                } else {
                    seen[name] = index
                }
            }
            let description = requiredText(fields["description"], path + ".description")
            let typeText = requiredText(fields["type"], path + ".type")
            let type = typeText.flatMap(ManifestVariable.Kind.init(rawValue:))
            if let typeText, type == nil {
                problem(path + ".type", "must be one of: \(ManifestVariable.Kind.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(typeText)')")
            }
            let defaultValue = text(fields["default"], path + ".default")
            let required = bool(fields["required"], path + ".required") ?? false
            let secretFlag = bool(fields["secret"], path + ".secret") ?? false
            let generateText = text(fields["generate"], path + ".generate")
            let generate = generateText.flatMap(ManifestVariable.Generator.init(rawValue:))
            if let generateText, generate == nil {
                problem(path + ".generate", "must be one of: \(ManifestVariable.Generator.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(generateText)')")
            }
            var options: [String]?
            if let optionsNode = fields["options"] {
                if case .sequence(let list) = optionsNode {
                    options = list.enumerated().compactMap { text($0.element, path + ".options[\($0.offset)]") }
                    if Set(options ?? []).count != options?.count { problem(path + ".options", "lists a value twice") }
                } else {
                    problem(path + ".options", "must be a list of values")
                }
            }
            guard let name, let type else { continue }
            if type == .enum, options?.isEmpty ?? true {
                problem(path + ".options", "an enum variable needs a non-empty list of options")
            } else if type != .enum, options != nil {
                problem(path + ".options", "only enum variables take options")
            }
            if generate != nil, type != .string, type != .password {
                problem(path + ".generate", "only string and password variables can be generated")
            }
            if generate != nil, defaultValue != nil {
                problem(path + ".default", "a generated variable takes no default; the installer makes a fresh value")
            }
            if type == .password, defaultValue != nil {
                problem(path + ".default", "a password has no default: everyone would share it; use generate: password")
            }
            let variable = ManifestVariable(name: name, description: description ?? "", type: type, default: defaultValue,
                                            required: required, secret: secretFlag || type == .password, generate: generate, options: options)
            if let defaultValue, type != .password, let why = ManifestParser.problem(with: defaultValue, for: variable) {
                problem(path + ".default", why)
            }
            variables.append(variable)
        }
        return variables
    }

    // MARK: Compose

    struct Compose {
        var services: [String]
        var text: String
    }

    mutating func readCompose(_ node: Node?, variables: [ManifestVariable]) -> Compose? {
        guard let node else {
            problem("compose", "is required: the Compose file as a YAML mapping with services")
            return nil
        }
        guard case .mapping(let compose) = node else {
            problem("compose", "must be the Compose file as a YAML mapping (services: …), not a string")
            return nil
        }
        let declared = Dictionary(variables.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        checkInterpolation(node, "compose", declared: declared)
        var namedVolumes = Set<String>()
        if let volumes = compose["volumes"] {
            if case .mapping(let mapping) = volumes {
                for (key, value) in mapping {
                    guard let name = key.string else { continue }
                    namedVolumes.insert(name)
                    // A named volume can be a bind in disguise (driver_opts.device).
                    if let device = value["driver_opts"]?["device"]?.string, device.hasPrefix("/") || device.hasPrefix("~") {
                        problem("compose.volumes.\(name).driver_opts.device", "absolute host paths must come from a path variable")
                    }
                }
            } else if volumes.null == nil {
                problem("compose.volumes", "must be a mapping of named volumes")
            }
        }
        var services: [String] = []
        if case .mapping(let serviceMap)? = compose["services"], !serviceMap.isEmpty {
            for (key, value) in serviceMap {
                guard let service = key.string else { continue }
                services.append(service)
                let path = "compose.services.\(service)"
                guard case .mapping(let definition) = value else {
                    problem(path, "must be a mapping with at least an image")
                    continue
                }
                if definition["build"] != nil {
                    problem(path + ".build", "marketplace apps run published images; build is not allowed")
                }
                if definition["container_name"] != nil {
                    problem(path + ".container_name", "a fixed container name clashes when the app is installed twice; leave it out")
                }
                if let image = definition["image"] {
                    if (image.string ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
                        problem(path + ".image", "must be an image reference such as lscr.io/linuxserver/sonarr:4.0.14")
                    }
                } else {
                    problem(path + ".image", "every service needs an image")
                }
                if let volumes = definition["volumes"] {
                    checkVolumes(volumes, path + ".volumes", declared: declared, namedVolumes: namedVolumes)
                }
                if let ports = definition["ports"] {
                    checkPorts(ports, path + ".ports", declared: declared)
                }
            }
        } else {
            problem("compose.services", "must be a mapping with at least one service")
        }
        do {
            let text = try Yams.serialize(node: node)
            return Compose(services: services, text: text)
        } catch {
            problem("compose", "cannot be written back as YAML: \(error)")
            return nil
        }
    }

    /// Every `${VAR}` in a compose value must be declared.
    mutating func checkInterpolation(_ node: Node, _ path: String, declared: [String: ManifestVariable]) {
        switch node {
        case .scalar(let scalar):
            let found = ManifestParser.interpolatedNames(in: scalar.string)
            if found.malformed {
                problem(path, "has a malformed ${…} (write $$ for a literal $)")
            }
            for name in found.names where declared[name] == nil {
                problem(path, "uses ${\(name)}, which is not a declared variable")
            }
        case .mapping(let mapping):
            for (key, value) in mapping {
                checkInterpolation(value, join(path, key.string ?? "?"), declared: declared)
            }
        case .sequence(let sequence):
            for (index, item) in sequence.enumerated() {
                checkInterpolation(item, path + "[\(index)]", declared: declared)
            }
        }
    }

    /// Bind mounts stay inside the app folder or come from a path variable; named volumes are declared.
    mutating func checkVolumes(_ node: Node, _ path: String, declared: [String: ManifestVariable], namedVolumes: Set<String>) {
        guard case .sequence(let list) = node else {
            problem(path, "must be a list")
            return
        }
        for (index, item) in list.enumerated() {
            let itemPath = path + "[\(index)]"
            switch item {
            case .scalar(let scalar):
                let parts = scalar.string.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count >= 2 else { continue }  // an anonymous volume: container path only
                checkHostPath(String(parts[0]), itemPath, declared: declared, namedVolumes: namedVolumes, isBind: nil)
            case .mapping:
                let type = item["type"]?.string ?? "volume"
                guard let source = item["source"]?.string, type == "bind" || type == "volume" else { continue }
                checkHostPath(source, itemPath + ".source", declared: declared, namedVolumes: namedVolumes, isBind: type == "bind")
            case .sequence:
                problem(itemPath, "must be a volume such as ./data:/data")
            }
        }
    }

    mutating func checkHostPath(_ source: String, _ path: String, declared: [String: ManifestVariable], namedVolumes: Set<String>, isBind: Bool?) {
        if source.hasPrefix("$"), !source.hasPrefix("$$") {
            guard let name = ManifestParser.leadingVariable(of: source), let variable = declared[name] else { return }  // reported by checkInterpolation
            if variable.type != .path {
                problem(path, "host paths from a variable need a path variable; ${\(name)} is a \(variable.type.rawValue) variable")
            }
        } else if source.hasPrefix("/") || source.hasPrefix("~") {
            problem(path, "absolute host paths must come from a path variable (such as ${MEDIA_DIR})")
        } else if source.hasPrefix(".") || isBind == true {
            if source.split(separator: "/").contains("..") {
                problem(path, "relative host paths must stay inside the app's folder (no ..)")
            }
        } else if !namedVolumes.contains(source) {
            problem(path, "named volume '\(source)' is not declared under compose.volumes")
        }
    }

    /// Host ports come from port variables, so a user can move an app off a port in use.
    mutating func checkPorts(_ node: Node, _ path: String, declared: [String: ManifestVariable]) {
        guard case .sequence(let list) = node else {
            problem(path, "must be a list")
            return
        }
        for (index, item) in list.enumerated() {
            let itemPath = path + "[\(index)]"
            switch item {
            case .scalar(let scalar):
                let withoutProtocol = scalar.string.split(separator: "/").first.map(String.init) ?? ""
                let parts = withoutProtocol.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                guard parts.count >= 2 else { continue }  // container port only: docker picks a free host port
                checkHostPort(parts[parts.count - 2], itemPath, declared: declared)
            case .mapping:
                if let published = item["published"]?.string { checkHostPort(published, itemPath + ".published", declared: declared) }
            case .sequence:
                problem(itemPath, "must be a port mapping such as ${WEB_PORT}:80")
            }
        }
    }

    mutating func checkHostPort(_ host: String, _ path: String, declared: [String: ManifestVariable]) {
        guard !host.isEmpty else { return }
        if let name = ManifestParser.leadingVariable(of: host) {
            if let variable = declared[name], variable.type != .port {
                problem(path, "host ports need a port variable; ${\(name)} is a \(variable.type.rawValue) variable")
            }
        } else {
            problem(path, "host ports must come from a port variable (such as ${WEB_PORT}) so users can change them")
        }
    }

    // MARK: Health checks, hooks, domain

    mutating func readHealthChecks(_ node: Node?, variables: [ManifestVariable]) -> [ManifestHealthCheck] {
        guard case .sequence(let list)? = node, !list.isEmpty else {
            problem("health_checks", node == nil ? "at least one health check is required" : "must be a non-empty list")
            return []
        }
        var checks: [ManifestHealthCheck] = []
        for (index, item) in list.enumerated() {
            let path = "health_checks[\(index)]"
            guard case .mapping(let mapping) = item else {
                problem(path, "must be a mapping (type, port, …)")
                continue
            }
            let fields = self.fields(mapping, path, allowed: ManifestParser.healthCheckKeys)
            let typeText = requiredText(fields["type"], path + ".type")
            let type = typeText.flatMap(ManifestHealthCheck.Kind.init(rawValue:))
            if let typeText, type == nil { problem(path + ".type", "must be http or tcp (got '\(typeText)')") }
            var port: Int?
            var portVariable: String?
            var portOK = false
            if let portText = requiredText(fields["port"], path + ".port") {
                if let name = ManifestParser.leadingVariable(of: portText) {
                    if portText != "${\(name)}" {
                        problem(path + ".port", "must be a port number or exactly ${VAR} naming a port variable")
                    } else if let variable = variables.first(where: { $0.name == name }) {
                        if variable.type == .port {
                            portVariable = name
                            portOK = true
                        } else {
                            problem(path + ".port", "${\(name)} is a \(variable.type.rawValue) variable; a health check needs a port variable")
                        }
                    } else {
                        problem(path + ".port", "uses ${\(name)}, which is not a declared variable")
                    }
                } else if let number = Int(portText), (1...65535).contains(number) {
                    port = number
                    portOK = true
                } else {
                    problem(path + ".port", "must be a port number from 1 to 65535 or ${VAR} naming a port variable")
                }
            }
            let checkPath = text(fields["path"], path + ".path")
            let expect = fields["expect_status"].flatMap { integer($0, path + ".expect_status", in: 100...599, what: "an HTTP status") }
            if type == .tcp {
                if checkPath != nil { problem(path + ".path", "only http checks take a path") }
                if fields["expect_status"] != nil { problem(path + ".expect_status", "only http checks take an expected status") }
            } else if let checkPath, !checkPath.hasPrefix("/") {
                problem(path + ".path", "must start with /")
            }
            let interval = duration(fields["interval"], path + ".interval", default: 2)
            let timeout = duration(fields["timeout"], path + ".timeout", default: 120)
            if let interval, let timeout, interval > timeout {
                problem(path + ".interval", "must not be longer than the timeout")
            }
            guard let type, portOK, let interval, let timeout else { continue }
            checks.append(ManifestHealthCheck(type: type, port: port, portVariable: portVariable, path: type == .http ? (checkPath ?? "/") : nil,
                                              expectStatus: type == .http ? expect : nil, intervalSeconds: interval, timeoutSeconds: timeout))
        }
        return checks
    }

    mutating func duration(_ node: Node?, _ path: String, default defaultSeconds: Int) -> Int? {
        guard let node else { return defaultSeconds }
        guard let value = text(node, path) else { return nil }
        guard let seconds = ManifestParser.seconds(in: value), seconds <= 3600 else {
            problem(path, "must be a duration such as 2s, 90s or 5m, at most 1h (got '\(value)')")
            return nil
        }
        return seconds
    }

    mutating func readHooks(_ node: Node?, services: Set<String>?) -> [ManifestCommand] {
        guard let node else { return [] }
        guard case .mapping(let mapping) = node else {
            problem("hooks", "must be a mapping (post_install: …)")
            return []
        }
        let hookSections = self.fields(mapping, "hooks", allowed: ["post_install"])
        guard let list = hookSections["post_install"] else { return [] }
        guard case .sequence(let items) = list else {
            problem("hooks.post_install", "must be a list of { service, command }")
            return []
        }
        var commands: [ManifestCommand] = []
        for (index, item) in items.enumerated() {
            let path = "hooks.post_install[\(index)]"
            guard case .mapping(let hook) = item else {
                problem(path, "must be a mapping { service, command }")
                continue
            }
            let hookFields = self.fields(hook, path, allowed: ["service", "command"])
            let service = requiredText(hookFields["service"], path + ".service")
            if let service, let services, !services.contains(service) {
                problem(path + ".service", "'\(service)' is not a service in compose")
            }
            var command: [String] = []
            if case .sequence(let arguments)? = hookFields["command"], !arguments.isEmpty {
                command = arguments.enumerated().compactMap { text($0.element, path + ".command[\($0.offset)]") }
            } else {
                problem(path + ".command", "must be a non-empty list of arguments, such as [php, occ, maintenance:repair]")
            }
            if let service, !command.isEmpty { commands.append(ManifestCommand(service: service, command: command)) }
        }
        return commands
    }

    mutating func readDomain(_ node: Node?, services: Set<String>?) -> ManifestDomain? {
        guard let node else { return nil }
        guard case .mapping(let mapping) = node else {
            problem("domain", "must be a mapping { service, port }")
            return nil
        }
        let fields = self.fields(mapping, "domain", allowed: ["service", "port"])
        let service = requiredText(fields["service"], "domain.service")
        if let service, let services, !services.contains(service) {
            problem("domain.service", "'\(service)' is not a service in compose")
        }
        guard fields["port"] != nil else {
            problem("domain.port", "is required: the container port the proxy targets")
            return nil
        }
        let port = integer(fields["port"], "domain.port", in: 1...65535, what: "a container port")
        guard let service, let port else { return nil }
        return ManifestDomain(service: service, port: port)
    }
}
