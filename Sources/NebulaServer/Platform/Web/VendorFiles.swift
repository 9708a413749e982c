import Foundation
import Vapor

/// `/vendor/…`: front-end libraries installed by Debian packages under `/usr/share/javascript`
/// (Chart.js from `libjs-chart.js`, marked from `libjs-marked`, highlight.js from `libjs-highlight.js`). Pages work without them, less richly.
struct VendorFiles: RouteCollection {
    static let root = "/usr/share/javascript"
    /// Only these libraries are served, never the whole directory.
    static let allowed: Set<String> = ["chart.js", "marked", "highlight.js"]

    func boot(routes: any RoutesBuilder) throws {
        routes.on(.GET, "vendor", "**", use: serve).userInfo[AnySendableHashable(Endpoint.userInfoKey)] =
            Endpoint(role: nil, summary: "static files", tag: "Static")
    }

    @Sendable func serve(req: Request) async throws -> Response {
        let parts = req.parameters.getCatchall()
        guard let library = parts.first, Self.allowed.contains(library), parts.count >= 2,
              parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." && !$0.contains("\\") && !$0.hasPrefix(".") }) else {
            throw NebulaError.notFound("File")
        }
        let path = ([Self.root] + parts).joined(separator: "/")
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard resolved.hasPrefix("/usr/share/"), FileManager.default.fileExists(atPath: resolved) else {
            throw NebulaError.notFound("File")
        }
        let response = try await req.fileio.asyncStreamFile(at: resolved)
        response.headers.replaceOrAdd(name: .cacheControl, value: "public, max-age=86400")
        return response
    }
}
