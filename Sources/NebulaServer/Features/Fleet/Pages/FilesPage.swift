import Foundation
import NebulaAgent
import NebulaCore
import Plot
import Vapor

/// `/servers/{id}/files?root=&path=`: browse the server's shared folders, download, upload (with
/// progress, via files.js and the API), rename, delete, make folders.
enum FilesPage {
    static func register(_ page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void) {
        page(.GET, ["servers", ":id", "files"], .operator, nil, show)
        page(.POST, ["servers", ":id", "files", "mkdir"], .operator, "file.mkdir", makeDirectory)
        page(.POST, ["servers", ":id", "files", "rename"], .operator, "file.rename", rename)
        page(.POST, ["servers", ":id", "files", "delete"], .operator, "file.delete", delete)
    }

    static func link(_ server: UUID, _ root: Int, _ path: String) -> String {
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "root", value: String(root)), URLQueryItem(name: "path", value: path)]
        return "/servers/\(server)/files?" + (components.percentEncodedQuery ?? "")
    }

    @Sendable static func show(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        let server = try await req.nebula.fleet.find(id, by: try req.actor)
        let context = try await req.pageContext("Files · \(server.name)", active: .servers)
        let path = FilesController.clientPath(req)
        var listing: Listing?
        var problem: String?
        do {
            let (response, _) = try await req.nebula.files.perform(id, .list(path), by: try req.actor)
            listing = Listing(path: path, entries: response.entries ?? [], truncated: response.truncated ?? false)
        } catch let error as NebulaError where error.status != .unauthorized && error.status != .forbidden || error.code == "outside_root" {
            problem = error.message
        }
        let parent = path.path.split(separator: "/").dropLast().joined(separator: "/")
        return req.render(Layout.page(context, actions: LinkButton("Back to \(server.name)", href: "/servers/\(server.id)", style: .secondary)) {
            if !server.fileRoots.isEmpty {
                Div {
                    for (index, root) in server.fileRoots.enumerated() {
                        LinkButton(root, href: link(server.id, index, ""), style: index == path.root ? .primary : .secondary)
                    }
                }.class("button-row")
            }
            if let problem {
                EmptyState(title: "This folder cannot be shown", message: problem)
            }
            if let listing {
                Card(title: FilesService.display(path, roots: (try? FileRoots(server.fileRoots)) ?? .none),
                     actions: path.path.isEmpty ? nil : LinkButton("Up", href: link(server.id, path.root, parent), style: .secondary)) {
                    DataTable(caption: "Files", headers: ["Name", "Size", "Modified", "Permissions", ""],
                              rows: listing.entries.map { entry in row(entry, server: server.id, in: path, csrfToken: context.csrfToken) },
                              emptyTitle: "Empty folder", emptyMessage: "Upload a file or make a folder below.")
                    if listing.truncated {
                        Paragraph("Only the first \(listing.entries.count) entries are shown.").class("muted")
                    }
                }
                CardGrid {
                    Card(title: "Upload", subtitle: "Streamed to the server; an existing file is replaced only when you tick the box.") {
                        tag("form", [.value("class", "form-grid"), .value("data-upload-form", "true"),
                                     .value("data-server", server.id.uuidString), .value("data-root", String(path.root)),
                                     .value("data-path", path.path), .value("data-csrf", context.csrfToken ?? "")]) {
                            tag("input", [.value("type", "file"), .value("name", "file"), .value("required", "required"), .value("aria-label", "File to upload")])
                            tag("label", [.value("class", "checkbox")]) {
                                tag("input", [.value("type", "checkbox"), .value("name", "overwrite")])
                                Text(" Replace an existing file")
                            }
                            tag("progress", [.value("max", "1"), .value("value", "0"), .value("hidden", "hidden"), .value("data-upload-progress", "true")])
                            SubmitButton("Upload")
                            tag("noscript") { Text("Uploading needs JavaScript.") }
                        }
                    }
                    Card(title: "New folder") {
                        CSRFForm(action: "/servers/\(server.id)/files/mkdir", csrfToken: context.csrfToken, classes: "form-grid") {
                            hidden("root", String(path.root))
                            hidden("base", path.path)
                            FormField(label: "Name", name: "name", placeholder: "backups", required: true)
                            SubmitButton("Make folder", style: .secondary)
                        }
                    }
                }
            }
            tag("script", [.value("type", "module"), .value("src", "/js/files.js")])
        })
    }

    static func row(_ entry: FileEntry, server: UUID, in directory: ClientPath, csrfToken: String?) -> [any Component] {
        let child = directory.path.isEmpty ? entry.name : directory.path + "/" + entry.name
        let name: any Component
        switch entry.kind {
        case .directory:
            name = Link(entry.name + "/", url: link(server, directory.root, child))
        case .file:
            name = Link(entry.name, url: "/api/v1/servers/\(server)/files/download?" + (query(directory.root, child)))
                .attribute(named: "download", value: entry.name)
        case .symlink:
            name = Span("\(entry.name)" + (entry.symlinkTarget.map { " → \($0)" } ?? ""))
        case .other:
            name = Span(entry.name)
        }
        return [
            name,
            Text(entry.kind == .directory ? "—" : formatBytes(Int(clamping: entry.size))),
            RelativeTime(entry.modified),
            Span(entry.permissions).class("mono"),
            Div {
                CSRFForm(action: "/servers/\(server)/files/rename", csrfToken: csrfToken, classes: "inline-form") {
                    hidden("root", String(directory.root))
                    hidden("path", child)
                    tag("input", [.value("name", "to"), .value("value", child), .value("aria-label", "New path of \(entry.name)"), .value("class", "input input-compact")])
                    SubmitButton("Rename", style: .secondary)
                }
                CSRFForm(action: "/servers/\(server)/files/delete", csrfToken: csrfToken, classes: "inline-form",
                         confirm: entry.kind == .directory ? "Delete the folder \(entry.name) and everything in it?" : "Delete \(entry.name)?") {
                    hidden("root", String(directory.root))
                    hidden("path", child)
                    if entry.kind == .directory { hidden("recursive", "true") }
                    SubmitButton("Delete", style: .danger)
                }
            }.class("button-row"),
        ]
    }

    static func query(_ root: Int, _ path: String) -> String {
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "root", value: String(root)), URLQueryItem(name: "path", value: path)]
        return components.percentEncodedQuery ?? ""
    }

    static func hidden(_ name: String, _ value: String) -> any Component {
        tag("input", [.value("type", "hidden"), .value("name", name), .value("value", value)])
    }

    // MARK: Form actions

    static func formPath(_ req: Request, _ field: String = "path") -> ClientPath {
        ClientPath(root: req.formField("root").flatMap(Int.init) ?? 0, path: req.content[String.self, at: field] ?? "")
    }

    /// Runs a change and goes back to the folder it happened in, with the outcome shown.
    static func change(_ req: Request, folder: ClientPath, success: String, _ action: @escaping (FilesService, UUID, Actor) async throws -> Void) async throws -> Response {
        let id = try req.uuidParameter()
        return try await formAction(req, backTo: link(id, folder.root, folder.path), success: success) {
            try await action(try req.nebula.files, id, try req.actor)
        }
    }

    @Sendable static func makeDirectory(req: Request) async throws -> Response {
        let base = formPath(req, "base")
        let name = req.formField("name") ?? ""
        let folder = ClientPath(root: base.root, path: base.path.isEmpty ? name : base.path + "/" + name)
        return try await change(req, folder: base, success: "Folder \(name) made.") { files, id, actor in
            let (_, target) = try await files.perform(id, .makeDirectory(folder), by: actor)
            try await files.audited("file.mkdir", folder, on: target, by: actor)
        }
    }

    @Sendable static func rename(req: Request) async throws -> Response {
        let from = formPath(req)
        let to = ClientPath(root: from.root, path: req.formField("to") ?? "")
        let folder = ClientPath(root: from.root, path: from.path.split(separator: "/").dropLast().joined(separator: "/"))
        return try await change(req, folder: folder, success: "Renamed to \(to.path).") { files, id, actor in
            let (_, target) = try await files.perform(id, .rename(from, to: to), by: actor)
            try await files.audited("file.rename", from, on: target, by: actor, detail: "to \(to.path)")
        }
    }

    @Sendable static func delete(req: Request) async throws -> Response {
        let path = formPath(req)
        let folder = ClientPath(root: path.root, path: path.path.split(separator: "/").dropLast().joined(separator: "/"))
        let recursive = req.formField("recursive") == "true"
        return try await change(req, folder: folder, success: "Deleted \(path.path).") { files, id, actor in
            let (_, target) = try await files.perform(id, .delete(path, recursive: recursive), by: actor)
            try await files.audited("file.delete", path, on: target, by: actor)
        }
    }
}
