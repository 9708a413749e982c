import Foundation
import NebulaCore
import Plot
import Vapor

enum UsersPages {
    @Sendable static func show(req: Request) async throws -> Response {
        try await render(req, newToken: nil)
    }

    static func render(_ req: Request, newToken: CreatedToken?) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let users = try await services.identity.listUsers(by: actor)
        let tokens = try await services.identity.listTokens(by: actor)
        var context = try await req.pageContext("Users and tokens", active: .users)
        if newToken != nil { context.flash = Flash(kind: .success, message: "Token created. Copy it now: it will not be shown again.") }
        let isAdmin = actor.role >= .admin
        let roles = Role.allCases.map { ($0.rawValue, $0.rawValue.capitalized) }
        return req.render(Layout.page(context) {
            if let newToken {
                Card(title: "New token “\(newToken.name)”", subtitle: "Role \(newToken.role.rawValue). Use it as: Authorization: Bearer <token>") {
                    CodeBlock(newToken.token, id: "new-token")
                }
            }
            Card(title: "Users", subtitle: isAdmin ? nil : "Only admins can change users.") {
                DataTable(caption: "Users", headers: isAdmin ? ["User", "Role", "Status", "Created", "Change role", ""] : ["User", "Role", "Status", "Created"],
                          rows: users.items.map { user in
                              var row: [any Component] = [Text(user.username), RoleBadge(role: user.role), StatusBadge(user.disabled ? "disabled" : "active"),
                                                          user.createdAt.map { RelativeTime($0) as any Component } ?? Text("—")]
                              if isAdmin {
                                  row.append(CSRFForm(action: "/users/\(user.id)", csrfToken: context.csrfToken, classes: "inline-form") {
                                      SelectField(label: "Role for \(user.username)", name: "role", options: roles, selected: user.role.rawValue, id: "role-\(user.id)")
                                      SubmitButton("Save", style: .secondary)
                                  })
                                  row.append(Div {
                                      CSRFForm(action: "/users/\(user.id)", csrfToken: context.csrfToken, classes: "inline-form") {
                                          voidTag("input", [.value("type", "hidden"), .value("name", "disabled"), .value("value", user.disabled ? "false" : "true")])
                                          SubmitButton(user.disabled ? "Enable" : "Disable", style: .secondary)
                                      }
                                      CSRFForm(action: "/users/\(user.id)/delete", csrfToken: context.csrfToken, classes: "inline-form", confirm: "Delete \(user.username)? Their tokens stop working.") {
                                          SubmitButton("Delete", style: .danger)
                                      }
                                  }.class("button-row"))
                              }
                              return row
                          },
                          emptyTitle: "No users", emptyMessage: "")
            }
            if isAdmin {
                Card(title: "Add a user") {
                    CSRFForm(action: "/users", csrfToken: context.csrfToken, classes: "form-grid") {
                        FormField(label: "Username", name: "username", required: true, autocomplete: "off")
                        FormField(label: "Password", name: "password", type: "password", required: true, hint: "At least 12 characters.", autocomplete: "new-password", minLength: 12)
                        SelectField(label: "Role", name: "role", options: roles, selected: Role.viewer.rawValue, id: "new-user-role")
                        SubmitButton("Add user")
                    }
                }
            }
            Card(title: isAdmin ? "API tokens (everyone's)" : "Your API tokens") {
                DataTable(caption: "API tokens", headers: ["Name", "Owner", "Role", "Token", "Status", "Last used", "Expires", ""],
                          rows: tokens.items.map { token in
                              [Text(token.name), Text(token.owner), RoleBadge(role: token.role), Span(token.prefix + "…").class("mono"),
                               StatusBadge(token.status), token.lastUsedAt.map { RelativeTime($0) as any Component } ?? Text("never"),
                               token.expiresAt.map { RelativeTime($0) as any Component } ?? Text("never"),
                               token.status == "active" ? CSRFForm(action: "/tokens/\(token.id)/revoke", csrfToken: context.csrfToken, confirm: "Revoke \(token.name)? It stops working at once.") {
                                   SubmitButton("Revoke", style: .danger)
                               } : Text("")]
                          },
                          emptyTitle: "No tokens", emptyMessage: "Create one for the CLI, an agent or a script.")
            }
            Card(title: "Create an API token") {
                CSRFForm(action: "/tokens", csrfToken: context.csrfToken, classes: "form-grid") {
                    FormField(label: "Name", name: "name", placeholder: "backup script", required: true)
                    SelectField(label: "Role", name: "role", options: Role.allCases.filter { $0 <= actor.role }.map { ($0.rawValue, $0.rawValue.capitalized) }, selected: Role.viewer.rawValue, id: "new-token-role")
                    FormField(label: "Expires after (days)", name: "days", type: "number", placeholder: "never", hint: "Leave empty for no expiry.")
                    SubmitButton("Create token")
                }
            }
        })
    }

    @Sendable static func create(req: Request) async throws -> Response {
        try await formAction(req, backTo: "/users", success: "User added.") {
            guard let role = req.formField("role").flatMap(Role.init(rawValue:)) else { throw NebulaError.unprocessable("Choose a role.") }
            _ = try await req.nebula.identity.createUser(username: req.formField("username") ?? "", password: req.rawFormField("password"), role: role, by: try req.actor)
        }
    }

    @Sendable static func update(req: Request) async throws -> Response {
        try await formAction(req, backTo: "/users", success: "User updated.") {
            let role = req.formField("role").flatMap(Role.init(rawValue:))
            let disabled = req.formField("disabled").flatMap(Bool.init)
            _ = try await req.nebula.identity.updateUser(try req.uuidParameter(), role: role, disabled: disabled, by: try req.actor)
        }
    }

    @Sendable static func resetPassword(req: Request) async throws -> Response {
        try await formAction(req, backTo: "/users", success: "Password changed; the user was signed out everywhere.") {
            let services = try req.nebula
            let id = try req.uuidParameter()
            guard let user = try await User.find(id, on: services.identity.db) else { throw NebulaError.notFound("User \(id)") }
            try await services.identity.resetPassword(username: user.username, newPassword: req.rawFormField("password"), by: try req.actor)
        }
    }

    @Sendable static func delete(req: Request) async throws -> Response {
        try await formAction(req, backTo: "/users", success: "User deleted.") {
            try await req.nebula.identity.deleteUser(try req.uuidParameter(), by: try req.actor)
        }
    }

    @Sendable static func createToken(req: Request) async throws -> Response {
        do {
            var expiry: Date?
            if let days = req.formField("days") {
                guard let count = Int(days), (1...3650).contains(count) else { throw NebulaError.unprocessable("Expiry is 1 to 3650 days, or empty for none.") }
                expiry = Date().addingTimeInterval(Double(count) * 86400)
            }
            let created = try await req.nebula.identity.createToken(name: req.formField("name") ?? "", role: req.formField("role").flatMap(Role.init(rawValue:)),
                                                                       expiresAt: expiry, by: try req.actor)
            return try await render(req, newToken: created)
        } catch let error as NebulaError where error.status != .unauthorized {
            return req.redirect(to: "/users", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func revokeToken(req: Request) async throws -> Response {
        try await formAction(req, backTo: "/users", success: "Token revoked.") {
            _ = try await req.nebula.identity.revokeToken(try req.uuidParameter(), by: try req.actor)
        }
    }
}

enum SecretsPage {
    @Sendable static func show(req: Request) async throws -> Response {
        try await render(req, revealed: nil)
    }

    static func render(_ req: Request, revealed: RevealedSecret?) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let secrets = try await services.secrets.list(by: actor)
        let context = try await req.pageContext("Secrets", active: .secrets)
        let canWrite = actor.role >= .operator
        let canReveal = actor.role >= .admin
        return req.render(Layout.page(context) {
            if let revealed {
                Card(title: "Value of \(revealed.name)", subtitle: "This reveal was recorded in the audit log.") {
                    CodeBlock(revealed.value, id: "revealed-secret")
                }
            }
            Card(title: "Vault", subtitle: "Encrypted with AES-256-GCM. Values are never shown in lists, logs or the audit trail.") {
                DataTable(caption: "Secrets", headers: ["Name", "Description", "Updated", "By", ""],
                          rows: secrets.items.map { secret in
                              [Span(secret.name).class("mono"), Text(secret.description ?? ""),
                               (secret.updatedAt ?? secret.createdAt).map { RelativeTime($0) as any Component } ?? Text("—"), Text(secret.updatedBy),
                               Div {
                                   if canReveal {
                                       CSRFForm(action: "/secrets/\(secret.name)/reveal", csrfToken: context.csrfToken, classes: "inline-form", confirm: "Reveal \(secret.name)? This is audited.") {
                                           SubmitButton("Reveal", style: .secondary)
                                       }
                                   }
                                   if canWrite {
                                       CSRFForm(action: "/secrets/\(secret.name)/delete", csrfToken: context.csrfToken, classes: "inline-form", confirm: "Delete \(secret.name)? This cannot be undone.") {
                                           SubmitButton("Delete", style: .danger)
                                       }
                                   }
                               }.class("button-row")]
                          },
                          emptyTitle: "The vault is empty", emptyMessage: "Store passwords, API keys and SSH keys here; other features refer to them by name.")
            }
            if canWrite {
                Card(title: "Store a secret", subtitle: "Storing under an existing name replaces its value.") {
                    CSRFForm(action: "/secrets", csrfToken: context.csrfToken, classes: "form-grid") {
                        FormField(label: "Name", name: "name", placeholder: "DB_PASSWORD", required: true, hint: "Letters, digits, '_', '.' or '-'.", autocomplete: "off")
                        FormField(label: "Value", name: "value", type: "password", required: true, autocomplete: "new-password")
                        FormField(label: "Description", name: "description", placeholder: "optional")
                        SubmitButton("Store secret")
                    }
                }
            }
        })
    }

    @Sendable static func create(req: Request) async throws -> Response {
        try await formAction(req, backTo: "/secrets", success: "Secret stored.") {
            _ = try await req.nebula.secrets.store(name: req.formField("name") ?? "", value: req.rawFormField("value"),
                                                     description: req.formField("description"), replace: true, by: try req.actor)
        }
    }

    @Sendable static func reveal(req: Request) async throws -> Response {
        let name = req.parameters.get("name") ?? ""
        do {
            let value = try await req.nebula.secrets.reveal(name: name, by: try req.actor)
            return try await render(req, revealed: RevealedSecret(name: name, value: value))
        } catch let error as NebulaError where error.status != .unauthorized {
            return req.redirect(to: "/secrets", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func delete(req: Request) async throws -> Response {
        try await formAction(req, backTo: "/secrets", success: "Secret deleted.") {
            try await req.nebula.secrets.delete(name: req.parameters.get("name") ?? "", by: try req.actor)
        }
    }
}

enum SettingsPage {
    @Sendable static func show(req: Request) async throws -> Response {
        let services = try req.nebula
        let settings = try await services.settings.current()
        let context = try await req.pageContext("Settings", active: .settings)
        let isAdmin = (context.role ?? .viewer) >= .admin
        let config = services.config
        let database: String = switch config.database {
        case .sqlite(let path): "SQLite · \(path)"
        case .postgres: "PostgreSQL"
        }
        return req.render(Layout.page(context) {
            Card(title: "General", subtitle: isAdmin ? nil : "Only admins can change settings.") {
                CSRFForm(action: "/settings", csrfToken: context.csrfToken, classes: "form-grid") {
                    FormField(label: "Instance name", name: "instanceName", value: settings.instanceName, required: true)
                    FormField(label: "Keep events (days)", name: "eventRetentionDays", type: "number", value: String(settings.eventRetentionDays), required: true)
                    FormField(label: "Keep audit entries (days)", name: "auditRetentionDays", type: "number", value: String(settings.auditRetentionDays), required: true)
                    FormField(label: "Keep finished jobs (days)", name: "jobRetentionDays", type: "number", value: String(settings.jobRetentionDays), required: true)
                    if isAdmin { SubmitButton("Save settings") }
                }
            }
            Card(title: "This server", subtitle: "From the environment at start-up; see the README's configuration table.") {
                DetailList([
                    ("Version", Text(NebulaVersion.current)),
                    ("Database", Text(database)),
                    ("Data directory", Span(config.dataDirectory).class("mono")),
                    ("Master key", Text({ if case .environment = config.masterKey { return "NEBULA_MASTER_KEY" } else { return "key file in the data directory" } }())),
                    ("Vault key fingerprint", Span(services.vault.fingerprint).class("mono")),
                    ("Job workers", Text(config.runsJobWorker ? "\(config.jobConcurrency) in this process" : "off in this process")),
                ])
            }
        })
    }

    @Sendable static func update(req: Request) async throws -> Response {
        try await formAction(req, backTo: "/settings", success: "Settings saved.") {
            func number(_ name: String) throws -> Int? {
                guard let raw = req.formField(name) else { return nil }
                guard let value = Int(raw) else { throw NebulaError.unprocessable("\(name) must be a whole number.") }
                return value
            }
            let patch = SettingsPatch(instanceName: req.formField("instanceName"), eventRetentionDays: try number("eventRetentionDays"),
                                      auditRetentionDays: try number("auditRetentionDays"), jobRetentionDays: try number("jobRetentionDays"))
            _ = try await req.nebula.settings.update(patch, by: try req.actor)
        }
    }
}
