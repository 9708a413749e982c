import NebulaCore
import Prometheus
import Vapor

/// The Prometheus metrics this process exposes on `/metrics`: request counts and latency by
/// route and status, and the job queue's depth and outcomes. One registry per application, so
/// that several applications in one test process do not share counters.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    private static var requests: MetricNameDescriptor { MetricNameDescriptor(namespace: "nebula", subsystem: "http", metricName: "requests", unitName: "total", helpText: "HTTP requests by method, route and status.") }
    private static var latency: MetricNameDescriptor { MetricNameDescriptor(namespace: "nebula", subsystem: "http", metricName: "request_duration", unitName: "seconds", helpText: "HTTP request latency by method and route.") }
    private static var jobsFinished: MetricNameDescriptor { MetricNameDescriptor(namespace: "nebula", subsystem: "jobs", metricName: "finished", unitName: "total", helpText: "Jobs that ended, by type and outcome.") }
    private static var jobsByStatus: MetricNameDescriptor { MetricNameDescriptor(namespace: "nebula", subsystem: "jobs", metricName: "in_status", unitName: "count", helpText: "Jobs currently in each status.") }
    private static var agentIngest: MetricNameDescriptor { MetricNameDescriptor(namespace: "nebula", subsystem: "agent", metricName: "ingest", unitName: "seconds", helpText: "Time to store one agent sample.") }
    private static let buckets: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                                              .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5)]

    func recordRequest(method: String, route: String, status: Int, duration: Duration) {
        registry.makeCounter(descriptor: Self.requests, labels: [("method", method), ("route", route), ("status", String(status))]).increment()
        registry.makeDurationHistogram(descriptor: Self.latency, labels: [("method", method), ("route", route)], buckets: Self.buckets).record(duration)
    }

    func recordAgentIngest(_ duration: Duration) {
        registry.makeDurationHistogram(descriptor: Self.agentIngest, buckets: Self.fineBuckets).record(duration)
    }

    /// Finer buckets for work that should take milliseconds.
    private static let fineBuckets: [Duration] = [.microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                                                  .milliseconds(20), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1)]

    func recordJobFinished(type: String, outcome: JobStatus) {
        registry.makeCounter(descriptor: Self.jobsFinished, labels: [("type", type), ("outcome", outcome.rawValue)]).increment()
    }

    /// The exposition text, after refreshing gauges that are read from the database at scrape time.
    func render(jobCounts: [JobStatus: Int]) -> String {
        for (status, count) in jobCounts {
            registry.makeGauge(descriptor: Self.jobsByStatus, labels: [("status", status.rawValue)]).set(to: Double(count))
        }
        return registry.emitToString()
    }
}

/// Measures every request. The route label is the registered pattern (`/api/v1/jobs/:id`), never
/// the raw path, so ids do not explode the number of series.
struct MetricsMiddleware: AsyncMiddleware {
    let metrics: ServerMetrics

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next.respond(to: request)
        let route = request.route.map { "/" + $0.path.map(\.description).joined(separator: "/") } ?? "unmatched"
        metrics.recordRequest(method: request.method.rawValue, route: route, status: Int(response.status.code), duration: ContinuousClock.now - start)
        return response
    }
}
