import AIProviders
import Foundation
import NebulaCore
import Plot
import Vapor

/// `/jarvis`: the chat. The server renders the conversation list, the chosen conversation
/// (`?c=<id>`) as plain text and the pickers; `jarvis.js` renders Markdown (marked, with raw HTML
/// escaped) and highlights code (highlight.js) when those Debian libraries are installed, streams
/// answers from `POST /api/v1/ai/chat`, and renames or deletes conversations through the API.
enum JarvisPage {
    static func register(_ page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void) {
        page(.GET, ["jarvis"], .viewer, nil, show)
    }

    /// Front-end libraries from Debian packages, served under `/vendor/…` (see `VendorFiles`).
    enum Vendor {
        static let marked = "marked/marked.min.js"                 // libjs-marked
        static let highlight = "highlight.js/highlight.min.js"     // libjs-highlight.js
        static let highlightTheme = "highlight.js/styles/atom-one-dark.css"

        static func installed(_ file: String) -> Bool {
            FileManager.default.fileExists(atPath: VendorFiles.root + "/" + file)
        }
    }

    /// What the page shows; filled by `show`, rendered by `view`.
    struct Model {
        var providers: [AIProviderDTO]
        var conversations: [ConversationDTO]
        var selected: ConversationDetailDTO?
        var hasMarked: Bool
        var hasHighlight: Bool
    }

    @Sendable static func show(req: Request) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        var context = try await req.pageContext("Jarvis", active: .jarvis)
        var selected: ConversationDetailDTO?
        if let raw = req.query[String.self, at: "c"], !raw.isEmpty {
            if let id = UUID(uuidString: raw), let detail = try? await services.aiConversations.detail(id, by: actor) {
                selected = detail
            } else {
                context.flash = Flash(kind: .error, message: "That conversation does not exist (any more); start a new one.")
            }
        }
        let model = Model(providers: try await services.ai.providers(by: actor).filter(\.enabled),
                          conversations: try await services.aiConversations.list(by: actor),
                          selected: selected,
                          hasMarked: Vendor.installed(Vendor.marked),
                          hasHighlight: Vendor.installed(Vendor.highlight))
        return req.render(view(context, model))
    }

    static func view(_ context: PageContext, _ model: Model) -> HTML {
        let conversation = model.selected?.conversation
        let provider = conversation?.provider ?? "auto"
        return Layout.page(context, actions: LinkButton("Providers", href: "/ai")) {
            if model.hasHighlight {
                voidTag("link", [.value("rel", "stylesheet"), .value("href", "/vendor/" + Vendor.highlightTheme)])
            }
            tag("div", [
                .value("class", "jarvis"),
                .value("data-jarvis", "app"),
                .value("data-csrf", context.csrfToken),
                .value("data-conversation", conversation.map { $0.id.uuidString }),
                .value("data-model", conversation?.model),
            ]) {
                conversationList(model)
                tag("section", [.value("class", "jarvis-chat"), .value("aria-label", "Conversation")]) {
                    tag("header", [.value("class", "jarvis-chat-head")]) {
                        Div {
                            H2(conversation?.title ?? "New conversation").class("jarvis-title").attribute(named: "data-jarvis-title", value: "title")
                            tag("form", [.value("class", "jarvis-rename"), .value("data-jarvis-rename", "form"), .flag("hidden")]) {
                                tag("label", [.value("for", "jarvis-rename-input"), .value("class", "visually-hidden")]) { Text("Conversation title") }
                                voidTag("input", [.value("id", "jarvis-rename-input"), .value("class", "input input-compact"), .value("name", "title"),
                                                  .value("maxlength", String(AIConversations.maxTitleLength)), .flag("required")])
                                tag("button", [.value("type", "submit"), .value("class", "btn btn-secondary btn-sm")]) { Text("Save") }
                                tag("button", [.value("type", "button"), .value("class", "btn btn-ghost btn-sm"), .value("data-jarvis-action", "rename-cancel")]) { Text("Cancel") }
                            }
                        }.class("jarvis-title-wrap")
                        tag("div", [.value("class", "button-row jarvis-title-actions"), .flag("hidden", conversation == nil), .value("data-jarvis-owned", "actions")]) {
                            tag("button", [.value("type", "button"), .value("class", "btn btn-ghost btn-sm"), .value("data-jarvis-action", "rename")]) { Text("Rename") }
                            tag("button", [.value("type", "button"), .value("class", "btn btn-ghost btn-sm jarvis-delete"), .value("data-jarvis-action", "delete")]) { Text("Delete") }
                        }
                    }
                    tag("div", [.value("class", "jarvis-messages"), .value("data-jarvis-messages", "list"), .value("role", "log"),
                                .value("aria-live", "polite"), .value("tabindex", "0")]) {
                        if let messages = model.selected?.messages, !messages.isEmpty {
                            for message in messages where message.role == .user || message.role == .assistant {
                                messageView(message)
                            }
                        }
                        tag("div", [.value("class", "jarvis-welcome"), .value("data-jarvis-welcome", "welcome"),
                                    .flag("hidden", !(model.selected?.messages.isEmpty ?? true))]) {
                            BrandMark()
                            Paragraph("Ask Jarvis anything").class("jarvis-welcome-title")
                            Paragraph(model.providers.isEmpty
                                      ? "No model provider is enabled yet: add one on the Providers page first."
                                      : "Answers stream in as they are written. With “auto”, local models answer first and the cloud only when they cannot.")
                                .class("muted")
                        }
                    }
                    composer(model, provider: provider)
                }
            }
            if !model.hasMarked {
                Paragraph("Markdown rendering is off: install the Debian package libjs-marked (and libjs-highlight.js for code colours).")
                    .class("muted jarvis-vendor-note")
            }
            if model.hasMarked { tag("script", [.value("src", "/vendor/" + Vendor.marked)]) }
            if model.hasHighlight { tag("script", [.value("src", "/vendor/" + Vendor.highlight)]) }
            tag("script", [.value("type", "module"), .value("src", "/js/jarvis.js")])
        }
    }

    static func conversationList(_ model: Model) -> any Component {
        tag("nav", [.value("class", "jarvis-sidebar"), .value("aria-label", "Conversations")]) {
            tag("a", [.value("class", "btn btn-primary jarvis-new"), .value("href", "/jarvis"), .value("data-jarvis-action", "new")]) { Text("New conversation") }
            tag("ul", [.value("class", "jarvis-conversations"), .value("data-jarvis-conversations", "list")]) {
                for item in model.conversations {
                    conversationItem(item, current: item.id == model.selected?.conversation.id)
                }
            }
            tag("p", [.value("class", "muted jarvis-empty-list"), .value("data-jarvis-empty", "empty"), .flag("hidden", !model.conversations.isEmpty)]) {
                Text("No conversations yet. Your first message starts one.")
            }
        }
    }

    static func conversationItem(_ item: ConversationDTO, current: Bool) -> any Component {
        ListItem {
            tag("a", [
                .value("class", "jarvis-conversation"),
                .value("href", "/jarvis?c=\(item.id)"),
                .value("data-id", item.id.uuidString),
                .value("aria-current", current ? "page" : nil),
            ]) {
                Span(item.title).class("jarvis-conversation-title")
                Span(item.messageCount == 1 ? "1 message" : "\(item.messageCount) messages").class("jarvis-conversation-meta")
            }
        }
    }

    static func messageView(_ message: ConversationMessageDTO) -> any Component {
        let isUser = message.role == .user
        return tag("article", [
            .value("class", "jarvis-msg " + (isUser ? "jarvis-msg-user" : "jarvis-msg-assistant") + (message.error != nil ? " has-error" : "")),
            .value("data-role", message.role.rawValue),
        ]) {
            Div(Text(isUser ? "You" : "Jarvis")).class("jarvis-msg-author")
            tag("div", [.value("class", "jarvis-msg-body"), .value("data-markdown", isUser ? nil : "md")]) { Text(message.content) }
            if let error = message.error {
                tag("div", [.value("class", "jarvis-msg-error"), .value("role", "alert")]) {
                    Text("Cut off: " + error)
                }
            }
            if !isUser, let provider = message.provider {
                Div(Text(provider + (message.model.map { "/" + $0 } ?? ""))).class("jarvis-msg-meta")
            }
        }
    }

    static func composer(_ model: Model, provider: String) -> any Component {
        tag("form", [.value("class", "jarvis-composer"), .value("data-jarvis-composer", "form")]) {
            tag("label", [.value("for", "jarvis-input"), .value("class", "visually-hidden")]) { Text("Message") }
            tag("textarea", [
                .value("id", "jarvis-input"),
                .value("name", "message"),
                .value("class", "input jarvis-input"),
                .value("rows", "3"),
                .value("placeholder", "Message Jarvis… (Enter sends, Shift+Enter for a new line)"),
                .flag("required"),
            ]) { EmptyComponent() }
            Div {
                Div {
                    tag("label", [.value("for", "jarvis-provider"), .value("class", "jarvis-picker-label")]) { Text("Provider") }
                    tag("select", [.value("id", "jarvis-provider"), .value("name", "provider"), .value("class", "input select input-compact"),
                                   .value("data-jarvis-provider", "select")]) {
                        tag("option", [.value("value", "auto"), .value("data-health", "auto"), .flag("selected", provider == "auto")]) { Text("auto · local first") }
                        for item in model.providers {
                            tag("option", [.value("value", item.name), .value("data-health", item.health), .value("data-local", item.isLocal ? "true" : "false"),
                                           .flag("selected", item.name == provider)]) {
                                Text("\(item.name) · \(healthWord(item.health))\(item.isLocal ? "" : " · cloud")")
                            }
                        }
                    }
                    tag("span", [.value("class", "badge tone-grey"), .value("data-jarvis-health", "badge")]) { Text("auto") }
                    tag("label", [.value("for", "jarvis-model"), .value("class", "jarvis-picker-label")]) { Text("Model") }
                    tag("select", [.value("id", "jarvis-model"), .value("name", "model"), .value("class", "input select input-compact"),
                                   .value("data-jarvis-model", "select")]) {
                        tag("option", [.keepingEmpty("value", "")]) { Text("default") }
                        for item in model.providers where item.name == provider {
                            for info in item.models {
                                tag("option", [.value("value", info.name), .flag("selected", info.name == model.selected?.conversation.model)]) { Text(info.name) }
                            }
                        }
                    }
                }.class("jarvis-pickers")
                Div {
                    tag("button", [.value("type", "button"), .value("class", "btn btn-danger"), .value("data-jarvis-action", "stop"), .flag("hidden")]) { Text("Stop") }
                    tag("button", [.value("type", "submit"), .value("class", "btn btn-primary"), .value("data-jarvis-action", "send")]) { Text("Send") }
                }.class("button-row")
            }.class("jarvis-composer-bar")
        }
    }

    static func healthWord(_ health: String) -> String {
        switch health {
        case "ok": "ok"
        case "down": "down"
        default: "not checked"
        }
    }
}
