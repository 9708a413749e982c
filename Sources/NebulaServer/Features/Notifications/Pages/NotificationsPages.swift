import Foundation
import NebulaCore
import Plot
import Vapor

/// `/notifications`: channels (add, send test, enable/disable, delete), routing rules with quiet
/// hours and de-duplication, and the delivery log with retry. The add-channel form shows the fields
/// of the chosen kind (`/js/notifications.js`); without JavaScript every field is shown, labelled.
enum NotificationsPages {
    static func register(_ page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void) {
        page(.GET, ["notifications"], .viewer, nil, overview)
        page(.POST, ["notifications", "channels"], .operator, "notification.channel.create", createChannel)
        page(.POST, ["notifications", "channels", ":id", "test"], .operator, "notification.channel.test", testChannel)
        page(.POST, ["notifications", "channels", ":id", "toggle"], .operator, "notification.channel.update", toggleChannel)
        page(.POST, ["notifications", "channels", ":id", "delete"], .operator, "notification.channel.delete", deleteChannel)
        page(.POST, ["notifications", "rules"], .operator, "notification.rule.create", createRule)
        page(.POST, ["notifications", "rules", ":id", "delete"], .operator, "notification.rule.delete", deleteRule)
        page(.POST, ["notifications", "deliveries", ":id", "retry"], .operator, "notification.delivery.retry", retryDelivery)
    }

    static let channelFields = ["name", "kind", "url", "topic", "secret", "host", "port", "security", "username", "from", "to"]
    static let ruleFields = ["name", "categories", "minSeverity", "channels", "quietStart", "quietEnd", "timeZone", "dedupMinutes"]

    @Sendable static func overview(req: Request) async throws -> Response {
        try await render(req, flash: nil, status: .ok)
    }

    static func render(_ req: Request, flash: Flash?, status: HTTPResponseStatus, form: [String: String] = [:]) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let channels = try await services.notifications.channels(by: actor)
        let rules = try await services.notifications.rules(by: actor)
        let log = try await services.notifications.deliveries(status: nil, channel: nil, limit: 50, offset: 0, by: actor)
        var context = try await req.pageContext("Notifications", active: .notifications)
        if let flash { context.flash = flash }
        let canOperate = actor.role >= .operator
        let csrf = context.csrfToken
        let html = Layout.page(context) {
            Card(title: "Channels", subtitle: "Where notifications go. Secrets (webhook URLs, tokens, passwords) are kept in the vault and never shown again.") {
                DataTable(caption: "Notification channels", headers: ["Channel", "Kind", "Destination", "Last delivery", ""], rows: channels.map { channel in
                    [Div {
                        Text(channel.name)
                        if !channel.enabled { StatusBadge("disabled", tone: .grey) }
                     } as any Component,
                     Text(channel.kind.label),
                     Mono(destination(channel)),
                     channel.lastStatus.map { status in
                         Div {
                             StatusBadge(status, tone: tone(status))
                             if let at = channel.lastDeliveryAt { RelativeTime(at) }
                         } as any Component
                     } ?? Text("never used"),
                     canOperate ? Div {
                         CSRFForm(action: "/notifications/channels/\(channel.id)/test", csrfToken: csrf, classes: "inline-form") { SubmitButton("Send test", style: .secondary) }
                         CSRFForm(action: "/notifications/channels/\(channel.id)/toggle", csrfToken: csrf, classes: "inline-form") {
                             SubmitButton(channel.enabled ? "Disable" : "Enable", style: .secondary)
                         }
                         CSRFForm(action: "/notifications/channels/\(channel.id)/delete", csrfToken: csrf, classes: "inline-form",
                                  confirm: "Delete the channel \(channel.name) and its stored secret?") { SubmitButton("Delete", style: .danger) }
                     }.class("button-row") as any Component : Text("")]
                }, emptyTitle: "No channels yet", emptyMessage: canOperate ? "Add Discord, a webhook, ntfy, Gotify or email below." : "An operator can add one.")
            }
            if canOperate {
                Card(title: "Add a channel", subtitle: "Only the fields of the chosen kind are used.") {
                    CSRFForm(action: "/notifications/channels", csrfToken: csrf, classes: "stack notification-channel-form") {
                        FormField(label: "Name", name: "name", value: form["name"] ?? "", required: true,
                                  hint: "Runbooks and rules refer to it: lower-case letters, digits, '-' or '_'.")
                        SelectField(label: "Kind", name: "kind", options: NotificationChannelKind.allCases.map { ($0.rawValue, $0.label) },
                                    selected: form["kind"] ?? NotificationChannelKind.discord.rawValue)
                        FormField(label: "URL", name: "url", value: form["url"] ?? "", placeholder: "https://discord.com/api/webhooks/…",
                                  hint: "Discord: the webhook URL (kept secret). Webhook: the receiver. ntfy or Gotify: the server, e.g. https://ntfy.sh.")
                            .attribute(named: "data-kinds", value: "discord webhook ntfy gotify")
                        FormField(label: "Topic", name: "topic", value: form["topic"] ?? "", hint: "ntfy only.")
                            .attribute(named: "data-kinds", value: "ntfy")
                        FormField(label: "Secret", name: "secret", type: "password",
                                  hint: "Webhook: the HMAC signing secret. ntfy: access token (optional). Gotify: application token. Email: SMTP password.",
                                  autocomplete: "off")
                            .attribute(named: "data-kinds", value: "webhook ntfy gotify email")
                        FormField(label: "SMTP server", name: "host", value: form["host"] ?? "", placeholder: "smtp.example.com")
                            .attribute(named: "data-kinds", value: "email")
                        FormField(label: "Port", name: "port", type: "number", value: form["port"] ?? "587")
                            .attribute(named: "data-kinds", value: "email")
                        SelectField(label: "Security", name: "security", options: [("starttls", "STARTTLS (587)"), ("tls", "TLS (465)"), ("none", "None (LAN relay only)")],
                                    selected: form["security"] ?? "starttls")
                            .attribute(named: "data-kinds", value: "email")
                        FormField(label: "Username", name: "username", value: form["username"] ?? "")
                            .attribute(named: "data-kinds", value: "email")
                        FormField(label: "From", name: "from", value: form["from"] ?? "", placeholder: "nebula@example.com")
                            .attribute(named: "data-kinds", value: "email")
                        FormField(label: "To", name: "to", value: form["to"] ?? "", placeholder: "you@example.com, other@example.com", hint: "Comma-separated.")
                            .attribute(named: "data-kinds", value: "email")
                        SubmitButton("Add channel")
                    }
                }
            }
            Card(title: "Routing rules", subtitle: rules.isEmpty
                 ? "No rules: every notification of warning or above goes to every enabled channel, repeats within 10 minutes suppressed."
                 : "A notification goes to the channels of every rule that matches its category and severity.") {
                DataTable(caption: "Routing rules", headers: ["Rule", "Categories", "Severity", "Channels", "Quiet hours", "De-duplication", ""], rows: rules.map { rule in
                    [Text(rule.name) as any Component,
                     Text(rule.categories.isEmpty ? "all" : rule.categories.joined(separator: ", ")),
                     StatusBadge("\(rule.minSeverity.rawValue)+", tone: severityTone(rule.minSeverity)),
                     Text(rule.channels.joined(separator: ", ")),
                     Text(rule.quietHours.map { "\($0.start)–\($0.end) \($0.timeZone)\($0.allowCritical == false ? "" : ", critical still sent")" } ?? "none"),
                     Text(rule.dedupMinutes == 0 ? "off" : "\(rule.dedupMinutes) min"),
                     canOperate ? CSRFForm(action: "/notifications/rules/\(rule.id)/delete", csrfToken: csrf, classes: "inline-form",
                                           confirm: "Delete the rule \(rule.name)?") { SubmitButton("Delete", style: .danger) } as any Component : Text("")]
                }, emptyTitle: "No routing rules", emptyMessage: "The default applies (see above).")
                if canOperate && !channels.isEmpty {
                    CSRFForm(action: "/notifications/rules", csrfToken: csrf, classes: "stack") {
                        FormField(label: "Rule name", name: "name", value: form["rule.name"] ?? "", required: true)
                        FormField(label: "Categories", name: "categories", value: form["categories"] ?? "",
                                  placeholder: "incident, runbook, deploy, server", hint: "Comma-separated; empty matches every category.")
                        SelectField(label: "Minimum severity", name: "minSeverity", options: NotificationSeverity.allCases.map { ($0.rawValue, $0.rawValue) },
                                    selected: form["minSeverity"] ?? "warning")
                        FormField(label: "Channels", name: "channels", value: form["channels"] ?? channels.first.map(\.name) ?? "", required: true,
                                  hint: "Comma-separated channel names: \(channels.map(\.name).joined(separator: ", ")).")
                        FormField(label: "Quiet hours start", name: "quietStart", value: form["quietStart"] ?? "", placeholder: "22:00",
                                  hint: "Optional. Non-critical notifications are held until the end.")
                        FormField(label: "Quiet hours end", name: "quietEnd", value: form["quietEnd"] ?? "", placeholder: "07:00")
                        FormField(label: "Time zone", name: "timeZone", value: form["timeZone"] ?? "UTC", placeholder: "Europe/Berlin")
                        FormField(label: "De-duplication window (minutes)", name: "dedupMinutes", type: "number", value: form["dedupMinutes"] ?? "10",
                                  hint: "The same notification to the same channel within this window is logged, not sent. 0 turns it off.")
                        SubmitButton("Add rule", style: .secondary)
                    }
                }
            }
            Card(title: "Delivery log", subtitle: "The latest \(log.items.count) of \(log.total) deliveries. Failed attempts are retried with backoff.") {
                DataTable(caption: "Deliveries", headers: ["When", "Channel", "Notification", "Severity", "Status", "Attempts", ""], rows: log.items.map { delivery in
                    [delivery.createdAt.map { RelativeTime($0) as any Component } ?? Text("—"),
                     Text(delivery.channel),
                     Div {
                         Text(delivery.title)
                         Paragraph(delivery.category + (delivery.incidentId.map { _ in " · incident" } ?? "")).class("muted")
                     },
                     StatusBadge(delivery.severity.rawValue, tone: severityTone(delivery.severity)),
                     Div {
                         StatusBadge(delivery.status.rawValue, tone: tone(delivery.status.rawValue))
                         if delivery.status == .held, let at = delivery.deliverAt { Paragraph("until \(at.formatted(date: .omitted, time: .shortened))").class("muted") }
                         if let error = delivery.lastError, delivery.status != .sent { Paragraph(String(error.prefix(200))).class("muted") }
                     },
                     Text("\(delivery.attempts)"),
                     canOperate && (delivery.status == .failed || delivery.status == .held)
                        ? CSRFForm(action: "/notifications/deliveries/\(delivery.id)/retry", csrfToken: csrf, classes: "inline-form") {
                            SubmitButton(delivery.status == .held ? "Send now" : "Retry", style: .secondary)
                        } as any Component : Text("")]
                }, emptyTitle: "Nothing sent yet", emptyMessage: "Incidents, failed runs and tests show up here.")
            }
            tag("script", [.value("type", "module"), .value("src", "/js/notifications.js")])
        }
        return req.render(html, status: status)
    }

    // MARK: Actions

    @Sendable static func createChannel(req: Request) async throws -> Response {
        var form: [String: String] = [:]
        for name in channelFields where name != "secret" { form[name] = req.formField(name) ?? "" }
        func value(_ name: String) -> String? { form[name].flatMap { $0.isEmpty ? nil : $0 } }
        do {
            guard let kind = NotificationChannelKind(rawValue: form["kind"] ?? "") else {
                throw NebulaError.unprocessable("Choose the channel's kind.", code: "invalid_kind")
            }
            let port: Int?
            if let raw = value("port"), kind == .email {
                guard let parsed = Int(raw) else { throw NebulaError.unprocessable("Port must be a number from 1 to 65535.", code: "invalid_port") }
                port = parsed
            } else {
                port = nil
            }
            let input = ChannelInput(name: form["name"], kind: kind, enabled: true, url: value("url"), topic: value("topic"),
                                     secret: req.formField("secret").flatMap { $0.isEmpty ? nil : $0 },
                                     host: value("host"), port: port, security: value("security"), username: value("username"), from: value("from"),
                                     to: value("to").map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } })
            let channel = try await req.nebula.notifications.createChannel(input, by: try req.actor)
            return req.redirect(to: "/notifications", flash: Flash(kind: .success, message: "Channel \(channel.name) added. Send a test to check it."))
        } catch let error as NebulaError where error.status.code < 500 {
            return try await render(req, flash: Flash(kind: .error, message: error.message), status: error.status, form: form)
        }
    }

    @Sendable static func testChannel(req: Request) async throws -> Response {
        do {
            let outcome = try await req.nebula.notifications.test(try req.uuidParameter(), by: try req.actor)
            let flash = outcome.ok
                ? Flash(kind: .success, message: "Test notification delivered to \(outcome.delivery.channel).")
                : Flash(kind: .error, message: "The test to \(outcome.delivery.channel) failed: \(outcome.delivery.lastError ?? "unknown error")")
            return req.redirect(to: "/notifications", flash: flash)
        } catch let error as NebulaError {
            return req.redirect(to: "/notifications", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func toggleChannel(req: Request) async throws -> Response {
        do {
            let services = try req.nebula
            let id = try req.uuidParameter()
            let actor = try req.actor
            let channel = try await services.notifications.channel(id, by: actor)
            var input = ChannelInput()
            input.enabled = !channel.enabled
            let updated = try await services.notifications.updateChannel(id, input, by: actor)
            return req.redirect(to: "/notifications", flash: Flash(kind: .success, message: "\(updated.name) is \(updated.enabled ? "enabled" : "disabled")."))
        } catch let error as NebulaError {
            return req.redirect(to: "/notifications", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func deleteChannel(req: Request) async throws -> Response {
        do {
            try await req.nebula.notifications.deleteChannel(try req.uuidParameter(), by: try req.actor)
            return req.redirect(to: "/notifications", flash: Flash(kind: .success, message: "The channel is deleted."))
        } catch let error as NebulaError {
            return req.redirect(to: "/notifications", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func createRule(req: Request) async throws -> Response {
        var form: [String: String] = [:]
        for name in ruleFields { form[name] = req.formField(name) ?? "" }
        form["rule.name"] = form["name"]
        func list(_ name: String) -> [String] {
            (form[name] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        do {
            let start = form["quietStart"] ?? "", end = form["quietEnd"] ?? ""
            let quiet = start.isEmpty && end.isEmpty ? nil : QuietHoursDTO(start: start, end: end, timeZone: form["timeZone"].flatMap { $0.isEmpty ? nil : $0 } ?? "UTC",
                                                                              allowCritical: true)
            guard let dedup = Int(form["dedupMinutes"].flatMap { $0.isEmpty ? nil : $0 } ?? "10") else {
                throw NebulaError.unprocessable("The de-duplication window is a number of minutes.", code: "invalid_dedup_window")
            }
            let input = RuleInput(name: form["name"], categories: list("categories"),
                                  minSeverity: NotificationSeverity(rawValue: form["minSeverity"] ?? "") ?? .warning,
                                  channels: list("channels"), quietHours: quiet, dedupMinutes: dedup, enabled: true)
            let rule = try await req.nebula.notifications.createRule(input, by: try req.actor)
            return req.redirect(to: "/notifications", flash: Flash(kind: .success, message: "Rule \(rule.name) added."))
        } catch let error as NebulaError where error.status.code < 500 {
            return try await render(req, flash: Flash(kind: .error, message: error.message), status: error.status, form: form)
        }
    }

    @Sendable static func deleteRule(req: Request) async throws -> Response {
        do {
            try await req.nebula.notifications.deleteRule(try req.uuidParameter(), by: try req.actor)
            return req.redirect(to: "/notifications", flash: Flash(kind: .success, message: "The rule is deleted."))
        } catch let error as NebulaError {
            return req.redirect(to: "/notifications", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func retryDelivery(req: Request) async throws -> Response {
        do {
            let delivery = try await req.nebula.notifications.retry(try req.uuidParameter(), by: try req.actor)
            return req.redirect(to: "/notifications", flash: Flash(kind: .success, message: "Sending \"\(delivery.title)\" to \(delivery.channel) again."))
        } catch let error as NebulaError {
            return req.redirect(to: "/notifications", flash: Flash(kind: .error, message: error.message))
        }
    }

    // MARK: Helpers

    static func destination(_ channel: NotificationChannelDTO) -> String {
        switch channel.kind {
        case .ntfy: "\(channel.settings.url ?? "")/\(channel.settings.topic ?? "")"
        case .email: "\((channel.settings.to ?? []).joined(separator: ", ")) via \(channel.settings.host ?? "?"):\(channel.settings.port ?? 0)"
        default: channel.settings.url ?? "—"
        }
    }

    static func tone(_ status: String) -> StatusBadge.Tone {
        switch status {
        case "sent": .green
        case "pending", "retrying": .blue
        case "held", "suppressed": .grey
        default: .red
        }
    }

    static func severityTone(_ severity: NotificationSeverity) -> StatusBadge.Tone {
        switch severity {
        case .info: .blue
        case .warning: .amber
        case .critical: .red
        }
    }
}
