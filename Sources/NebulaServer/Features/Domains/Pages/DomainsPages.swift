import DNSProviders
import Foundation
import NebulaCore
import Plot
import Vapor

/// `/domains`: the domains with their push state, adding a domain, dynamic DNS. `/domains/{id}`:
/// one domain's records (add, delete), push, drift against the provider, propagation, import
/// and export.
enum DomainsPages {
    static func register(_ page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void) {
        page(.GET, ["domains"], .viewer, nil, overview)
        page(.POST, ["domains"], .operator, "dns.domain.create", createDomain)
        page(.GET, ["domains", ":id"], .viewer, nil, detail)
        page(.POST, ["domains", ":id", "delete"], .operator, "dns.domain.delete", deleteDomain)
        page(.POST, ["domains", ":id", "records"], .operator, "dns.record.create", createRecord)
        page(.POST, ["domains", ":id", "records", ":recordID", "delete"], .operator, "dns.record.delete", deleteRecord)
        page(.POST, ["domains", ":id", "push"], .operator, "dns.push", push)
        page(.POST, ["domains", ":id", "import"], .operator, "dns.records.import", importRecords)
        page(.POST, ["dns", "dynamic"], .operator, "dns.dynamic.settings", updateDynamic)
        page(.POST, ["dns", "dynamic", "run"], .operator, "dns.dynamic.run", runDynamic)
    }

    static let domainFields = ["name", "provider", "apiURL", "serverID", "nameservers", "defaultTTL"]
    static let recordFields = ["name", "type", "content", "ttl", "comment"]

    // MARK: Overview

    @Sendable static func overview(req: Request) async throws -> Response {
        try await renderOverview(req, flash: nil, status: .ok)
    }

    static func renderOverview(_ req: Request, flash: Flash?, status: HTTPResponseStatus, form: [String: String] = [:]) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let domains = try await services.domains.domains(by: actor)
        let dynamic = try await services.domains.dynamicSettings(by: actor)
        var context = try await req.pageContext("Domains & DNS", active: .domains)
        if let flash { context.flash = flash }
        let canOperate = actor.role >= .operator
        let csrf = context.csrfToken
        let html = Layout.page(context) {
            Card(title: "Domains", subtitle: "Records are edited here first; Push makes the provider match in one atomic change. Provider keys are kept in the vault.") {
                DataTable(caption: "Domains", headers: ["Domain", "Provider", "Records", "State", "Last push"], rows: domains.map { domain in
                    [Link(domain.name, url: "/domains/\(domain.id)") as any Component,
                     Text(domain.provider.label),
                     Text("\(domain.recordCount)"),
                     stateBadge(domain),
                     domain.lastPushedAt.map { RelativeTime($0) as any Component } ?? Text("never")]
                }, emptyTitle: "No domains yet", emptyMessage: canOperate ? "Add one below: PowerDNS, Cloudflare, or manual to only track records." : "An operator can add one.")
            }
            if canOperate {
                Card(title: "Add a domain", subtitle: "Nebula checks that it can reach the provider before saving anything.") {
                    CSRFForm(action: "/domains", csrfToken: csrf, classes: "stack domain-form") {
                        FormField(label: "Domain", name: "name", value: form["name"] ?? "", placeholder: "example.com", required: true)
                        SelectField(label: "Provider", name: "provider", options: DNSProviderKind.allCases.map { ($0.rawValue, $0.label) },
                                    selected: form["provider"] ?? DNSProviderKind.manual.rawValue)
                        FormField(label: "API URL", name: "apiURL", value: form["apiURL"] ?? "", placeholder: "http://ns1.lan:8081",
                                  hint: "PowerDNS: the API address (webserver-address:webserver-port). Cloudflare: leave empty.")
                        FormField(label: "API key or token", name: "secret", type: "password",
                                  hint: "PowerDNS api-key, or a Cloudflare API token with Zone.DNS edit. Stored encrypted; never shown again.", autocomplete: "off")
                        FormField(label: "Authoritative name servers", name: "nameservers", value: form["nameservers"] ?? "",
                                  placeholder: "ns1.example.com, 192.0.2.53:53", hint: "Optional, comma-separated: where the propagation check asks. Empty: the zone's NS records.")
                        FormField(label: "Default TTL (seconds)", name: "defaultTTL", type: "number", value: form["defaultTTL"] ?? "300")
                        tag("label", [.value("class", "checkbox")]) {
                            voidTag("input", [.value("type", "checkbox"), .value("name", "importExisting"), .value("value", "on"), .flag("checked", form["importExisting"] != nil)])
                            Text(" Copy the records the provider already has")
                        }
                        SubmitButton("Add domain")
                    }
                }
            }
            Card(title: "Dynamic DNS", subtitle: "Records marked “follows public IP” are pointed at this network's public address and pushed when it changes.") {
                DetailList([
                    ("State", StatusBadge(dynamic.enabled ? "on, every \(dynamic.intervalMinutes) min" : "off", tone: dynamic.enabled ? .green : .grey)),
                    ("Records following the IP", Text("\(dynamic.dynamicRecords)")),
                    ("Public IPv4", Mono(dynamic.lastIPv4 ?? "not looked up yet")),
                    ("Public IPv6", Mono(dynamic.lastIPv6 ?? "—")),
                    ("Last checked", dynamic.lastCheckedAt.map { RelativeTime($0) as any Component } ?? Text("never")),
                    ("Last change", dynamic.lastChangedAt.map { RelativeTime($0) as any Component } ?? Text("never")),
                    ("Last problem", Text(dynamic.lastError ?? "none")),
                ])
                if canOperate {
                    CSRFForm(action: "/dns/dynamic", csrfToken: csrf, classes: "stack") {
                        tag("label", [.value("class", "checkbox")]) {
                            voidTag("input", [.value("type", "checkbox"), .value("name", "enabled"), .value("value", "on"), .flag("checked", dynamic.enabled)])
                            Text(" Keep dynamic records up to date")
                        }
                        FormField(label: "IP endpoints", name: "endpoints", type: "textarea", value: dynamic.endpoints.joined(separator: "\n"),
                                  hint: "One URL per line; each answers with the caller's address as text or {\"ip\": …}. Asked in order until one answers.")
                        FormField(label: "Interval (minutes)", name: "intervalMinutes", type: "number", value: String(dynamic.intervalMinutes))
                        Div {
                            SubmitButton("Save", style: .secondary)
                        }.class("button-row")
                    }
                    CSRFForm(action: "/dns/dynamic/run", csrfToken: csrf, classes: "inline-form") { SubmitButton("Check the public IP now", style: .secondary) }
                }
            }
        }
        return req.render(html, status: status)
    }

    // MARK: One domain

    @Sendable static func detail(req: Request) async throws -> Response {
        try await renderDetail(req, flash: nil, status: .ok)
    }

    static func renderDetail(_ req: Request, flash: Flash?, status: HTTPResponseStatus, form: [String: String] = [:]) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let id = try req.uuidParameter()
        let domain = try await services.domains.domain(id, by: actor)
        let records = try await services.domains.records(of: id, by: actor)
        var context = try await req.pageContext(domain.name, active: .domains)
        if let flash { context.flash = flash }
        let canOperate = actor.role >= .operator
        let csrf = context.csrfToken
        // The comparisons ask other servers: only when the user asks for them.
        var drift: Result<DriftReport, NebulaError>?
        if req.query[String.self, at: "drift"] != nil, domain.provider != .manual {
            do { drift = .success(try await services.domains.drift(id, by: actor)) } catch let error as NebulaError { drift = .failure(error) }
        }
        var propagation: Result<[PropagationReport], NebulaError>?
        if req.query[String.self, at: "propagation"] != nil {
            do { propagation = .success(try await services.domains.propagation(id, by: actor)) } catch let error as NebulaError { propagation = .failure(error) }
        }
        let html = Layout.page(context) {
            Card(title: domain.name, subtitle: "\(domain.provider.label) · default TTL \(domain.defaultTTL) s",
                 actions: Div {
                     LinkButton("Check drift", href: "/domains/\(domain.id)?drift=1")
                     LinkButton("Check propagation", href: "/domains/\(domain.id)?propagation=1")
                     LinkButton("Export JSON", href: "/api/v1/domains/\(domain.id)/records/export?format=json")
                     LinkButton("Export CSV", href: "/api/v1/domains/\(domain.id)/records/export?format=csv")
                 }.class("button-row")) {
                DetailList([
                    ("State", stateBadge(domain)),
                    ("Provider", Text(domain.provider.label + (domain.settings.apiURL.map { " at \($0)" } ?? ""))),
                    ("Last push", domain.lastPushedAt.map { RelativeTime($0) as any Component } ?? Text("never")),
                    ("Name servers checked", Text((domain.settings.nameservers ?? []).isEmpty ? "the zone's NS records" : (domain.settings.nameservers ?? []).joined(separator: ", "))),
                ])
                if let error = domain.lastPushError { Paragraph("Last push failed: " + error).class("form-error") }
                if canOperate {
                    Div {
                        CSRFForm(action: "/domains/\(domain.id)/push", csrfToken: csrf, classes: "inline-form") {
                            SubmitButton(domain.provider == .manual ? "Mark as published" : "Push to \(domain.provider.label)", style: domain.pendingChanges ? .primary : .secondary)
                        }
                        CSRFForm(action: "/domains/\(domain.id)/delete", csrfToken: csrf, classes: "inline-form",
                                 confirm: "Forget \(domain.name) and its \(records.count) records in Nebula? The provider's zone is not touched.") {
                            SubmitButton("Delete domain", style: .danger)
                        }
                    }.class("button-row")
                }
            }
            if let drift { driftCard(drift) }
            if let propagation { propagationCard(propagation) }
            Card(title: "Records", subtitle: "\(records.count) record(s)" + (domain.pendingChanges ? " · changes not pushed yet" : "")) {
                DataTable(caption: "DNS records", headers: ["Name", "Type", "Content", "TTL", ""], rows: records.map { record in
                    [Div {
                        Mono(record.name)
                        if record.dynamic { StatusBadge("follows public IP", tone: .blue) }
                        if let comment = record.comment { Paragraph(comment).class("muted") }
                     } as any Component,
                     StatusBadge(record.type.rawValue, tone: .grey),
                     Mono(record.content),
                     Text("\(record.ttl)"),
                     canOperate ? CSRFForm(action: "/domains/\(domain.id)/records/\(record.id)/delete", csrfToken: csrf, classes: "inline-form",
                                           confirm: "Delete \(record.type.rawValue) \(record.name) → \(record.content)?") { SubmitButton("Delete", style: .danger) } as any Component
                               : Text("")]
                }, emptyTitle: "No records yet", emptyMessage: canOperate ? "Add one below or import a file." : "An operator can add records.")
            }
            if canOperate {
                Card(title: "Add a record", subtitle: "Name relative to \(domain.name) (www, @ for the apex) or in full.") {
                    CSRFForm(action: "/domains/\(domain.id)/records", csrfToken: csrf, classes: "stack record-form") {
                        FormField(label: "Name", name: "name", value: form["name"] ?? "", placeholder: "www")
                        SelectField(label: "Type", name: "type", options: DNSRecordType.allCases.map { ($0.rawValue, $0.rawValue) }, selected: form["type"] ?? "A")
                        FormField(label: "Content", name: "content", value: form["content"] ?? "", placeholder: "192.0.2.10", required: true,
                                  hint: "A: 192.0.2.10 · CNAME: host.example.net · MX: 10 mail.example.com · SRV: 10 5 5060 sip.example.com · CAA: 0 issue \"letsencrypt.org\" · TXT: text")
                        FormField(label: "TTL (seconds)", name: "ttl", type: "number", value: form["ttl"] ?? String(domain.defaultTTL))
                        FormField(label: "Comment", name: "comment", value: form["comment"] ?? "")
                        tag("label", [.value("class", "checkbox")]) {
                            voidTag("input", [.value("type", "checkbox"), .value("name", "dynamic"), .value("value", "on"), .flag("checked", form["dynamic"] != nil)])
                            Text(" Follows the public IP (dynamic DNS; A and AAAA only)")
                        }
                        SubmitButton("Add record")
                    }
                }
                Card(title: "Import records", subtitle: "Every row is checked first; when one is wrong nothing is imported and each problem is listed.") {
                    CSRFForm(action: "/domains/\(domain.id)/import", csrfToken: csrf, classes: "stack") {
                        SelectField(label: "Source", name: "format", options: [("csv", "CSV (name,type,content,ttl,dynamic,comment)"), ("json", "JSON (as exported)")]
                                        + (domain.provider == .manual ? [] : [("provider", "The provider's current records")]),
                                    selected: form["format"] ?? "csv")
                        FormField(label: "File content", name: "data", type: "textarea", value: form["data"] ?? "", placeholder: "name,type,content,ttl\nwww,A,192.0.2.10,300")
                        SelectField(label: "Mode", name: "mode", options: [("merge", "Merge: add what is new"), ("replace", "Replace: the file becomes the zone")],
                                    selected: form["mode"] ?? "merge")
                        SubmitButton("Import", style: .secondary)
                    }
                }
            }
        }
        return req.render(html, status: status)
    }

    static func driftCard(_ drift: Result<DriftReport, NebulaError>) -> Card {
        Card(title: "Drift against the provider") {
            switch drift {
            case .failure(let error):
                Paragraph(error.message).class("form-error")
            case .success(let report) where report.inSync:
                Paragraph("In sync: the provider serves exactly Nebula's records.").class("muted")
            case .success(let report):
                DataTable(caption: "Differences", headers: ["Name", "Type", "Nebula", "Provider"], rows:
                    report.onlyInNebula.map { [Mono($0.name) as any Component, Text($0.type.rawValue), Mono($0.contents.joined(separator: "\n")), Text("missing")] }
                    + report.different.map { [Mono($0.nebula.name) as any Component, Text($0.nebula.type.rawValue),
                                               Mono($0.nebula.contents.joined(separator: "\n") + " (TTL \($0.nebula.ttl))"),
                                               Mono($0.provider.contents.joined(separator: "\n") + " (TTL \($0.provider.ttl))")] }
                    + report.onlyAtProvider.map { [Mono($0.name) as any Component, Text($0.type.rawValue), Text("not managed"), Mono($0.contents.joined(separator: "\n"))] },
                    emptyTitle: "", emptyMessage: "")
                Paragraph("Push replaces what differs. Sets only at the provider are left alone; import them to manage them here.").class("muted")
            }
        }
    }

    static func propagationCard(_ propagation: Result<[PropagationReport], NebulaError>) -> Card {
        Card(title: "Propagation", subtitle: "What each authoritative server answers right now.") {
            switch propagation {
            case .failure(let error):
                Paragraph(error.message).class("form-error")
            case .success(let reports):
                DataTable(caption: "Propagation", headers: ["Name", "Type", "Expected", "Servers"], rows: reports.map { report in
                    [Mono(report.name) as any Component, Text(report.type.rawValue), Mono(report.expected.joined(separator: "\n")),
                     Div {
                         for result in report.results {
                             Div {
                                 StatusBadge(result.server, tone: result.matches ? .green : .red)
                                 Text(" " + (result.error ?? (result.answers.isEmpty ? "no answer" : result.answers.joined(separator: ", "))))
                             }
                         }
                     }]
                }, emptyTitle: "Nothing to check", emptyMessage: "The domain has no records yet.")
            }
        }
    }

    static func stateBadge(_ domain: DomainDTO) -> any Component {
        if domain.lastPushError != nil { return StatusBadge("push failed", tone: .red) }
        if domain.pendingChanges { return StatusBadge("changes not pushed", tone: .amber) }
        return StatusBadge(domain.provider == .manual ? "tracked" : "in sync", tone: .green)
    }

    // MARK: Actions

    @Sendable static func createDomain(req: Request) async throws -> Response {
        var form: [String: String] = [:]
        for name in domainFields { form[name] = req.formField(name) ?? "" }
        if req.formField("importExisting") != nil { form["importExisting"] = "on" }
        func value(_ name: String) -> String? { form[name].flatMap { $0.isEmpty ? nil : $0 } }
        do {
            guard let provider = DNSProviderKind(rawValue: form["provider"] ?? "") else {
                throw NebulaError.unprocessable("Choose the provider.", code: "invalid_provider")
            }
            let ttl = try value("defaultTTL").map { raw -> Int in
                guard let ttl = Int(raw) else { throw NebulaError.unprocessable("The TTL is a number of seconds.", code: "invalid_ttl") }
                return ttl
            }
            let input = DomainInput(name: form["name"], provider: provider, apiURL: value("apiURL"), serverID: value("serverID"),
                                    nameservers: value("nameservers").map(commaList), secret: req.formField("secret").flatMap { $0.isEmpty ? nil : $0 },
                                    defaultTTL: ttl, importExisting: form["importExisting"] != nil)
            let domain = try await req.nebula.domains.createDomain(input, by: try req.actor)
            return req.redirect(to: "/domains/\(domain.id)", flash: Flash(kind: .success, message: "\(domain.name) added with \(domain.recordCount) record(s)."))
        } catch let error as NebulaError where error.status.code < 500 || error.status == .badGateway {
            return try await renderOverview(req, flash: Flash(kind: .error, message: error.message), status: error.status, form: form)
        }
    }

    @Sendable static func deleteDomain(req: Request) async throws -> Response {
        do {
            try await req.nebula.domains.deleteDomain(try req.uuidParameter(), by: try req.actor)
            return req.redirect(to: "/domains", flash: Flash(kind: .success, message: "The domain is deleted from Nebula."))
        } catch let error as NebulaError {
            return req.redirect(to: "/domains", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func createRecord(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        var form: [String: String] = [:]
        for name in recordFields { form[name] = req.formField(name) ?? "" }
        if req.formField("dynamic") != nil { form["dynamic"] = "on" }
        do {
            guard let type = DNSRecordType(rawValue: form["type"] ?? "") else { throw NebulaError.unprocessable("Choose the record type.", code: "invalid_type") }
            let ttlText = form["ttl"] ?? ""
            guard ttlText.isEmpty || Int(ttlText) != nil else { throw NebulaError.unprocessable("The TTL is a number of seconds.", code: "invalid_ttl") }
            let input = DNSRecordInput(name: form["name"], type: type, content: form["content"], ttl: Int(ttlText), dynamic: form["dynamic"] != nil,
                                       comment: form["comment"])
            let record = try await req.nebula.domains.createRecord(in: id, input, by: try req.actor)
            return req.redirect(to: "/domains/\(id)", flash: Flash(kind: .success, message: "Added \(record.type.rawValue) \(record.name) → \(record.content). Push to publish it."))
        } catch let error as NebulaError where error.status.code < 500 {
            return try await renderDetail(req, flash: Flash(kind: .error, message: error.message), status: error.status, form: form)
        }
    }

    @Sendable static func deleteRecord(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        do {
            try await req.nebula.domains.deleteRecord(in: id, try req.uuidParameter("recordID"), by: try req.actor)
            return req.redirect(to: "/domains/\(id)", flash: Flash(kind: .success, message: "The record is deleted. Push to publish the change."))
        } catch let error as NebulaError {
            return req.redirect(to: "/domains/\(id)", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func push(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        do {
            let outcome = try await req.nebula.domains.push(id, by: try req.actor)
            let message = outcome.domain.provider == .manual ? "Marked as published."
                : outcome.upToDate ? "The provider already matched; nothing was sent."
                : "Pushed: \(outcome.replaced) set(s) replaced, \(outcome.deleted) deleted."
            return req.redirect(to: "/domains/\(id)", flash: Flash(kind: .success, message: message))
        } catch let error as NebulaError {
            return req.redirect(to: "/domains/\(id)", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func importRecords(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        let form = ["format": req.formField("format") ?? "csv", "data": req.formField("data") ?? "", "mode": req.formField("mode") ?? "merge"]
        do {
            let outcome = try await req.nebula.domains.importFile(id, RecordsImportInput(format: form["format"], data: form["data"], mode: form["mode"]),
                                                                   by: try req.actor)
            let skipped = outcome.conflicts.isEmpty ? "" : " \(outcome.conflicts.count) conflicting record(s) skipped."
            return req.redirect(to: "/domains/\(id)", flash: Flash(kind: .success, message: "Imported: \(outcome.added) added, \(outcome.removed) removed, \(outcome.unchanged) unchanged.\(skipped)"))
        } catch let error as NebulaError where error.status.code < 500 || error.status == .badGateway {
            let details = error.problems.prefix(10).map { "\($0.path): \($0.message)" }.joined(separator: " · ")
            return try await renderDetail(req, flash: Flash(kind: .error, message: error.message + (details.isEmpty ? "" : " " + details)), status: error.status, form: form)
        }
    }

    @Sendable static func updateDynamic(req: Request) async throws -> Response {
        do {
            let endpoints = (req.formField("endpoints") ?? "").split(whereSeparator: { $0.isNewline || $0 == "," }).map { String($0).trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
            let minutes = req.formField("intervalMinutes").flatMap { Int($0) }
            guard minutes != nil || (req.formField("intervalMinutes") ?? "").isEmpty else {
                throw NebulaError.unprocessable("The interval is a number of minutes.", code: "invalid_interval")
            }
            let input = DynamicDNSInput(enabled: req.formField("enabled") != nil, endpoints: endpoints.isEmpty ? nil : endpoints, intervalMinutes: minutes)
            let settings = try await req.nebula.domains.updateDynamicSettings(input, by: try req.actor)
            return req.redirect(to: "/domains", flash: Flash(kind: .success, message: "Dynamic DNS is \(settings.enabled ? "on" : "off")."))
        } catch let error as NebulaError {
            return req.redirect(to: "/domains", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func runDynamic(req: Request) async throws -> Response {
        do {
            let outcome = try await req.nebula.domains.runDynamicDNS(by: try req.actor)
            let found = [outcome.ipv4, outcome.ipv6].compactMap { $0 }
            var message = found.isEmpty ? "No record follows the public IP, so nothing was looked up." : "Public IP: \(found.joined(separator: ", ")). \(outcome.updated.count) record(s) updated."
            if !outcome.errors.isEmpty { message += " Problems: " + outcome.errors.joined(separator: "; ") }
            return req.redirect(to: "/domains", flash: Flash(kind: outcome.errors.isEmpty ? .success : .error, message: message))
        } catch let error as NebulaError {
            return req.redirect(to: "/domains", flash: Flash(kind: .error, message: error.message))
        }
    }

    static func commaList(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
