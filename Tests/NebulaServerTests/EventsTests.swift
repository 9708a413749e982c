import Foundation
import NebulaCore
@testable import NebulaServer
import Testing

@Suite struct EventsTests {
    @Test(arguments: TestDatabase.all)
    func historyListsPublishedEventsNewestFirstWithFilters(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .viewer)
            let bus = try app.services.events
            await bus.publish("test.alpha", subject: "a")
            await bus.publish("test.beta", subject: "b")
            await bus.publish("test.alpha", subject: "c")
            // act
            let all = try await app.request(.GET, "/api/v1/events?types=test.alpha,test.beta&limit=2", token: token)
            let alpha = try await app.request(.GET, "/api/v1/events?types=test.alpha", token: token)
            let bad = try await app.request(.GET, "/api/v1/events?types=DROP%20TABLE", token: token)
            // verify
            let page = try all.decode(ListPage<EventEnvelope>.self)
            #expect(page.total == 3 && page.items.map(\.subject) == ["c", "b"])
            #expect(try alpha.decode(ListPage<EventEnvelope>.self).items.map(\.subject) == ["c", "a"])
            #expect(bad.status == .badRequest && bad.errorCode == "invalid_types")
        }
    }

    @Test(arguments: TestDatabase.all)
    func streamFiltersByTypeSendsHeartbeatsAndResumesAfterLastEventID(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .viewer)
            let bus = try app.services.events
            let stream = try await SSEReader.open(app.baseURL + "/api/v1/events/stream?types=test.kept", token: token)
            #expect(stream.status == 200)
            try await Task.sleep(for: .milliseconds(200))
            // act
            await bus.publish("test.dropped", subject: "no")
            let first = await bus.publish("test.kept", subject: "one")
            let received = await stream.next()
            let heartbeat = await stream.next(timeout: .seconds(3)) { $0.event == "(heartbeat)" }
            stream.close()
            await bus.publish("test.kept", subject: "two")
            await bus.publish("test.kept", subject: "three")
            let resumed = try await SSEReader.open(app.baseURL + "/api/v1/events/stream?types=test.kept", token: token,
                                                   headers: [("Last-Event-ID", String(first?.id ?? 0))])
            let replay1 = await resumed.next()
            let replay2 = await resumed.next()
            await bus.publish("test.kept", subject: "four")
            let live = await resumed.next()
            resumed.close()
            // verify
            #expect(received?.event == "test.kept" && received?.id == String(first?.id ?? -1))
            #expect(received?.data.contains(#""subject":"one""#) == true)
            #expect(heartbeat != nil)
            #expect([replay1, replay2, live].map { $0?.data.contains("\"subject\":\"") == true } == [true, true, true])
            #expect(replay1?.data.contains(#""subject":"two""#) == true)
            #expect(replay2?.data.contains(#""subject":"three""#) == true)
            #expect(live?.data.contains(#""subject":"four""#) == true)
        }
    }

    @Test(arguments: TestDatabase.onlyPostgres)
    func eventsPublishedOnOneReplicaReachStreamsOfAnother(_ database: TestDatabase) async throws {
        try await withApp(database) { first in
            // setup
            let second = try await TestApp.start(config: first.config, directory: first.directory)
            let token = try await first.token(role: .viewer)
            let stream = try await SSEReader.open(second.baseURL + "/api/v1/events/stream?types=test.crossed", token: token)
            try await Task.sleep(for: .milliseconds(300))
            // act
            await (try first.services).events.publish("test.crossed", subject: "from-first")
            let received = await stream.next()
            stream.close()
            await second.stop()
            // verify
            #expect(received?.data.contains("from-first") == true)
        }
    }
}
