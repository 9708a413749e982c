import Foundation

extension AppManifest {
    /// What is wrong with the values a user typed for an install: unknown variables, missing
    /// required values, values that do not fit their type. An empty string counts as "not given".
    /// Paths are `values.NAME`.
    public func validate(values: [String: String]) -> [ManifestProblem] {
        var problems: [ManifestProblem] = []
        for key in values.keys.sorted() where variable(key) == nil {
            problems.append(ManifestProblem(path: "values.\(key)", message: "\(name) has no variable \(key)"))
        }
        for variable in variables {
            if let value = values[variable.name], !value.isEmpty {
                if let why = ManifestParser.problem(with: value, for: variable) {
                    problems.append(ManifestProblem(path: "values.\(variable.name)", message: why))
                }
            } else if variable.required, variable.default == nil, variable.generate == nil {
                problems.append(ManifestProblem(path: "values.\(variable.name)", message: "is required: \(variable.description)"))
            }
        }
        return problems
    }

    /// The values the install writes to the app's `.env`: the user's values, else the defaults,
    /// else freshly generated ones (from the system CSPRNG); an optional variable without any of
    /// these is an empty string, so docker compose never warns about an unset variable.
    public func resolve(values: [String: String]) throws(ManifestProblems) -> [String: String] {
        let problems = validate(values: values)
        guard problems.isEmpty else { throw ManifestProblems(problems) }
        var resolved: [String: String] = [:]
        for variable in variables {
            if let value = values[variable.name], !value.isEmpty {
                resolved[variable.name] = value
            } else if let value = variable.default {
                resolved[variable.name] = value
            } else if let generator = variable.generate {
                resolved[variable.name] = generator.makeValue()
            } else {
                resolved[variable.name] = ""
            }
        }
        return resolved
    }
}

extension ManifestVariable.Generator {
    private static let alphanumerics = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    /// A fresh value. `SystemRandomNumberGenerator` reads the operating system's CSPRNG
    /// (getrandom on Linux), and `randomElement(using:)` draws without modulo bias.
    public func makeValue() -> String {
        var generator = SystemRandomNumberGenerator()
        switch self {
        case .password:
            return String((0..<24).map { _ in Self.alphanumerics.randomElement(using: &generator) ?? "x" })
        case .hex:
            return (0..<16).map { _ in
                let byte = UInt8.random(in: 0...255, using: &generator)
                return String(byte, radix: 16).leftPadded(to: 2)
            }.joined()
        case .uuid:
            // Foundation's UUID() is a version-4 UUID from the same system source.
            return UUID().uuidString.lowercased()
        }
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
