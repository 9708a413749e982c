import Foundation
import HostMetrics
import NebulaCore
@testable import NebulaServer
import Fluent
import Testing

@Suite struct FleetTests {

    /// Polls the server list until `predicate` holds or `timeout` passes.
    func waitForServers(_ app: TestApp, token: String, timeout: Duration = .seconds(60), until predicate: ([ServerDTO]) -> Bool) async throws -> [ServerDTO] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let servers = try await app.request(.GET, "/api/v1/servers", token: token).decode(ServerListBody.self).items
            if predicate(servers) || ContinuousClock.now > deadline { return servers }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    @Test(arguments: TestDatabase.all)
    func theLocalMachineIsTheFirstNodeWithLiveMetricsAndHistory(_ database: TestDatabase) async throws {
        try await withApp(database, configure: { $0.measuresLocalHost = true; $0.metricsInterval = .seconds(1) }) { app in
            // setup
            let token = try await app.token(role: .viewer)
            let stream = try await SSEReader.open(app.baseURL + "/api/v1/events/stream?types=server.metrics", token: token)
            // act
            // Online too: with a 1 s interval a starved runner can miss three readings in a row,
            // and the node is marked offline until the next one arrives.
            let servers = try await waitForServers(app, token: token) { $0.first?.latest?.cpu != nil && $0.first?.status == .online }
            let live = await stream.next()
            stream.close()
            let local = try #require(servers.first)
            let history = try await app.request(.GET, "/api/v1/servers/\(local.id)/metrics?range=1h&step=5", token: token).decode(MetricsSeries.self)
            let page = try await app.request(.GET, "/servers/\(local.id)", token: token)
            let sparklines = try await app.request(.GET, "/api/v1/servers/sparklines", token: token).decode([String: Sparkline].self)
            let fleetPage = try await app.request(.GET, "/servers", token: token)
            // verify
            #expect(servers.count == 1)
            let spark = try #require(sparklines[local.id.uuidString], "the local node has a sparkline")
            #expect(!spark.cpu.isEmpty && spark.memory.allSatisfy { (0...1).contains($0) } && !spark.memory.isEmpty)
            #expect(fleetPage.body.contains(#"data-spark="cpu""#))
            #expect(local.connection == .local && local.status == .online && local.tags == ["local"])
            let latest = try #require(local.latest)
            #expect(latest.memoryTotalBytes > 0 && latest.memoryUsedBytes <= latest.memoryTotalBytes)
            #expect(latest.diskTotalBytes > 0 && latest.uptimeSeconds > 0 && latest.processes > 1)
            #expect((0...1).contains(latest.cpu ?? -1))
            #expect(live?.event == "server.metrics" && live?.id == nil, "readings are broadcast live, never stored")
            #expect(live?.data.contains(local.id.uuidString) == true)
            #expect(try await EventRecord.query(on: app.app.db).filter(\.$type == "server.metrics").count() == 0)
            #expect(history.series["memory"]?.isEmpty == false)
            #expect(history.series["cpu"]?.allSatisfy { (0...1).contains($0.v) } == true)
            #expect(page.status == .ok && page.body.contains("data-server-charts") && page.body.contains("Filesystems"))
        }
    }

    @Test(arguments: TestDatabase.all)
    func serversAreAddedEditedAndRemovedWithClearErrors(_ database: TestDatabase) async throws {
        try await withApp(database, configure: { $0.measuresLocalHost = true }) { app in
            // setup
            let token = try await app.token(role: .operator)
            let local = try #require(try await waitForServers(app, token: token) { !$0.isEmpty }.first)
            // act
            let created = try await app.request(.POST, "/api/v1/servers", token: token,
                                                json: #"{"name":"nas","connection":"ssh","address":"192.0.2.5","tags":["Media"," rack-1 "]}"#)
            let server = try created.decode(ServerDTO.self)
            let duplicate = try await app.request(.POST, "/api/v1/servers", token: token, json: #"{"name":"nas","connection":"agent"}"#)
            let problems = [
                try await app.request(.POST, "/api/v1/servers", token: token, json: #"{"name":"x","connection":"ssh"}"#),
                try await app.request(.POST, "/api/v1/servers", token: token, json: #"{"name":"x;rm -rf","connection":"agent"}"#),
                try await app.request(.POST, "/api/v1/servers", token: token, json: #"{"name":"x","connection":"ssh","address":"h","port":70000}"#),
                try await app.request(.POST, "/api/v1/servers", token: token, json: #"{"name":"x","connection":"local"}"#),
                try await app.request(.POST, "/api/v1/servers", token: token, json: #"{"name":"x","connection":"ssh","address":"$(reboot)"}"#),
            ]
            let edited = try await app.request(.PATCH, "/api/v1/servers/\(server.id)", token: token, json: #"{"port":2222,"tags":["media"]}"#)
            let removeLocal = try await app.request(.DELETE, "/api/v1/servers/\(local.id)", token: token)
            let removed = try await app.request(.DELETE, "/api/v1/servers/\(server.id)", token: token)
            let gone = try await app.request(.GET, "/api/v1/servers/\(server.id)", token: token)
            // verify
            #expect(created.status == .created)
            #expect(server.connection == .ssh && server.port == 22 && server.username == "root" && server.tags == ["media", "rack-1"])
            #expect(duplicate.status == .conflict && duplicate.errorCode == "server_exists")
            #expect(problems.map(\.status) == Array(repeating: .unprocessableEntity, count: 5), "\(problems.map(\.body))")
            #expect(problems.map(\.errorCode) == ["invalid_address", "invalid_server_name", "invalid_port", "invalid_connection", "invalid_address"])
            #expect(try edited.decode(ServerDTO.self).port == 2222)
            #expect(removeLocal.status == .conflict && removeLocal.errorCode == "local_server")
            #expect(removed.status == .noContent && gone.status == .notFound)
            #expect(try await app.auditEntries(action: "server.*").filter { $0.actor != "fleet" }.map(\.action).sorted()
                    == ["server.create", "server.create", "server.delete", "server.update"])
        }
    }

    @Test(arguments: TestDatabase.all)
    func aNodeThatStopsReportingGoesOfflineOnceAndComesBack(_ database: TestDatabase) async throws {
        var options = RuntimeOptions.forTests
        options.startsBackgroundWork = false
        try await withApp(database, options: options) { app in
            // setup
            let fleet = try app.services.fleet
            let node = try await fleet.create(.init(name: "pi", connection: .agent), by: .system())
            var sample = try await HostSampler(gpuProbe: nil).sample()
            sample.timestamp = Date().addingTimeInterval(-60)
            try await fleet.ingest(sample, for: node.id)
            // act
            let first = try await fleet.markSilentServersOffline()
            let second = try await fleet.markSilentServersOffline()
            sample.timestamp = Date()
            try await fleet.ingest(sample, for: node.id)
            // verify
            #expect(first == ["pi"])
            #expect(second.isEmpty, "no flapping: one offline event per outage")
            #expect(try await fleet.find(node.id, by: .system()).status == .online)
            let kinds = try await app.services.events.recent(types: [.serverOffline, .serverOnline], before: nil, limit: 10).items.map(\.type)
            #expect(kinds == [.serverOnline, .serverOffline, .serverOnline])
        }
    }

    @Test(arguments: TestDatabase.all)
    func historyAveragesSamplesIntoBuckets(_ database: TestDatabase) async throws {
        var options = RuntimeOptions.forTests
        options.startsBackgroundWork = false
        try await withApp(database, options: options) { app in
            // setup
            let fleet = try app.services.fleet
            let node = try await fleet.create(.init(name: "box", connection: .agent), by: .system())
            var sample = try await HostSampler(gpuProbe: nil).sample()
            let total = sample.memory.totalBytes
            // Two samples in one 10-minute bucket 20 minutes ago, one in the current bucket.
            let bucketStart = (Date().timeIntervalSince1970 / 600).rounded(.down) * 600
            for (at, used) in [(bucketStart - 1200 + 10, total / 4), (bucketStart - 1200 + 20, total / 2), (bucketStart, total)] {
                sample.timestamp = Date(timeIntervalSince1970: at)
                sample.memory.usedBytes = used
                try await fleet.ingest(sample, for: node.id)
            }
            // act
            let series = try await fleet.series(for: node.id, range: .hour, step: 600, by: .system())
            let bad = try await app.request(.GET, "/api/v1/servers/\(node.id)/metrics?range=2y", token: try await app.token(role: .viewer))
            // verify
            let memory = try #require(series.series["memory"])
            #expect(memory.count == 2)
            #expect(abs(memory[0].v - 0.375) < 0.001, "the first bucket averages 25 % and 50 %")
            #expect(abs(memory[1].v - 1.0) < 0.001)
            #expect(series.stepSeconds == 600)
            #expect(bad.status == .badRequest && bad.errorCode == "invalid_range")
        }
    }

    @Test(arguments: TestDatabase.all)
    func historyRollsUpIntoMinutesAndHoursAndKeepsEachTierForItsRetention(_ database: TestDatabase) async throws {
        var options = RuntimeOptions.forTests
        options.startsBackgroundWork = false
        try await withApp(database, options: options) { app in
            // setup
            let fleet = try app.services.fleet
            let history = fleet.history
            let node = try await fleet.create(.init(name: "nas", connection: .agent), by: .system())
            var sample = try await HostSampler(gpuProbe: nil).sample()
            let total = sample.memory.totalBytes
            let hour = (Date().timeIntervalSince1970 / 3600).rounded(.down) * 3600
            // Ages relative to the start of this hour: 400 d (past every tier), 9 d (hour tier only),
            // 3 d (minute and hour tiers), 2 h and 10 min ago, plus one sample after the last rollup.
            let samples: [(at: TimeInterval, used: UInt64)] = [
                (hour - 400 * 86400, total), (hour - 9 * 86400 + 5, total / 4), (hour - 9 * 86400 + 65, total / 2),
                (hour - 3 * 86400 + 5, total / 4), (hour - 3 * 86400 + 10, total / 2), (hour - 7200 + 5, total / 2),
                (hour - 600, total / 4),
            ]
            for (at, used) in samples {
                sample.timestamp = Date(timeIntervalSince1970: at)
                sample.memory.usedBytes = used
                try await fleet.ingest(sample, for: node.id)
            }
            let now = Date(timeIntervalSince1970: hour + 30)
            // act
            let rolled = try await history.rollUp(now: now)
            let again = try await history.rollUp(now: now)
            let pruned = try await history.prune(now: now)
            sample.timestamp = Date(timeIntervalSince1970: hour + 20)
            sample.memory.usedBytes = total
            try await fleet.ingest(sample, for: node.id)
            let week = try await fleet.series(for: node.id, range: .week, step: nil, now: now, by: .system())
            let month = try await fleet.series(for: node.id, range: .month, step: 86400, now: now, by: .system())
            let day = try await fleet.series(for: node.id, range: .day, step: 60, now: now, by: .system())
            let tooFine = try await app.request(.GET, "/api/v1/servers/\(node.id)/metrics?range=1y&step=60", token: try await app.token(role: .viewer))
            // verify
            #expect(rolled == .init(minuteBuckets: 6, hourBuckets: 5), "one bucket per minute and per hour that had samples")
            #expect(again == .init(), "rolling up twice stores nothing twice")
            #expect(pruned == .init(rawSamples: 5, minuteRollups: 3, hourRollups: 1),
                    "raw older than 24 h, minute rollups older than 7 d, hour rollups older than 1 y")
            #expect(week.resolution == "3600s" && week.stepSeconds == 3600)
            let weekMemory = try #require(week.series["memory"]).map { ($0.t.timeIntervalSince1970, ($0.v * 1000).rounded() / 1000) }
            #expect(weekMemory.map(\.0) == [hour - 3 * 86400, hour - 7200, hour - 3600, hour], "hour rollups, then the raw sample after them")
            #expect(weekMemory.map(\.1) == [0.375, 0.5, 0.25, 1.0])
            let monthMemory = try #require(month.series["memory"])
            let days = Set([hour - 9 * 86400, hour - 3 * 86400, hour - 7200, hour - 3600, hour].map { ($0 / 86400).rounded(.down) })
            #expect(monthMemory.count == days.count, "the 9 d and 3 d hour rollups, the last hours' rollups and the fresh sample, by day")
            #expect(abs(monthMemory[0].v - 0.375) < 0.001, "two samples of one minute 9 days ago, kept as an hour rollup")
            #expect(day.resolution == "60s")
            #expect(try #require(day.series["memory"]).map(\.t.timeIntervalSince1970) == [hour - 7200, hour - 600, hour])
            #expect(tooFine.status == .badRequest && tooFine.errorCode == "invalid_step")
        }
    }

    @Test func switchingTheLocalAgentOffListsNoLocalNode() throws {
        // act
        let config = try Config.load(environment: ["NEBULA_LOCAL_AGENT": "false", "NEBULA_METRICS_INTERVAL_SECONDS": "10"])
        // verify
        #expect(!config.measuresLocalHost)
        #expect(config.metricsInterval == .seconds(10))
    }
}
