import Fluent
import Foundation
import NebulaCore
import NotificationChannels
import Vapor

extension EventType {
    public static let notificationChannelCreated: EventType = "notification.channel_created"
    public static let notificationChannelUpdated: EventType = "notification.channel_updated"
    public static let notificationChannelDeleted: EventType = "notification.channel_deleted"
    public static let notificationRuleChanged: EventType = "notification.rule_changed"
    /// A notification reached a channel. Data: deliveryID, channel, category, severity, title, incidentID?.
    public static let notificationDelivered: EventType = "notification.delivered"
    /// A notification could not be delivered after every attempt. Same data plus `error`.
    public static let notificationFailed: EventType = "notification.failed"
}

/// Notification channels, routing rules and the delivery log. Everything that tells a person
/// something goes through ``notify(_:by:)``: it picks channels (named ones, or by the rules'
/// category and severity), records one delivery per channel, holds it through quiet hours,
/// suppresses a repeat within the de-duplication window, and queues a `notification.deliver` job
/// that sends it with retries. Reading needs the viewer role; changes and sending need operator.
struct NotificationsService: Sendable {
    let db: any Database
    let audit: AuditLog
    let events: EventBus
    let jobs: JobQueue
    let secrets: SecretsService
    let sender: any NotificationSender
    /// `NEBULA_PUBLIC_URL`, for links in notifications.
    let publicURL: String?
    var now: @Sendable () -> Date = { Date() }

    /// Used when no rule exists: everything at warning or above to every enabled channel.
    static let defaultDedupMinutes = 10
    static let maxTitle = 256
    static let maxBody = 4000

    static func secretName(_ channel: String) -> String { "notify.\(channel)" }

    // MARK: Channels

    func channels(by actor: Actor) async throws -> [NotificationChannelDTO] {
        try actor.require(.viewer)
        let records = try await NotificationChannelRecord.query(on: db).sort(\.$name).all()
        let recent = try await NotificationDeliveryRecord.query(on: db)
            .sort(\.$createdAt, .descending).limit(500).all()
        var latest: [String: NotificationDeliveryRecord] = [:]
        for delivery in recent where latest[delivery.channelName] == nil { latest[delivery.channelName] = delivery }
        return records.map { Self.dto($0, latest: latest[$0.name]) }
    }

    func channel(_ id: UUID, by actor: Actor) async throws -> NotificationChannelDTO {
        try actor.require(.viewer)
        return Self.dto(try await channelRecord(id))
    }

    func createChannel(_ input: ChannelInput, by actor: Actor) async throws -> NotificationChannelDTO {
        try actor.require(.operator)
        let name = try Self.validName(input.name, what: "channel")
        guard let kind = input.kind else {
            throw NebulaError.unprocessable("Choose the channel's kind: \(NotificationChannelKind.allCases.map(\.rawValue).joined(separator: ", ")).", code: "invalid_kind")
        }
        if try await NotificationChannelRecord.query(on: db).filter(\.$name == name).first() != nil {
            throw NebulaError.conflict("A notification channel named '\(name)' already exists.", code: "name_taken")
        }
        let (settings, secret) = try Self.settings(kind: kind, input: input, existing: nil, storedSecret: nil)
        _ = try Self.makeChannel(kind: kind, settings: settings, secret: secret)
        let record = NotificationChannelRecord()
        record.name = name
        record.kind = kind.rawValue
        record.settings = try Self.json(settings)
        record.hasSecret = secret != nil
        record.enabled = input.enabled ?? true
        record.createdBy = actor.username
        if let secret {
            _ = try await secrets.store(name: Self.secretName(name), value: secret,
                                        description: "Notification channel \(name): \(kind.secretRole)", replace: true, by: actor)
        }
        try await record.create(on: db)
        try await audit.record("notification.channel.create", target: "channel:\(name)", by: actor, detail: kind.rawValue)
        await events.publish(.notificationChannelCreated, actor: actor.username, subject: "channel:\(name)", data: ["kind": kind.rawValue])
        return Self.dto(record)
    }

    func updateChannel(_ id: UUID, _ input: ChannelInput, by actor: Actor) async throws -> NotificationChannelDTO {
        try actor.require(.operator)
        let record = try await channelRecord(id)
        if let name = input.name, name != record.name {
            throw NebulaError.unprocessable("A channel's name cannot change (runbooks and rules refer to it); create a new channel instead.", code: "name_immutable")
        }
        guard let kind = NotificationChannelKind(rawValue: record.kind) else { throw NebulaError.misconfigured("Channel \(record.name) has an unknown kind.") }
        if let given = input.kind, given != kind {
            throw NebulaError.unprocessable("A channel's kind cannot change; create a new channel instead.", code: "kind_immutable")
        }
        let stored = record.hasSecret ? try await secrets.value(of: Self.secretName(record.name)) : nil
        let existing = try Self.decodeSettings(record.settings)
        let (settings, secret) = try Self.settings(kind: kind, input: input, existing: existing, storedSecret: stored)
        _ = try Self.makeChannel(kind: kind, settings: settings, secret: secret)
        if let secret, secret != stored {
            _ = try await secrets.store(name: Self.secretName(record.name), value: secret,
                                        description: "Notification channel \(record.name): \(kind.secretRole)", replace: true, by: actor)
        } else if secret == nil, stored != nil {
            try await secrets.delete(name: Self.secretName(record.name), by: actor)
        }
        record.settings = try Self.json(settings)
        record.hasSecret = secret != nil
        if let enabled = input.enabled { record.enabled = enabled }
        try await record.update(on: db)
        try await audit.record("notification.channel.update", target: "channel:\(record.name)", by: actor)
        await events.publish(.notificationChannelUpdated, actor: actor.username, subject: "channel:\(record.name)")
        return Self.dto(record)
    }

    func deleteChannel(_ id: UUID, by actor: Actor) async throws {
        try actor.require(.operator)
        let record = try await channelRecord(id)
        let users = try await NotificationRuleRecord.query(on: db).all().filter { Self.list($0.channels).contains(record.name) }
        guard users.isEmpty else {
            throw NebulaError.conflict("Routing rule(s) \(users.map { "'\($0.name)'" }.joined(separator: ", ")) send to '\(record.name)'; remove it from them first.",
                                       code: "channel_in_use")
        }
        try await record.delete(on: db)
        if record.hasSecret { try? await secrets.delete(name: Self.secretName(record.name), by: actor) }
        try await audit.record("notification.channel.delete", target: "channel:\(record.name)", by: actor)
        await events.publish(.notificationChannelDeleted, actor: actor.username, subject: "channel:\(record.name)")
    }

    /// Sends a test notification right away (not queued) and records it in the log as category `test`.
    func test(_ id: UUID, by actor: Actor) async throws -> ChannelTestOutcome {
        try actor.require(.operator)
        let record = try await channelRecord(id)
        let delivery = Self.delivery(for: record, request: NotifyRequest(
            category: "test", severity: .info, title: "Test notification from Nebula Command",
            body: "If you can read this, the channel '\(record.name)' works. Sent by \(actor.username)."), by: actor)
        delivery.status = DeliveryStatus.pending.rawValue
        try await delivery.create(on: db)
        let ok = await send(delivery, channel: record)
        try await audit.record("notification.channel.test", target: "channel:\(record.name)", outcome: ok ? .success : .failure, by: actor,
                               detail: delivery.lastError)
        return ChannelTestOutcome(ok: ok, delivery: Self.dto(delivery))
    }

    // MARK: Rules

    func rules(by actor: Actor) async throws -> [NotificationRuleDTO] {
        try actor.require(.viewer)
        return try await NotificationRuleRecord.query(on: db).sort(\.$name).all().map(Self.dto)
    }

    func createRule(_ input: RuleInput, by actor: Actor) async throws -> NotificationRuleDTO {
        try actor.require(.operator)
        let record = NotificationRuleRecord()
        record.name = try Self.validName(input.name, what: "rule")
        if try await NotificationRuleRecord.query(on: db).filter(\.$name == record.name).first() != nil {
            throw NebulaError.conflict("A routing rule named '\(record.name)' already exists.", code: "name_taken")
        }
        record.createdBy = actor.username
        try await apply(input, to: record, creating: true)
        try await record.create(on: db)
        try await audit.record("notification.rule.create", target: "rule:\(record.name)", by: actor)
        await events.publish(.notificationRuleChanged, actor: actor.username, subject: "rule:\(record.name)", data: ["change": "created"])
        return Self.dto(record)
    }

    func updateRule(_ id: UUID, _ input: RuleInput, by actor: Actor) async throws -> NotificationRuleDTO {
        try actor.require(.operator)
        guard let record = try await NotificationRuleRecord.find(id, on: db) else { throw NebulaError.notFound("Routing rule \(id)") }
        if let name = input.name, name != record.name { record.name = try Self.validName(name, what: "rule") }
        try await apply(input, to: record, creating: false)
        try await record.update(on: db)
        try await audit.record("notification.rule.update", target: "rule:\(record.name)", by: actor)
        await events.publish(.notificationRuleChanged, actor: actor.username, subject: "rule:\(record.name)", data: ["change": "updated"])
        return Self.dto(record)
    }

    func deleteRule(_ id: UUID, by actor: Actor) async throws {
        try actor.require(.operator)
        guard let record = try await NotificationRuleRecord.find(id, on: db) else { throw NebulaError.notFound("Routing rule \(id)") }
        try await record.delete(on: db)
        try await audit.record("notification.rule.delete", target: "rule:\(record.name)", by: actor)
        await events.publish(.notificationRuleChanged, actor: actor.username, subject: "rule:\(record.name)", data: ["change": "deleted"])
    }

    private func apply(_ input: RuleInput, to record: NotificationRuleRecord, creating: Bool) async throws {
        if creating || input.categories != nil {
            let categories = (input.categories ?? []).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
            for category in categories where !Self.isSlug(category, max: 40) {
                throw NebulaError.unprocessable("Category '\(category)' must be lower-case letters, digits, '-' or '_'.", code: "invalid_category")
            }
            record.categories = try Self.json(Array(Set(categories)).sorted())
        }
        if creating || input.minSeverity != nil { record.minSeverity = (input.minSeverity ?? .warning).rawValue }
        if creating || input.channels != nil {
            let names = Array(Set(input.channels ?? [])).sorted()
            guard !names.isEmpty else { throw NebulaError.unprocessable("A rule sends to at least one channel.", code: "no_channels") }
            let known = Set(try await NotificationChannelRecord.query(on: db).filter(\.$name ~~ names).all().map(\.name))
            if let unknown = names.first(where: { !known.contains($0) }) {
                throw NebulaError.unprocessable("There is no notification channel named '\(unknown)'.", code: "unknown_channel")
            }
            record.channels = try Self.json(names)
        }
        if creating || input.quietHours != nil {
            if let quiet = input.quietHours, !(quiet.start.isEmpty && quiet.end.isEmpty) {
                let parsed = try QuietHours(start: quiet.start, end: quiet.end, timeZone: quiet.timeZone)
                record.quietStart = parsed.startText
                record.quietEnd = parsed.endText
                record.quietTimeZone = parsed.timeZone.identifier
                record.quietAllowsCritical = quiet.allowCritical ?? true
            } else {
                record.quietStart = nil
                record.quietEnd = nil
                record.quietTimeZone = nil
                record.quietAllowsCritical = true
            }
        }
        if creating || input.dedupMinutes != nil {
            let minutes = input.dedupMinutes ?? Self.defaultDedupMinutes
            guard (0...1440).contains(minutes) else {
                throw NebulaError.unprocessable("The de-duplication window is 0 to 1440 minutes.", code: "invalid_dedup_window")
            }
            record.dedupMinutes = minutes
        }
        if creating || input.enabled != nil { record.enabled = input.enabled ?? true }
    }

    // MARK: Sending

    /// How one channel treats one notification: de-duplication window and quiet hours.
    private struct Policy {
        var dedupMinutes: Int
        var quiet: QuietHours?
        var quietAllowsCritical: Bool
    }

    /// Routes and queues `request`; answers one delivery per channel (sent later by a job).
    /// Named channels that do not exist answer 422 `unknown_channel` and nothing is queued.
    @discardableResult
    func notify(_ request: NotifyRequest, by actor: Actor) async throws -> [NotificationDeliveryDTO] {
        try actor.require(.operator)
        var request = request
        request.title = String(request.title.trimmingCharacters(in: .whitespacesAndNewlines).prefix(Self.maxTitle))
        request.body = String(request.body.prefix(Self.maxBody))
        request.category = request.category.lowercased()
        guard !request.title.isEmpty else { throw NebulaError.unprocessable("A notification needs a title.", code: "invalid_notification") }
        guard Self.isSlug(request.category, max: 40) else {
            throw NebulaError.unprocessable("Category '\(request.category)' must be lower-case letters, digits, '-' or '_'.", code: "invalid_category")
        }
        let targets = try await targets(for: request)
        var answered: [NotificationDeliveryDTO] = []
        let moment = now()
        for (channel, policy) in targets {
            let delivery = Self.delivery(for: channel, request: request, by: actor)
            if !channel.enabled {
                delivery.status = DeliveryStatus.suppressed.rawValue
                delivery.lastError = "channel is disabled"
            } else if policy.dedupMinutes > 0, try await isDuplicate(delivery, within: policy.dedupMinutes, at: moment) {
                delivery.status = DeliveryStatus.suppressed.rawValue
                delivery.lastError = "duplicate within \(policy.dedupMinutes) min"
            } else if let quiet = policy.quiet, quiet.contains(moment), !(policy.quietAllowsCritical && request.severity == .critical) {
                delivery.status = DeliveryStatus.held.rawValue
                delivery.deliverAt = quiet.nextEnd(after: moment)
            } else {
                delivery.status = DeliveryStatus.pending.rawValue
                delivery.deliverAt = moment
            }
            do {
                try await delivery.create(on: db)
            } catch where request.sourceEvent != nil {
                continue  // another replica recorded this event's delivery to this channel
            }
            if let runAt = delivery.deliverAt {
                let job = try await jobs.enqueue(type: NotificationDeliveryJob.type, payload: try Self.json(NotificationDeliveryJob.Payload(deliveryID: try delivery.requireID())),
                                                 runAt: runAt, by: actor)
                delivery.jobID = job.id
                try await delivery.update(on: db)
            }
            answered.append(Self.dto(delivery))
        }
        return answered
    }

    /// A notification a person sends from the API: routed like any other, and audited.
    func send(_ request: NotifyRequest, by actor: Actor) async throws -> [NotificationDeliveryDTO] {
        let deliveries: [NotificationDeliveryDTO]
        do {
            deliveries = try await notify(request, by: actor)
        } catch {
            try await audit.record("notification.send", target: request.channels.map { "channels:\($0.joined(separator: ","))" }, outcome: .failure,
                                   by: actor, detail: "\(request.title): \(error)")
            throw error
        }
        try await audit.record("notification.send", target: "channels:\(deliveries.map(\.channel).joined(separator: ","))", by: actor, detail: request.title)
        return deliveries
    }

    private func targets(for request: NotifyRequest) async throws -> [(NotificationChannelRecord, Policy)] {
        if let names = request.channels {
            let unique = Array(Set(names))
            let records = try await NotificationChannelRecord.query(on: db).filter(\.$name ~~ unique).all()
            if let missing = unique.sorted().first(where: { name in !records.contains { $0.name == name } }) {
                let all = try await NotificationChannelRecord.query(on: db).sort(\.$name).all().map(\.name)
                throw NebulaError.unprocessable("There is no notification channel named '\(missing)'" +
                                                (all.isEmpty ? "; create one under Notifications." : " (channels: \(all.joined(separator: ", ")))."),
                                                code: "unknown_channel")
            }
            let policy = Policy(dedupMinutes: request.dedupKey == nil ? 0 : Self.defaultDedupMinutes, quiet: nil, quietAllowsCritical: true)
            return records.sorted { $0.name < $1.name }.map { ($0, policy) }
        }
        let channels = try await NotificationChannelRecord.query(on: db).sort(\.$name).all()
        let rules = try await NotificationRuleRecord.query(on: db).filter(\.$enabled == true).sort(\.$name).all()
        if rules.isEmpty {
            guard request.severity.rank >= NotificationSeverity.warning.rank else { return [] }
            let policy = Policy(dedupMinutes: Self.defaultDedupMinutes, quiet: nil, quietAllowsCritical: true)
            return channels.filter(\.enabled).map { ($0, policy) }
        }
        var chosen: [(NotificationChannelRecord, Policy)] = []
        for rule in rules {
            let categories = Self.list(rule.categories)
            guard categories.isEmpty || categories.contains(request.category),
                  request.severity.rank >= (NotificationSeverity(rawValue: rule.minSeverity) ?? .warning).rank else { continue }
            let quiet = rule.quietStart.flatMap { start in
                rule.quietEnd.flatMap { end in try? QuietHours(start: start, end: end, timeZone: rule.quietTimeZone ?? "UTC") }
            }
            let policy = Policy(dedupMinutes: rule.dedupMinutes, quiet: quiet, quietAllowsCritical: rule.quietAllowsCritical)
            for name in Self.list(rule.channels) {
                if let channel = channels.first(where: { $0.name == name }), !chosen.contains(where: { $0.0.name == name }) {
                    chosen.append((channel, policy))
                }
            }
        }
        return chosen
    }

    private func isDuplicate(_ delivery: NotificationDeliveryRecord, within minutes: Int, at moment: Date) async throws -> Bool {
        let since = moment.addingTimeInterval(-Double(minutes) * 60)
        let counted = [DeliveryStatus.pending, .held, .retrying, .sent].map(\.rawValue)
        return try await NotificationDeliveryRecord.query(on: db)
            .filter(\.$channelName == delivery.channelName).filter(\.$dedupKey == delivery.dedupKey)
            .filter(\.$createdAt >= since).filter(\.$status ~~ counted).first() != nil
    }

    /// One attempt of a queued delivery, by its job. Throws to have the job retried; returns when
    /// the delivery is settled (sent, or failed for good).
    func deliver(_ id: UUID, attempt: Int, maxAttempts: Int) async throws {
        guard let delivery = try await NotificationDeliveryRecord.find(id, on: db) else { return }
        guard [DeliveryStatus.pending, .held, .retrying].map(\.rawValue).contains(delivery.status) else { return }
        guard let channelID = delivery.channelID, let channel = try await NotificationChannelRecord.find(channelID, on: db) else {
            try await settleFailed(delivery, reason: "the channel was deleted")
            return
        }
        if await send(delivery, channel: channel) { return }
        // Settings the service refused (bad channel, wrong password, untrusted certificate) do not fix themselves.
        let permanent = [NotificationError.Code.invalidChannel, .authenticationFailed, .tlsFailed].contains { (delivery.lastError ?? "").hasPrefix($0.rawValue + ":") }
        if attempt < maxAttempts, !permanent {
            delivery.status = DeliveryStatus.retrying.rawValue
            try await delivery.update(on: db)
            throw NebulaError.badGateway("Delivery to \(channel.name) failed: \(delivery.lastError ?? "unknown error")", code: "notification_failed")
        }
        try await settleFailed(delivery, reason: nil)
    }

    /// Retries a failed delivery now (a new job).
    func retry(_ id: UUID, by actor: Actor) async throws -> NotificationDeliveryDTO {
        try actor.require(.operator)
        guard let delivery = try await NotificationDeliveryRecord.find(id, on: db) else { throw NebulaError.notFound("Delivery \(id)") }
        guard delivery.status == DeliveryStatus.failed.rawValue || delivery.status == DeliveryStatus.held.rawValue else {
            throw NebulaError.conflict("Only a failed or held delivery can be sent again; this one is \(delivery.status).", code: "not_retryable")
        }
        delivery.status = DeliveryStatus.pending.rawValue
        delivery.deliverAt = now()
        let job = try await jobs.enqueue(type: NotificationDeliveryJob.type, payload: try Self.json(NotificationDeliveryJob.Payload(deliveryID: id)), by: actor)
        delivery.jobID = job.id
        try await delivery.update(on: db)
        try await audit.record("notification.delivery.retry", target: "channel:\(delivery.channelName)", by: actor, detail: delivery.title)
        return Self.dto(delivery)
    }

    func deliveries(status: DeliveryStatus?, channel: String?, limit: Int, offset: Int, by actor: Actor) async throws -> ListPage<NotificationDeliveryDTO> {
        try actor.require(.viewer)
        let query = NotificationDeliveryRecord.query(on: db)
        if let status { query.filter(\.$status == status.rawValue) }
        if let channel { query.filter(\.$channelName == channel) }
        let total = try await query.count()
        let items = try await query.sort(\.$createdAt, .descending).range(offset..<(offset + limit)).all()
        return ListPage(items: items.map(Self.dto), total: total)
    }

    /// Deletes sent, failed and suppressed deliveries created before `cutoff` (retention).
    @Sendable func deleteDeliveries(settledBefore cutoff: Date) async throws -> Int {
        let settled = [DeliveryStatus.sent, .failed, .suppressed].map(\.rawValue)
        let query = NotificationDeliveryRecord.query(on: db).filter(\.$createdAt < cutoff).filter(\.$status ~~ settled)
        let count = try await query.count()
        try await query.delete()
        return count
    }

    /// Sends once and records the outcome on `delivery`; true when sent.
    private func send(_ delivery: NotificationDeliveryRecord, channel: NotificationChannelRecord) async -> Bool {
        delivery.attempts += 1
        let fields = (try? JSONDecoder().decode([NotificationMessage.Field].self, from: Data(delivery.fields.utf8))) ?? []
        let message = NotificationMessage(title: delivery.title, message: delivery.body,
                                          severity: NotificationSeverity(rawValue: delivery.severity) ?? .info,
                                          category: NotificationMessage.Category(rawValue: delivery.category),
                                          url: delivery.url.flatMap(URL.init(string:)), fields: fields)
        var outcome: String?
        do {
            guard let kind = NotificationChannelKind(rawValue: channel.kind) else { throw NotificationError.invalidChannel("unknown kind \(channel.kind)") }
            let secret = channel.hasSecret ? try await secrets.value(of: Self.secretName(channel.name)) : nil
            let target = try Self.makeChannel(kind: kind, settings: try Self.decodeSettings(channel.settings), secret: secret)
            try await sender.send(message, via: target)
        } catch let error as NotificationError {
            outcome = "\(error.code.rawValue): \(error.description)"
        } catch let error as NebulaError {
            outcome = "\(NotificationError.Code.invalidChannel.rawValue): \(error.message)"
        } catch {
            outcome = "error: \(error)"
        }
        delivery.lastError = outcome.map { String($0.prefix(500)) }
        if outcome == nil {
            delivery.status = DeliveryStatus.sent.rawValue
            delivery.sentAt = now()
        } else if delivery.category == "test" {
            delivery.status = DeliveryStatus.failed.rawValue
        }
        try? await delivery.update(on: db)
        if outcome == nil {
            await events.publish(.notificationDelivered, subject: "channel:\(channel.name)", data: Self.eventData(delivery))
        } else if delivery.category == "test" {
            await events.publish(.notificationFailed, subject: "channel:\(channel.name)", data: Self.eventData(delivery))
        }
        return outcome == nil
    }

    private func settleFailed(_ delivery: NotificationDeliveryRecord, reason: String?) async throws {
        delivery.status = DeliveryStatus.failed.rawValue
        if let reason { delivery.lastError = reason }
        try await delivery.update(on: db)
        await events.publish(.notificationFailed, subject: "channel:\(delivery.channelName)", data: Self.eventData(delivery))
    }

    private func channelRecord(_ id: UUID) async throws -> NotificationChannelRecord {
        guard let record = try await NotificationChannelRecord.find(id, on: db) else { throw NebulaError.notFound("Notification channel \(id)") }
        return record
    }
}

// MARK: - Building and mapping

extension NotificationsService {
    /// The usable channel for stored settings and secret; a bad combination is 422 `invalid_channel`.
    static func makeChannel(kind: NotificationChannelKind, settings: ChannelSettings, secret: String?) throws(NebulaError) -> NotificationChannel {
        do {
            switch kind {
            case .discord:
                return try .discord(webhookURL: secret ?? "")
            case .webhook:
                return try .webhook(url: settings.url ?? "", secret: secret ?? "")
            case .ntfy:
                return try .ntfy(serverURL: settings.url ?? "", topic: settings.topic ?? "", token: secret)
            case .gotify:
                return try .gotify(serverURL: settings.url ?? "", appToken: secret ?? "")
            case .email:
                let security = try settings.security.map { raw throws(NotificationError) in
                    guard let mode = SMTPSecurity(rawValue: raw) else {
                        throw NotificationError.invalidChannel("security must be starttls, tls or none")
                    }
                    return mode
                } ?? .starttls
                return try .email(host: settings.host ?? "", port: settings.port, security: security, username: settings.username,
                                  password: secret, from: settings.from ?? "", to: settings.to ?? [], trustedCAPEM: settings.caCertificate,
                                  subjectPrefix: "[Nebula] ", allowInsecureAuthentication: settings.allowInsecureAuthentication ?? false)
            }
        } catch let error as NotificationError {
            throw .unprocessable("The \(kind.label) settings are not usable: \(error.detail ?? error.description)", code: "invalid_channel")
        } catch {
            throw .unprocessable("The \(kind.label) settings are not usable: \(error)", code: "invalid_channel")
        }
    }

    /// Splits `input` into stored settings and the vault secret, keeping what an update leaves out.
    static func settings(kind: NotificationChannelKind, input: ChannelInput, existing: ChannelSettings?,
                         storedSecret: String?) throws(NebulaError) -> (ChannelSettings, String?) {
        var settings = existing ?? ChannelSettings()
        func given(_ value: String?) -> String? {
            guard let value = value?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
            return value
        }
        var secret = given(input.secret) ?? storedSecret
        switch kind {
        case .discord:
            if let url = given(input.url) { secret = url }
            settings.url = secret.map(redactedDiscordURL)
        case .webhook, .gotify:
            if let url = given(input.url) { settings.url = url }
        case .ntfy:
            if let url = given(input.url) { settings.url = url }
            if let topic = given(input.topic) { settings.topic = topic }
            if input.secret != nil, given(input.secret) == nil { secret = nil }  // an empty token removes it
        case .email:
            if let host = given(input.host) { settings.host = host }
            if let port = input.port { settings.port = port }
            if let security = given(input.security) { settings.security = security }
            if input.username != nil { settings.username = given(input.username) }
            if let from = given(input.from) { settings.from = from }
            if let to = input.to { settings.to = to.compactMap(given) }
            if input.caCertificate != nil { settings.caCertificate = given(input.caCertificate) }
            if let allow = input.allowInsecureAuthentication { settings.allowInsecureAuthentication = allow }
        }
        return (settings, secret)
    }

    /// `https://discord.com/api/webhooks/<id>/…`: enough to recognise, nothing to abuse.
    static func redactedDiscordURL(_ url: String) -> String {
        guard let parsed = URL(string: url), let host = parsed.host else { return "…" }
        let parts = parsed.path.split(separator: "/")
        let id = parts.count >= 3 ? String(parts[2]) : "?"
        return "\(parsed.scheme ?? "https")://\(host)/api/webhooks/\(id)/…"
    }

    static func validName(_ raw: String?, what: String) throws(NebulaError) -> String {
        let name = (raw ?? "").trimmingCharacters(in: .whitespaces)
        guard isSlug(name, max: 40) else {
            throw .unprocessable("A \(what) name is 1–40 lower-case letters, digits, '-' or '_', starting with a letter or digit.", code: "invalid_name")
        }
        return name
    }

    static func isSlug(_ value: String, max: Int) -> Bool {
        guard let first = value.first, (1...max).contains(value.count), first.isASCII, first.isLetter || first.isNumber else { return false }
        return value.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    static func delivery(for channel: NotificationChannelRecord, request: NotifyRequest, by actor: Actor) -> NotificationDeliveryRecord {
        let delivery = NotificationDeliveryRecord()
        delivery.channelID = channel.id
        delivery.channelName = channel.name
        delivery.category = request.category
        delivery.severity = request.severity.rawValue
        delivery.title = request.title
        delivery.body = request.body
        let fields = request.fields.sorted { $0.key < $1.key }.map { NotificationMessage.Field(name: $0.key, value: $0.value) }
        delivery.fields = (try? json(fields)) ?? "[]"
        delivery.url = request.url
        delivery.incidentID = request.incidentID
        delivery.dedupKey = String((request.dedupKey ?? "\(request.category)|\(request.title)").prefix(300))
        delivery.sourceEvent = request.sourceEvent
        delivery.attempts = 0
        delivery.createdBy = actor.username
        return delivery
    }

    static func eventData(_ delivery: NotificationDeliveryRecord) -> [String: String] {
        var data = ["deliveryID": delivery.id?.uuidString ?? "", "channel": delivery.channelName, "category": delivery.category,
                    "severity": delivery.severity, "title": delivery.title, "status": delivery.status]
        if let incident = delivery.incidentID { data["incidentID"] = incident.uuidString }
        if let error = delivery.lastError, delivery.status == DeliveryStatus.failed.rawValue { data["error"] = error }
        return data
    }

    static func dto(_ record: NotificationChannelRecord) -> NotificationChannelDTO { dto(record, latest: nil) }

    static func dto(_ record: NotificationChannelRecord, latest: NotificationDeliveryRecord?) -> NotificationChannelDTO {
        NotificationChannelDTO(id: record.id ?? UUID(), name: record.name, kind: NotificationChannelKind(rawValue: record.kind) ?? .webhook,
                               enabled: record.enabled, settings: (try? decodeSettings(record.settings)) ?? ChannelSettings(),
                               hasSecret: record.hasSecret, lastStatus: latest?.status, lastDeliveryAt: latest?.createdAt, createdAt: record.createdAt)
    }

    static func dto(_ record: NotificationRuleRecord) -> NotificationRuleDTO {
        NotificationRuleDTO(id: record.id ?? UUID(), name: record.name, categories: list(record.categories),
                            minSeverity: NotificationSeverity(rawValue: record.minSeverity) ?? .warning, channels: list(record.channels),
                            quietHours: record.quietStart.map { QuietHoursDTO(start: $0, end: record.quietEnd ?? "", timeZone: record.quietTimeZone ?? "UTC",
                                                                                allowCritical: record.quietAllowsCritical) },
                            dedupMinutes: record.dedupMinutes, enabled: record.enabled)
    }

    static func dto(_ record: NotificationDeliveryRecord) -> NotificationDeliveryDTO {
        NotificationDeliveryDTO(id: record.id ?? UUID(), channel: record.channelName, category: record.category,
                                severity: NotificationSeverity(rawValue: record.severity) ?? .info, title: record.title, body: record.body,
                                status: DeliveryStatus(rawValue: record.status) ?? .pending, attempts: record.attempts, lastError: record.lastError,
                                incidentId: record.incidentID, jobId: record.jobID, deliverAt: record.deliverAt, createdAt: record.createdAt, sentAt: record.sentAt)
    }

    static func list(_ json: String) -> [String] {
        (try? JSONDecoder().decode([String].self, from: Data(json.utf8))) ?? []
    }

    static func decodeSettings(_ json: String) throws -> ChannelSettings {
        try JSONDecoder().decode(ChannelSettings.self, from: Data(json.utf8))
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
