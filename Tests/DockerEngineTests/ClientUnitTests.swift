@testable import DockerEngine
import Foundation
import NIOCore
import Testing

/// Parts that need no engine: endpoints, framing, errors.
@Suite struct ClientUnitTests {
    @Test(arguments: [
        ("unix:///var/run/docker.sock", DockerEndpoint.unix(path: "/var/run/docker.sock")),
        ("tcp://10.0.0.5:2376", .tcp(host: "10.0.0.5", port: 2376)),
        ("tcp://docker.lan", .tcp(host: "docker.lan", port: 2375)),
        ("tcp://[::1]:2375", .tcp(host: "::1", port: 2375)),
    ])
    func endpointsParse(_ text: String, _ expected: DockerEndpoint) throws {
        // act
        let endpoint = try DockerEndpoint(parsing: text)
        // verify
        #expect(endpoint == expected)
    }

    @Test(arguments: ["ssh://me@host", "unix://relative.sock", "tcp://host:99999", "npipe:////./pipe/docker_engine"])
    func badEndpointsAreRefused(_ text: String) {
        // act
        let error = #expect(throws: DockerError.self) { try DockerEndpoint(parsing: text) }
        // verify
        #expect(error?.code == .invalidEndpoint)
    }

    @Test func dockerHostDecidesTheEndpoint() throws {
        // act
        let fromEnv = try DockerEndpoint.fromEnvironment(["DOCKER_HOST": "unix:///tmp/x.sock"])
        let fallback = try DockerEndpoint.fromEnvironment([:])
        // verify
        #expect(fromEnv == .unix(path: "/tmp/x.sock"))
        #expect(fallback == .default)
        #expect(try DockerEndpoint.unix(path: "/tmp/d k/docker.sock").url("/v1.41/_ping") == "http+unix://%2Ftmp%2Fd%20k%2Fdocker.sock/v1.41/_ping")
    }

    @Test func framesSplitAcrossChunksAreReassembled() {
        // setup
        var body = ByteBuffer()
        for (kind, text) in [(UInt8(1), "hello\nwor"), (2, "oops\n"), (1, "ld\n"), (1, "tail")] {
            body.writeInteger(kind)
            body.writeBytes([0, 0, 0])
            body.writeInteger(UInt32(text.utf8.count), endianness: .big)
            body.writeString(text)
        }
        var demultiplexer = LogDemultiplexer(multiplexed: true, timestamps: false)
        // act: feed three bytes at a time
        var lines: [LogLine] = []
        while body.readableBytes > 0 {
            let chunk = body.readSlice(length: min(3, body.readableBytes)) ?? ByteBuffer()
            lines += demultiplexer.feed(chunk)
        }
        lines += demultiplexer.finish()
        // verify
        #expect(lines == [
            LogLine(stream: .stdout, text: "hello"),
            LogLine(stream: .stderr, text: "oops"),
            LogLine(stream: .stdout, text: "world"),
            LogLine(stream: .stdout, text: "tail"),
        ])
    }

    @Test func timestampsAreParsedWithNanoseconds() throws {
        // setup
        var demultiplexer = LogDemultiplexer(multiplexed: false, timestamps: true)
        // act
        let lines = demultiplexer.feed(ByteBuffer(string: "2024-05-01T12:00:00.123456789Z hello world\r\n"))
        // verify
        let line = try #require(lines.first)
        #expect(line.text == "hello world" && line.stream == .console)
        let expected = Date(timeIntervalSince1970: 1_714_564_800.123456789)
        #expect(abs((line.timestamp ?? .distantPast).timeIntervalSince(expected)) < 0.000_01)
        #expect(DockerDate.parse("0001-01-01T00:00:00Z") == nil)
        #expect(DockerDate.unixString(Date(timeIntervalSince1970: 1.5)) == "1.500000000")
    }

    @Test func everyErrorSaysWhatToDo() {
        // setup
        let errors: [DockerError] = DockerError.Code.allCases.map { DockerError(code: $0, detail: "x", message: "m") }
        // verify
        for error in errors {
            #expect(error.description.count > 30, "\(error.code)")
        }
        #expect(DockerError.Code.noSuchContainer.rawValue == "no_such_container")
        #expect(DockerError.unreachable("unix:///x").description.contains("may this user read the socket"))
    }

    @Test func healthIsReadFromTheStatus() {
        #expect(ContainerHealth(status: "Up 3 minutes (healthy)") == .healthy)
        #expect(ContainerHealth(status: "Up 2 seconds (health: starting)") == .starting)
        #expect(ContainerHealth(status: "Up 1 hour (unhealthy)") == .unhealthy)
        #expect(ContainerHealth(status: "Up 1 hour") == nil)
    }
}
