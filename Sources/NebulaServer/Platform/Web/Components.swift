import Foundation
import NebulaCore
import Plot

// The dashboard's shared look: the two page layouts and the small set of Plot components every
// page is built from. Styling lives in Public/css/app.css, behaviour in Public/js/live.js.
//
// Escaping: Plot 0.14 escapes text nodes but writes attribute values verbatim. Every attribute
// value in this file goes through `HTMLEscaping.attributeValue(_:)`. Pages that add an attribute
// holding user data must use `.attribute(named:escaping:)` or `tag(_:_:content:)`, never Plot's
// plain `.attribute(named:value:)`, `Input`, `Link` or `.href` with user data.

// MARK: - Escaping and element helpers

/// Escaping for HTML attribute values, which Plot 0.14 renders without escaping.
enum HTMLEscaping {
    /// `value` made safe to place between double quotes in an HTML attribute.
    static func attributeValue(_ value: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }
}

extension Component {
    /// Adds an attribute whose value is escaped first; use it for anything that may hold user data.
    /// A `nil` or empty value leaves the attribute out.
    func attribute(named name: String, escaping value: String?) -> any Component {
        attribute(named: name, value: value.map(HTMLEscaping.attributeValue))
    }
}

/// One attribute of an element built with `tag(_:_:content:)` or `voidTag(_:_:)`.
/// Values are escaped when rendered.
struct HTMLAttribute: Sendable {
    private let name: String
    private let value: String?
    private let isFlag: Bool
    private var keepsEmpty = false

    /// `name="value"`; left out when `value` is nil or empty.
    static func value(_ name: String, _ value: String?) -> HTMLAttribute {
        HTMLAttribute(name: name, value: value, isFlag: false)
    }

    /// `name="value"`, written even when `value` is empty (an `<option value="">`).
    static func keepingEmpty(_ name: String, _ value: String) -> HTMLAttribute {
        HTMLAttribute(name: name, value: value, isFlag: false, keepsEmpty: true)
    }

    /// A boolean attribute such as `required` or `hidden`, present only when `isOn`.
    static func flag(_ name: String, _ isOn: Bool = true) -> HTMLAttribute {
        HTMLAttribute(name: name, value: isOn ? "" : nil, isFlag: true)
    }

    fileprivate var plotAttribute: Attribute<Any>? {
        if isFlag {
            return value == nil ? nil : Attribute(name: name, value: nil, ignoreIfValueIsEmpty: false)
        }
        guard let value, !value.isEmpty || keepsEmpty else { return nil }
        return Attribute(name: name, value: HTMLEscaping.attributeValue(value), ignoreIfValueIsEmpty: !keepsEmpty)
    }
}

/// `<name …attributes>content</name>` with escaped attribute values.
func tag(
    _ name: String,
    _ attributes: [HTMLAttribute] = [],
    @ComponentBuilder content: () -> any Component = { EmptyComponent() }
) -> any Component {
    let attributeNodes = attributes.compactMap(\.plotAttribute).map { Node<Any>.attribute($0) }
    return Node<Any>.element(named: name, nodes: attributeNodes + [.component(content())])
}

/// A void element such as `<input …/>` with escaped attribute values.
func voidTag(_ name: String, _ attributes: [HTMLAttribute]) -> any Component {
    Node<Any>.selfClosedElement(named: name, attributes: attributes.compactMap(\.plotAttribute))
}

/// Space-joined class names, skipping empty ones.
private func classList(_ names: String...) -> String {
    names.flatMap { $0.split(separator: " ") }.joined(separator: " ")
}

/// A string reduced to characters that are safe in an `id` (`[A-Za-z0-9_-]`).
private func identifier(_ raw: String) -> String {
    String(raw.unicodeScalars.map { scalar -> Character in
        let isSafe = (scalar.isASCII && CharacterSet.alphanumerics.contains(scalar)) || scalar == "-" || scalar == "_"
        return isSafe ? Character(scalar) : "-"
    })
}

/// Text that only screen readers announce.
private func visuallyHidden(_ text: String) -> any Component {
    Span(text).class("visually-hidden")
}

// MARK: - Icons

/// A 24×24 line icon drawn with `currentColor`, hidden from assistive technology.
struct Icon: Component {
    /// SVG path data, one entry per `<path>`.
    var paths: [String]
    /// Extra classes on the `<svg>`.
    var classes: String = ""

    var body: any Component {
        tag("svg", [
            .value("class", classList("icon", classes)),
            .value("viewBox", "0 0 24 24"),
            .value("fill", "none"),
            .value("stroke", "currentColor"),
            .value("stroke-width", "1.75"),
            .value("stroke-linecap", "round"),
            .value("stroke-linejoin", "round"),
            .value("aria-hidden", "true"),
            .value("focusable", "false"),
        ]) {
            for path in paths {
                voidTag("path", [.value("d", path)])
            }
        }
    }

    static var overview: Icon { Icon(paths: ["M4 4h6v8H4z", "M14 4h6v5h-6z", "M14 13h6v7h-6z", "M4 16h6v4H4z"]) }
    static var servers: Icon { Icon(paths: ["M4 4h16v6H4z", "M4 14h16v6H4z", "M8 7h.01", "M8 17h.01"]) }
    static var apps: Icon { Icon(paths: ["M4 4h7v7H4z", "M13 4h7v7h-7z", "M4 13h7v7H4z", "M16.5 13v7", "M13 16.5h7"]) }
    static var containers: Icon { Icon(paths: ["M12 2 3 7v10l9 5 9-5V7z", "M3 7l9 5 9-5", "M12 12v10"]) }
    static var deploys: Icon { Icon(paths: ["M6 3v12", "M18 9a3 3 0 1 0 0-6 3 3 0 0 0 0 6z", "M6 21a3 3 0 1 0 0-6 3 3 0 0 0 0 6z", "M18 9a9 9 0 0 1-9 9"]) }
    static var marketplace: Icon { Icon(paths: ["M4 7h16l-1.5 12.5a1.5 1.5 0 0 1-1.5 1.5H7a1.5 1.5 0 0 1-1.5-1.5z", "M9 10V6a3 3 0 0 1 6 0v4"]) }
    static var jobs: Icon { Icon(paths: ["M22 12h-4l-3 8-6-16-3 8H2"]) }
    static var audit: Icon { Icon(paths: ["M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z", "M14 3v5h5", "M9 13h6", "M9 17h4"]) }
    static var users: Icon { Icon(paths: ["M16 20v-1.5a3.5 3.5 0 0 0-3.5-3.5h-5A3.5 3.5 0 0 0 4 18.5V20", "M10 11.5a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z", "M20 20v-1.5a3.5 3.5 0 0 0-2.5-3.35", "M15.5 4.65a3.5 3.5 0 0 1 0 6.7"]) }
    static var secrets: Icon { Icon(paths: ["M6 11h12a1.5 1.5 0 0 1 1.5 1.5v7A1.5 1.5 0 0 1 18 21H6a1.5 1.5 0 0 1-1.5-1.5v-7A1.5 1.5 0 0 1 6 11z", "M8 11V7.5a4 4 0 0 1 8 0V11", "M12 15v2"]) }
    static var settings: Icon { Icon(paths: ["M4 7h10", "M18 7h2", "M4 17h2", "M10 17h10", "M16 5v4", "M8 15v4"]) }
    static var automation: Icon { Icon(paths: ["M13 2 4 14h7l-1 8 9-12h-7z"]) }
    static var globe: Icon { Icon(paths: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M3 12h18", "M12 3a14 14 0 0 1 0 18", "M12 3a14 14 0 0 0 0 18"]) }
    static var bell: Icon { Icon(paths: ["M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9", "M10.3 21a1.94 1.94 0 0 0 3.4 0"]) }
    static var menu: Icon { Icon(paths: ["M4 7h16", "M4 12h16", "M4 17h16"]) }
    static var logout: Icon { Icon(paths: ["M9 20H6a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2h3", "M16 16l4-4-4-4", "M20 12H10"]) }
    static var check: Icon { Icon(paths: ["M20 6 9 17l-5-5"]) }
    static var alert: Icon { Icon(paths: ["M12 3 2 20h20z", "M12 10v4", "M12 17h.01"]) }
    static var info: Icon { Icon(paths: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M12 11v5", "M12 8h.01"]) }
    static var inbox: Icon { Icon(paths: ["M22 12h-6l-2 3h-4l-2-3H2", "M5.45 5.11 2 12v6a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2v-6l-3.45-6.89A2 2 0 0 0 16.76 4H7.24a2 2 0 0 0-1.79 1.11z"]) }
    static var arrowRight: Icon { Icon(paths: ["M5 12h14", "M13 6l6 6-6 6"]) }
    static var sparkle: Icon { Icon(paths: ["M12 3l1.8 5.2L19 10l-5.2 1.8L12 17l-1.8-5.2L5 10l5.2-1.8z", "M19 15l.8 2.2L22 18l-2.2.8L19 21l-.8-2.2L16 18l2.2-.8z"]) }
    static var chip: Icon { Icon(paths: ["M7 7h10v10H7z", "M10 10h4v4h-4z", "M9 3v4", "M15 3v4", "M9 17v4", "M15 17v4", "M3 9h4", "M3 15h4", "M17 9h4", "M17 15h4"]) }
}

/// The product mark: a four-point star on a violet-to-cyan tile (colours come from app.css).
struct BrandMark: Component {
    var body: any Component {
        tag("span", [.value("class", "brand-mark"), .value("aria-hidden", "true")]) {
            tag("svg", [.value("viewBox", "0 0 24 24"), .value("focusable", "false")]) {
                voidTag("path", [
                    .value("d", "M12 3.5l1.9 5.6 5.6 1.9-5.6 1.9L12 18.5l-1.9-5.6L4.5 11l5.6-1.9z"),
                    .value("fill", "currentColor"),
                ])
                voidTag("circle", [.value("cx", "18.5"), .value("cy", "18.5"), .value("r", "1.3"), .value("fill", "currentColor"), .value("opacity", "0.7")])
            }
        }
    }
}

// MARK: - Navigation and page context

/// A top-level destination in the sidebar. Every signed-in user sees all of them; pages mark and
/// guard admin-only actions themselves.
enum NavItem: String, CaseIterable, Sendable {
    case overview, servers, containers, deploys, marketplace, apps, jobs, domains, proxy, jarvis, aiAgents, aiProviders, checks, automation, notifications, audit, users, secrets, settings

    /// The label shown in the navigation.
    var title: String {
        switch self {
        case .overview: "Overview"
        case .servers: "Servers"
        case .containers: "Containers"
        case .deploys: "Deploys"
        case .marketplace: "Marketplace"
        case .apps: "Installed apps"
        case .domains: "Domains & DNS"
        case .proxy: "Proxy"
        case .jarvis: "Jarvis"
        case .aiAgents: "Agents"
        case .aiProviders: "Providers"
        case .checks: "Monitoring"
        case .automation: "Automation"
        case .notifications: "Notifications"
        case .jobs: "Jobs"
        case .audit: "Audit log"
        case .users: "Users"
        case .secrets: "Secrets"
        case .settings: "Settings"
        }
    }

    /// The page's path.
    var path: String {
        switch self {
        case .overview: "/"
        case .automation: "/runbooks"
        case .aiProviders: "/ai"
        case .aiAgents: "/ai/agents"
        default: "/" + rawValue
        }
    }

    /// The line icon shown before the title.
    var icon: Icon {
        switch self {
        case .overview: .overview
        case .servers: .servers
        case .containers: .containers
        case .deploys: .deploys
        case .marketplace: .marketplace
        case .apps: .apps
        case .domains: .globe
        case .proxy: .arrowRight
        case .jarvis: .sparkle
        case .aiAgents: .automation
        case .aiProviders: .chip
        case .checks: .alert
        case .automation: .automation
        case .notifications: .bell
        case .jobs: .jobs
        case .audit: .audit
        case .users: .users
        case .secrets: .secrets
        case .settings: .settings
        }
    }

    /// The sidebar group heading the item is listed under.
    var section: String {
        switch self {
        case .overview, .servers, .containers, .deploys, .marketplace, .apps, .jobs: "Operate"
        case .domains, .proxy: "Network"
        case .jarvis, .aiAgents, .aiProviders: "AI"
        case .checks, .automation, .notifications: "Watch and heal"
        case .audit, .users, .secrets, .settings: "Administer"
        }
    }
}

/// A one-off message shown at the top of the next page (after a redirect, a failed form, …).
struct Flash: Sendable {
    /// How the message is coloured and announced (`error` is announced immediately).
    enum Kind: String, Sendable { case success, error, info }
    var kind: Kind
    var message: String

    init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }
}

/// What the layout needs to know about the request: page title, who is signed in, the CSRF token.
struct PageContext: Sendable {
    /// The page title, shown in the header and in the document title.
    var title: String
    /// The highlighted navigation entry, if the page belongs to one.
    var active: NavItem?
    /// The signed-in user; `nil` on the login and setup pages (then no navigation is shown).
    var username: String?
    /// The signed-in user's role, shown next to the name.
    var role: Role?
    /// The session's CSRF token, put into every `CSRFForm` and the logout form.
    var csrfToken: String?
    /// A message to show above the content.
    var flash: Flash?
    /// The instance's display name, in the sidebar and the document title.
    var instanceName: String = "Nebula Command"

    init(
        title: String,
        active: NavItem? = nil,
        username: String? = nil,
        role: Role? = nil,
        csrfToken: String? = nil,
        flash: Flash? = nil,
        instanceName: String = "Nebula Command"
    ) {
        self.title = title
        self.active = active
        self.username = username
        self.role = role
        self.csrfToken = csrfToken
        self.flash = flash
        self.instanceName = instanceName
    }
}

// MARK: - Layouts

/// The two document shells: `page` (sidebar, header, content) and `bare` (a centred card).
enum Layout {
    /// The whole document for a signed-in page: head, skip link, sidebar navigation (a top bar
    /// with a menu button on narrow screens), a header with the page title, optional page
    /// `actions`, the signed-in user and role and a logout form, the flash message, then `content`.
    static func page(
        _ context: PageContext,
        actions: (any Component)? = nil,
        @ComponentBuilder content: () -> any Component
    ) -> HTML {
        let content = content()
        return document(context, bodyClass: "app") {
            SkipLink()
            Div {
                if context.username != nil {
                    Sidebar(context: context)
                }
                Div {
                    PageHeader(context: context, actions: actions)
                    tag("main", [.value("id", "main"), .value("class", "content"), .value("tabindex", "-1")]) {
                        if let flash = context.flash {
                            FlashMessage(flash: flash)
                        }
                        content
                    }
                }
                .class("main-column")
            }
            .class(context.username == nil ? "shell shell-no-nav" : "shell")
        }
    }

    /// A centred card without navigation: narrow for /login and /setup, `wide` for public pages
    /// with a table (the status page).
    static func bare(_ context: PageContext, wide: Bool = false, @ComponentBuilder content: () -> any Component) -> HTML {
        let content = content()
        return document(context, bodyClass: "bare") {
            SkipLink()
            tag("main", [.value("id", "main"), .value("class", "bare-main"), .value("tabindex", "-1")]) {
                Div {
                    Div {
                        BrandMark()
                        Span(context.instanceName).class("brand-name")
                    }
                    .class("brand brand-large")
                    H1(context.title).class("bare-title")
                    if let flash = context.flash {
                        FlashMessage(flash: flash)
                    }
                    content
                }
                .class(wide ? "bare-card bare-card-wide" : "bare-card")
                Paragraph("Self-hosted control plane").class("bare-footnote")
            }
        }
    }

    private static func document(
        _ context: PageContext,
        bodyClass: String,
        @ComponentBuilder body: @escaping () -> any Component
    ) -> HTML {
        HTML(
            .lang(.english),
            .head(
                .meta(.charset(.utf8)),
                .meta(.name("viewport"), .content("width=device-width, initial-scale=1")),
                .meta(.name("color-scheme"), .content("dark light")),
                .meta(.name("robots"), .content("noindex, nofollow")),
                .element(named: "title", text: "\(context.title) · \(context.instanceName)"),
                .link(.rel(.icon), .href("/favicon.svg"), .type("image/svg+xml")),
                .link(.rel(.stylesheet), .href("/css/app.css")),
                .element(named: "script", nodes: [
                    .attribute(named: "type", value: "module"),
                    .attribute(named: "src", value: "/js/live.js"),
                ])
            ),
            .body(
                .attribute(named: "class", value: bodyClass),
                .component(body())
            )
        )
    }
}

/// "Skip to content", visible only when focused.
private struct SkipLink: Component {
    var body: any Component {
        tag("a", [.value("class", "skip-link"), .value("href", "#main")]) { Text("Skip to content") }
    }
}

/// The sidebar: brand, menu button (narrow screens, needs live.js) and grouped navigation.
private struct Sidebar: Component {
    let context: PageContext

    var body: any Component {
        let sections = NavItem.allCases.reduce(into: [(String, [NavItem])]()) { groups, item in
            if let last = groups.last, last.0 == item.section {
                groups[groups.count - 1].1.append(item)
            } else {
                groups.append((item.section, [item]))
            }
        }
        return tag("aside", [.value("class", "sidebar"), .value("data-sidebar", "closed")]) {
            Div {
                tag("a", [.value("class", "brand"), .value("href", "/")]) {
                    BrandMark()
                    Span(context.instanceName).class("brand-name")
                }
                tag("button", [
                    .value("type", "button"),
                    .value("class", "nav-toggle"),
                    .value("data-nav-toggle", "primary-nav"),
                    .value("aria-controls", "primary-nav"),
                    .value("aria-expanded", "false"),
                ]) {
                    Icon.menu
                    visuallyHidden("Menu")
                }
            }
            .class("sidebar-bar")
            tag("nav", [.value("id", "primary-nav"), .value("class", "nav"), .value("aria-label", "Main")]) {
                for (section, items) in sections {
                    Div {
                        tag("div", [.value("class", "nav-section"), .value("id", "nav-" + identifier(section))]) {
                            Text(section)
                        }
                        tag("ul", [.value("class", "nav-list"), .value("aria-labelledby", "nav-" + identifier(section))]) {
                            for item in items {
                                ListItem {
                                    tag("a", [
                                        .value("class", "nav-link"),
                                        .value("href", item.path),
                                        .value("aria-current", item == context.active ? "page" : nil),
                                    ]) {
                                        item.icon
                                        Span(item.title).class("nav-label")
                                    }
                                }
                            }
                        }
                    }
                    .class("nav-group")
                }
            }
        }
    }
}

/// The header bar: page title, page actions, the signed-in user with role, and the logout form.
private struct PageHeader: Component {
    let context: PageContext
    let actions: (any Component)?

    var body: any Component {
        tag("header", [.value("class", "page-header")]) {
            Div {
                H1(context.title).class("page-title")
                if let actions {
                    Div(actions).class("page-actions")
                }
            }
            .class("page-heading")
            if let username = context.username {
                Div {
                    Div {
                        Span(String(username.prefix(1)).uppercased())
                            .class("avatar")
                            .attribute(named: "aria-hidden", value: "true")
                        Div {
                            Span(username).class("user-name")
                            if let role = context.role {
                                RoleBadge(role: role)
                            }
                        }
                        .class("user-meta")
                    }
                    .class("user-chip")
                    CSRFForm(action: "/logout", csrfToken: context.csrfToken, classes: "logout-form") {
                        tag("button", [
                            .value("type", "submit"),
                            .value("class", "btn btn-ghost btn-sm"),
                            .value("title", "Log out"),
                        ]) {
                            Icon.logout
                            Span("Log out").class("logout-label")
                        }
                    }
                }
                .class("user-menu")
            }
        }
    }
}

/// The signed-in user's role as a small pill (`role-admin`, `role-operator`, `role-viewer`).
struct RoleBadge: Component {
    let role: Role

    var body: any Component {
        tag("span", [
            .value("class", "role-badge role-" + identifier(role.rawValue)),
            .value("title", "Role: " + role.rawValue),
        ]) {
            visuallyHidden("Role: ")
            Text(role.rawValue)
        }
    }
}

/// The flash message: `role="alert"` for errors, `role="status"` otherwise.
private struct FlashMessage: Component {
    let flash: Flash

    var body: any Component {
        tag("div", [
            .value("class", "flash flash-" + flash.kind.rawValue),
            .value("role", flash.kind == .error ? "alert" : "status"),
        ]) {
            switch flash.kind {
            case .success: Icon.check
            case .error: Icon.alert
            case .info: Icon.info
            }
            Paragraph(flash.message).class("flash-message")
        }
    }
}

// MARK: - Containers

/// A titled panel. Tables placed directly in a card run edge to edge.
struct Card: Component {
    var title: String?
    var subtitle: String?
    var actions: (any Component)?
    var id: String?
    var classes: String
    var content: () -> any Component

    /// - Parameters:
    ///   - title: The heading (`<h2>`); nil for an untitled card.
    ///   - subtitle: A muted line under the title.
    ///   - actions: Buttons or links shown at the right of the header (e.g. a `LinkButton`, a `LiveIndicator`).
    ///   - id: The card's element id.
    ///   - classes: Extra classes on the card.
    init(
        title: String? = nil,
        subtitle: String? = nil,
        actions: (any Component)? = nil,
        id: String? = nil,
        classes: String = "",
        @ComponentBuilder content: @escaping () -> any Component
    ) {
        self.title = title
        self.subtitle = subtitle
        self.actions = actions
        self.id = id
        self.classes = classes
        self.content = content
    }

    var body: any Component {
        tag("section", [.value("class", classList("card", classes)), .value("id", id)]) {
            if title != nil || subtitle != nil || actions != nil {
                tag("header", [.value("class", "card-header")]) {
                    Div {
                        if let title {
                            H2(title).class("card-title")
                        }
                        if let subtitle {
                            Paragraph(subtitle).class("card-subtitle")
                        }
                    }
                    .class("card-heading")
                    if let actions {
                        Div(actions).class("card-actions")
                    }
                }
            }
            Div(content()).class("card-body")
        }
    }
}

/// A responsive grid of `StatCard`s (four across on wide screens, one on phones).
struct StatGrid: Component {
    var content: () -> any Component

    init(@ComponentBuilder content: @escaping () -> any Component) {
        self.content = content
    }

    var body: any Component {
        Div(content()).class("stat-grid")
    }
}

/// A responsive grid of cards: two columns on wide screens, one on narrow ones.
struct CardGrid: Component {
    var content: () -> any Component

    init(@ComponentBuilder content: @escaping () -> any Component) {
        self.content = content
    }

    var body: any Component {
        Div(content()).class("card-grid")
    }
}

/// A headline number with a label, optionally linking to the page behind it.
struct StatCard: Component {
    var label: String
    var value: String
    var href: String?
    var detail: String?
    var liveCount: String?

    /// - Parameters:
    ///   - liveCount: An event type (e.g. `job.failed`); live.js adds one to `value` for each such event.
    init(label: String, value: String, href: String?, detail: String? = nil, liveCount: String? = nil) {
        self.label = label
        self.value = value
        self.href = href
        self.detail = detail
        self.liveCount = liveCount
    }

    var body: any Component {
        let inner = ComponentGroup {
            Span(label).class("stat-label")
            Span(value).class("stat-value").attribute(named: "data-live-count", escaping: liveCount)
            if let detail {
                Span(detail).class("stat-detail")
            }
            if href != nil {
                Icon(paths: Icon.arrowRight.paths, classes: "stat-arrow")
            }
        }
        if let href {
            return tag("a", [.value("class", "stat-card stat-card-link"), .value("href", href)]) { inner }
        }
        return tag("div", [.value("class", "stat-card")]) { inner }
    }
}

/// Label/value pairs for detail pages, rendered as a `<dl>`.
struct DetailList: Component {
    var items: [(label: String, value: any Component)]

    init(_ items: [(label: String, value: any Component)]) {
        self.items = items
    }

    var body: any Component {
        tag("dl", [.value("class", "detail-list")]) {
            for item in items {
                Div {
                    tag("dt") { Text(item.label) }
                    tag("dd") { item.value }
                }
            }
        }
    }
}

// MARK: - Tables and live feeds

/// Makes a table body (or list) live: live.js subscribes to `/api/v1/events/stream` and prepends
/// a row per event. Live rows have four cells: time, event type, subject, actor — give the table
/// those four headers.
struct LiveFeed: Sendable {
    /// Event types the server should send (`data-types`); empty means all.
    var types: [String]
    /// Event names to listen for when `types` is empty (`data-known-types`).
    var knownTypes: [String]
    /// The most rows kept (`data-max`).
    var max: Int

    init(types: [String] = [], knownTypes: [String] = [], max: Int = 20) {
        self.types = types
        self.knownTypes = knownTypes
        self.max = max
    }

    fileprivate var attributes: [HTMLAttribute] {
        [
            .value("data-live-events", "events"),
            .value("data-types", types.isEmpty ? nil : types.joined(separator: ",")),
            .value("data-known-types", knownTypes.isEmpty ? nil : knownTypes.joined(separator: ",")),
            .value("data-max", String(max)),
        ]
    }
}

/// A table with a header row that scrolls sideways on narrow screens, or an `EmptyState` when
/// there are no rows. The caption is for screen readers (the surrounding card carries the title).
struct DataTable: Component {
    var caption: String?
    var headers: [String]
    var rows: [[any Component]]
    var emptyTitle: String
    var emptyMessage: String
    var live: LiveFeed?

    /// - Parameters:
    ///   - live: Makes the body a live event feed; the table is then rendered (hidden) even when empty,
    ///     and live.js reveals it and removes the empty state on the first event.
    init(
        caption: String?,
        headers: [String],
        rows: [[any Component]],
        emptyTitle: String,
        emptyMessage: String,
        live: LiveFeed? = nil
    ) {
        self.caption = caption
        self.headers = headers
        self.rows = rows
        self.emptyTitle = emptyTitle
        self.emptyMessage = emptyMessage
        self.live = live
    }

    var body: any Component {
        if rows.isEmpty && live == nil {
            return EmptyState(title: emptyTitle, message: emptyMessage)
        }
        return ComponentGroup {
            if rows.isEmpty {
                EmptyState(title: emptyTitle, message: emptyMessage)
            }
            tag("div", [
                .value("class", "table-wrap"),
                .value("role", "region"),
                .value("aria-label", caption ?? "Table"),
                .value("tabindex", "0"),
                .flag("hidden", rows.isEmpty),
            ]) {
                tag("table", [.value("class", "table")]) {
                    if let caption {
                        tag("caption", [.value("class", "visually-hidden")]) { Text(caption) }
                    }
                    tag("thead") {
                        tag("tr") {
                            for header in headers {
                                tag("th", [.value("scope", "col")]) { Text(header) }
                            }
                        }
                    }
                    tag("tbody", live?.attributes ?? []) {
                        for row in rows {
                            tag("tr") {
                                for cell in row {
                                    tag("td") { cell }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The connection state of the page's live feeds ("live", "reconnecting", "offline"), set by
/// live.js. Hidden until live.js runs, so it never lies on a page without JavaScript.
struct LiveIndicator: Component {
    var body: any Component {
        tag("span", [
            .value("class", "live-indicator"),
            .value("data-live-status", "connecting"),
            .value("role", "status"),
            .flag("hidden"),
        ]) {
            Span().class("live-dot").attribute(named: "aria-hidden", value: "true")
            Span("connecting").class("live-text")
        }
    }
}

/// A friendly placeholder for a list with nothing in it. Carries `data-empty`, which live.js
/// removes when the first live row arrives.
struct EmptyState: Component {
    var title: String
    var message: String

    init(title: String, message: String) {
        self.title = title
        self.message = message
    }

    var body: any Component {
        tag("div", [.value("class", "empty-state"), .flag("data-empty")]) {
            Span(Icon.inbox).class("empty-icon")
            Paragraph(title).class("empty-title")
            Paragraph(message).class("empty-message")
        }
    }
}

// MARK: - Status

/// A coloured pill for a status word. The colour follows the word (`tone(for:)`); unknown
/// words are grey. live.js mirrors this mapping for live updates.
struct StatusBadge: Component {
    /// Colour families, matching the `tone-*` classes in app.css.
    enum Tone: String, Sendable { case green, blue, red, grey, amber }

    var status: String
    var liveJobID: String?
    /// A colour chosen by the caller when the word alone is ambiguous ("running" is green for a
    /// container but blue for a job in progress).
    var toneOverride: Tone?

    /// - Parameters:
    ///   - liveJobID: When set, live.js updates this badge from the job's log stream.
    init(_ status: String, tone: Tone? = nil, liveJobID: String? = nil) {
        self.toneOverride = tone
        self.status = status
        self.liveJobID = liveJobID
    }

    /// The tone for a status word (case-insensitive).
    static func tone(for status: String) -> Tone {
        switch status.lowercased() {
        case "succeeded", "online", "success", "ok", "healthy", "active", "completed", "done": .green
        case "running", "queued", "pending", "starting", "retrying", "in_progress": .blue
        case "failed", "failure", "denied", "offline", "error", "unhealthy", "down": .red
        case "warning", "degraded": .amber
        default: .grey
        }
    }

    var body: any Component {
        tag("span", [
            .value("class", "badge tone-" + (toneOverride ?? Self.tone(for: status)).rawValue),
            .value("data-job-status", liveJobID),
        ]) {
            Text(status)
        }
    }
}

/// A labelled `<progress>` with the percentage spelled out.
struct ProgressBar: Component {
    var fraction: Double
    var label: String
    var liveJobID: String?

    /// - Parameters:
    ///   - fraction: 0…1; values outside are clamped, NaN counts as 0.
    ///   - liveJobID: When set, live.js updates the bar from the job's log stream.
    init(fraction: Double, label: String, liveJobID: String? = nil) {
        self.fraction = fraction
        self.label = label
        self.liveJobID = liveJobID
    }

    var body: any Component {
        let clamped = fraction.isNaN ? 0 : min(max(fraction, 0), 1)
        let percent = "\(Int((clamped * 100).rounded()))%"
        return tag("div", [.value("class", "progress"), .value("data-job-progress", liveJobID)]) {
            Div {
                Span(label).class("progress-label")
                Span(percent).class("progress-value")
            }
            .class("progress-head")
            tag("progress", [
                .value("max", "1"),
                .value("value", String(clamped)),
                .value("aria-label", label),
            ]) {
                Text(percent)
            }
        }
    }
}

/// A `<time>` showing the absolute UTC time; live.js rewrites the text to "3 min ago" and keeps
/// the absolute time in `title`.
struct RelativeTime: Component {
    var date: Date

    init(_ date: Date) {
        self.date = date
    }

    var body: any Component {
        let parts = Self.utcCalendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let (y, mo, d) = (parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1)
        let (h, mi, s) = (parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0)
        let iso = "\(pad(y, 4))-\(pad(mo))-\(pad(d))T\(pad(h)):\(pad(mi)):\(pad(s))Z"
        let text = "\(pad(y, 4))-\(pad(mo))-\(pad(d)) \(pad(h)):\(pad(mi)) UTC"
        return tag("time", [.value("datetime", iso), .value("title", text)]) { Text(text) }
    }

    private static var utcCalendar: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? TimeZone(secondsFromGMT: 0)!
        return calendar
    }

    private func pad(_ value: Int, _ width: Int = 2) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

// MARK: - Code and logs

/// Preformatted monospace text (`<pre><code>`), scrollable and keyboard-focusable.
struct CodeBlock: Component {
    var text: String
    var id: String?

    init(_ text: String, id: String? = nil) {
        self.text = text
        self.id = id
    }

    var body: any Component {
        tag("pre", [.value("class", "code-block"), .value("id", id), .value("tabindex", "0")]) {
            tag("code") { Text(text) }
        }
    }
}

/// A job's log: the lines known at render time, then live lines from
/// `/api/v1/jobs/<id>/log` (live.js). Lines with an id ≤ `lastLineID` are not repeated.
struct JobLog: Component {
    var jobID: String
    var lines: [String]
    var lastLineID: Int?
    /// Reload the page when the job ends, so the rest of it shows the final state.
    var reloadOnEnd: Bool

    init(jobID: String, lines: [String], lastLineID: Int? = nil, reloadOnEnd: Bool = false) {
        self.jobID = jobID
        self.lines = lines
        self.lastLineID = lastLineID
        self.reloadOnEnd = reloadOnEnd
    }

    var body: any Component {
        tag("pre", [
            .value("class", "code-block log"),
            .value("data-live-job-log", "log"),
            .value("data-job-id", jobID),
            .value("data-last-line-id", lastLineID.map(String.init)),
            .value("data-reload-on-end", reloadOnEnd ? "true" : nil),
            .value("tabindex", "0"),
            .value("aria-label", "Job log"),
        ]) {
            tag("code") {
                for line in lines {
                    Span(line + "\n").class("log-line")
                }
            }
        }
    }
}

// MARK: - Forms

/// The look of a button.
enum ButtonStyle: String, Sendable {
    case primary, secondary, danger
}

/// A form with the session's CSRF token in a hidden `_csrf` field (POST forms only, so the token
/// never lands in a URL). With `confirm`, live.js asks before submitting.
struct CSRFForm: Component {
    var action: String
    var method: String
    var csrfToken: String?
    var classes: String
    var confirm: String?
    var content: () -> any Component

    init(
        action: String,
        method: String = "post",
        csrfToken: String?,
        classes: String = "",
        confirm: String? = nil,
        @ComponentBuilder content: @escaping () -> any Component
    ) {
        self.action = action
        self.method = method
        self.csrfToken = csrfToken
        self.classes = classes
        self.confirm = confirm
        self.content = content
    }

    var body: any Component {
        let method = self.method.lowercased()
        return tag("form", [
            .value("action", action),
            .value("method", method),
            .value("class", classes),
            .value("data-confirm", confirm),
        ]) {
            if method == "post", let csrfToken {
                voidTag("input", [.value("type", "hidden"), .value("name", "_csrf"), .value("value", csrfToken)])
            }
            content()
        }
    }
}

/// A labelled input (`<label for>` + `<input id>`), with an optional hint tied by
/// `aria-describedby`. `type: "textarea"` renders a `<textarea>`. Password fields never echo `value`.
struct FormField: Component {
    var label: String
    var name: String
    var type: String
    var value: String
    var placeholder: String
    var required: Bool
    var hint: String?
    var autocomplete: String?
    var minLength: Int?

    init(
        label: String,
        name: String,
        type: String = "text",
        value: String = "",
        placeholder: String = "",
        required: Bool = false,
        hint: String? = nil,
        autocomplete: String? = nil,
        minLength: Int? = nil
    ) {
        self.label = label
        self.name = name
        self.type = type
        self.value = value
        self.placeholder = placeholder
        self.required = required
        self.hint = hint
        self.autocomplete = autocomplete
        self.minLength = minLength
    }

    var body: any Component {
        let fieldID = "field-" + identifier(name)
        let hintID = hint == nil ? nil : fieldID + "-hint"
        let attributes: [HTMLAttribute] = [
            .value("id", fieldID),
            .value("name", name),
            .value("class", "input"),
            .value("placeholder", placeholder),
            .flag("required", required),
            .value("autocomplete", autocomplete),
            .value("minlength", minLength.map(String.init)),
            .value("aria-describedby", hintID),
        ]
        return Div {
            tag("label", [.value("for", fieldID), .value("class", "field-label")]) {
                Text(label)
                if required {
                    Span(" *").class("field-required").attribute(named: "aria-hidden", value: "true")
                }
            }
            if type == "textarea" {
                tag("textarea", attributes + [.value("rows", "5")]) { Text(value) }
            } else {
                voidTag("input", [.value("type", type)] + attributes + [.value("value", type == "password" ? nil : value)])
            }
            if let hint, let hintID {
                Paragraph(hint).class("field-hint").id(hintID)
            }
        }
        .class("field")
    }
}

/// A labelled `<select>`.
struct SelectField: Component {
    var label: String
    var name: String
    var options: [(value: String, label: String)]
    var selected: String?
    var hint: String?
    var id: String?

    /// - Parameter id: The element id; `field-<name>` when nil. Give one when a page repeats a name.
    init(label: String, name: String, options: [(value: String, label: String)], selected: String?, hint: String? = nil, id: String? = nil) {
        self.label = label
        self.name = name
        self.options = options
        self.selected = selected
        self.hint = hint
        self.id = id
    }

    var body: any Component {
        let fieldID = id.map(identifier) ?? "field-" + identifier(name)
        let hintID = hint == nil ? nil : fieldID + "-hint"
        return Div {
            tag("label", [.value("for", fieldID), .value("class", "field-label")]) { Text(label) }
            tag("select", [
                .value("id", fieldID),
                .value("name", name),
                .value("class", "input select"),
                .value("aria-describedby", hintID),
            ]) {
                for option in options {
                    tag("option", [.keepingEmpty("value", option.value), .flag("selected", option.value == selected)]) {
                        Text(option.label)
                    }
                }
            }
            if let hint, let hintID {
                Paragraph(hint).class("field-hint").id(hintID)
            }
        }
        .class("field")
    }
}

/// A `<button type="submit">` in one of the three styles.
struct SubmitButton: Component {
    var title: String
    var style: ButtonStyle

    init(_ title: String, style: ButtonStyle = .primary) {
        self.title = title
        self.style = style
    }

    var body: any Component {
        tag("button", [.value("type", "submit"), .value("class", "btn btn-" + style.rawValue)]) { Text(title) }
    }
}

/// A link that looks like a button, for "New…" and "View all" actions.
struct LinkButton: Component {
    var title: String
    var href: String
    var style: ButtonStyle

    init(_ title: String, href: String, style: ButtonStyle = .secondary) {
        self.title = title
        self.href = href
        self.style = style
    }

    var body: any Component {
        tag("a", [.value("href", href), .value("class", "btn btn-" + style.rawValue)]) { Text(title) }
    }
}
