import Foundation
import OpenAPIKit30
import Vapor

/// `/api/v1/servers/{id}/power` and `/wake`.
struct PowerController: RouteCollection {
    struct PowerRequest: Codable, Sendable {
        var action: PowerService.PowerAction
        /// The server's name, typed back.
        var confirm: String?
    }

    struct WakeRequest: Codable, Sendable {
        /// An online node in the same LAN that sends the packet; the control plane when absent.
        var via: UUID?
    }

    func boot(routes: any RoutesBuilder) throws {
        routes.endpoint(.POST, "servers", ":id", "power", role: .operator, audit: "server.power",
                        summary: "Reboot or shut down a server (confirm with its name)", tag: "Fleet",
                        request: PowerRequestDoc.doc, response: PowerOutcomeDoc.doc, use: power)
        routes.endpoint(.POST, "servers", ":id", "wake", role: .operator, audit: "server.wake",
                        summary: "Send a Wake-on-LAN magic packet, from the control plane or a node in the same LAN", tag: "Fleet",
                        request: WakeRequestDoc.doc, response: PowerOutcomeDoc.doc, use: wake)
    }

    @Sendable func power(req: Request) async throws -> PowerService.Outcome {
        let input = try req.decodeJSON(PowerRequest.self, allowedKeys: ["action", "confirm"])
        return try await req.nebula.power.power(try req.uuidParameter(), action: input.action, confirm: input.confirm, by: try req.actor)
    }

    @Sendable func wake(req: Request) async throws -> PowerService.Outcome {
        let input = req.body.data == nil ? WakeRequest() : try req.decodeJSON(WakeRequest.self, allowedKeys: ["via"])
        return try await req.nebula.power.wake(try req.uuidParameter(), via: input.via, by: try req.actor)
    }
}

extension PowerService.Outcome: Content {}

enum PowerRequestDoc: Documented {
    static let schemaName = "PowerRequest"
    static let schema = JSONSchema.object(properties: [
        "action": .string(allowedValues: PowerService.PowerAction.allCases.map { AnyCodable($0.rawValue) }),
        "confirm": .string(description: "The server's name, typed back"),
    ])
    static let example: String? = #"{"action":"reboot","confirm":"nas"}"#
}

enum WakeRequestDoc: Documented {
    static let schemaName = "WakeRequest"
    static let schema = JSONSchema.object(properties: [
        "via": .string(format: .other("uuid"), required: false, description: "An online agent node in the same LAN that sends the packet"),
    ])
    static let example: String? = #"{}"#
}

enum PowerOutcomeDoc: Documented {
    static let schemaName = "PowerOutcome"
    static let schema = JSONSchema.object(properties: ["ok": .boolean, "message": .string])
}
