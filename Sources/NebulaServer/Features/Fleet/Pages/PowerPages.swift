import Foundation
import HostMetrics
import NebulaCore
import Plot
import Vapor

/// The server page's power and Wake-on-LAN forms.
enum PowerPages {
    static func register(_ page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void) {
        page(.POST, ["servers", ":id", "power"], .operator, "server.power", power)
        page(.POST, ["servers", ":id", "wake"], .operator, "server.wake", wake)
    }

    @Sendable static func power(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        return try await outcomeAction(req, backTo: "/servers/\(id)") {
            guard let action = req.formField("action").flatMap(PowerService.PowerAction.init(rawValue:)) else {
                throw NebulaError.invalid("Choose reboot or shutdown.", code: "invalid_action")
            }
            return try await req.nebula.power.power(id, action: action, confirm: req.formField("confirm"), by: try req.actor)
        }
    }

    @Sendable static func wake(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        return try await outcomeAction(req, backTo: "/servers/\(id)") {
            try await req.nebula.power.wake(id, via: req.formField("via").flatMap(UUID.init(uuidString:)), by: try req.actor)
        }
    }

    /// Runs a power action and goes back with its outcome (or the reason it was refused) shown.
    private static func outcomeAction(_ req: Request, backTo page: String, _ action: () async throws -> PowerService.Outcome) async throws -> Response {
        do {
            let outcome = try await action()
            return req.redirect(to: page, flash: Flash(kind: outcome.ok ? .success : .error, message: outcome.message))
        } catch let error as NebulaError where error.status != .unauthorized {
            return req.redirect(to: page, flash: Flash(kind: .error, message: error.message))
        }
    }
}

/// Reboot / shut down (name typed back) and Wake-on-LAN, for operators.
struct PowerCard: Component {
    var server: ServerDTO
    /// Online agent nodes (and the local node) that can send a magic packet into their LAN.
    var relays: [ServerDTO]
    var csrfToken: String?

    var body: any Component {
        Card(title: "Power", subtitle: "Reboot and shutdown run systemctl on the machine (NEBULA_REBOOT_COMMAND / NEBULA_SHUTDOWN_COMMAND change it).") {
            CSRFForm(action: "/servers/\(server.id)/power", csrfToken: csrfToken, classes: "form-grid power-form") {
                FormField(label: "Type the server's name to confirm", name: "confirm", placeholder: server.name, required: true,
                          hint: "Nothing happens until the name matches.", autocomplete: "off")
                Div {
                    tag("button", [.value("type", "submit"), .value("name", "action"), .value("value", "reboot"), .value("class", "button secondary")]) { Text("Reboot") }
                    tag("button", [.value("type", "submit"), .value("name", "action"), .value("value", "shutdown"), .value("class", "button danger")]) { Text("Shut down") }
                }.class("button-row")
            }
            if server.macAddress != nil {
                CSRFForm(action: "/servers/\(server.id)/wake", csrfToken: csrfToken, classes: "form-grid wake-form") {
                    SelectField(label: "Send the magic packet from", name: "via",
                                options: [("", "The control plane")] + relays.filter { $0.id != server.id }.map { ($0.id.uuidString, $0.name) },
                                selected: "", hint: "Broadcasts do not cross routers: pick a node in the sleeping machine's LAN.")
                    SubmitButton("Wake (\(server.macAddress ?? ""))", style: .secondary)
                }
            } else {
                Paragraph("Set a MAC address under Edit to wake this machine over the network.").class("muted")
            }
        }
    }
}

/// What the node reported about its hardware when it joined.
struct HardwareCard: Component {
    var profile: HardwareProfile

    var body: any Component {
        Card(title: "Hardware") {
            DetailList([
                ("CPU", Text([profile.cpuModel, "\(profile.logicalCores) threads", profile.physicalCores.map { "\($0) cores" }].compactMap { $0 }.joined(separator: " · "))),
                ("Memory", Text(formatBytes(Int(clamping: profile.memoryTotalBytes)) + (profile.swapTotalBytes > 0 ? " + \(formatBytes(Int(clamping: profile.swapTotalBytes))) swap" : ""))),
                ("Disks", Text(profile.disks.isEmpty ? "—" : profile.disks.map { "\($0.name) \(formatBytes(Int(clamping: $0.sizeBytes)))\($0.model.map { " (\($0))" } ?? "")" }.joined(separator: ", "))),
                ("GPUs", Text(profile.gpus.isEmpty ? "none" : profile.gpus.map { "\($0.name)\($0.memoryTotalBytes.map { " · \(formatBytes(Int(clamping: $0))) VRAM" } ?? "")" }.joined(separator: ", "))),
                ("System", Text([profile.operatingSystem, profile.kernel.map { "kernel \($0)" }, profile.architecture].compactMap { $0 }.joined(separator: " · "))),
            ])
        }
    }
}
