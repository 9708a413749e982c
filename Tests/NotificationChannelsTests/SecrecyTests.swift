import Foundation
import Testing
@testable import NotificationChannels

@Suite struct SecrecyTests {
    @Test func channelDescriptionsHideSecrets() throws {
        // setup
        let discord = try NotificationChannel.discord(webhookURL: "https://discord.com/api/webhooks/1122334455/DiscordTokenSECRET")
        let webhook = try NotificationChannel.webhook(url: "https://hooks.example.com/t/PathTokenSECRET?key=QueryKeySECRET", secret: "HmacSECRET")
        let ntfy = try NotificationChannel.ntfy(serverURL: "https://user:PasswordSECRET@ntfy.example.com", topic: "TopicSECRET", token: "tk_NtfySECRET")
        let gotify = try NotificationChannel.gotify(serverURL: "https://push.example.com", appToken: "GotifySECRET")
        // act
        let descriptions = [discord, webhook, ntfy, gotify].map(\.description)
        // verify
        #expect(descriptions[0] == "discord discord.com/api/webhooks/1122334455/…")
        #expect(descriptions[1] == "webhook https://hooks.example.com/…")
        #expect(descriptions[2] == "ntfy https://ntfy.example.com topic To…")
        #expect(descriptions[3] == "gotify https://push.example.com")
        for description in descriptions {
            #expect(!description.contains("SECRET"), "\(description)")
        }
    }

    @Test func invalidChannelErrorsNeverRepeatTheInput() {
        // setup
        let inputs = [
            "ftp://discord.com/api/webhooks/1/TokenSECRET",
            "https://discord.com/api/webhooks/x/TokenSECRET",
            "TokenSECRET not a url",
            "https:///TokenSECRET",
        ]
        for input in inputs {
            // act
            let error = channelError { () throws(NotificationError) in try .discord(webhookURL: input) }
            // verify
            #expect(error?.code == .invalidChannel)
            #expect(error.map { !$0.description.contains("SECRET") } == true, "\(String(describing: error))")
        }
    }

    @Test func errorsFromEveryChannelNeverShowSecrets() async throws {
        // setup: a server that echoes every channel's secrets back in a 401, one that never answers, and a refused port
        let echo = try await RecordingHTTPServer.start(reply: .respond(
            status: 401,
            body: "bad token tk_NtfySECRET / GotifySECRET for /api/webhooks/77/DiscordTokenSECRET and /hook/PathSECRET HmacSECRET on TopicSECRET"))
        let silent = try await RecordingHTTPServer.start(reply: .never)
        let refusing = try RefusingPort()
        defer { Task { await echo.stop(); await silent.stop() } }
        func channels(_ base: String) throws(NotificationError) -> [(NotificationChannel, secrets: [String])] {
            [
                (try .discord(webhookURL: "\(base)/api/webhooks/77/DiscordTokenSECRET"), ["DiscordTokenSECRET"]),
                (try .webhook(url: "\(base)/hook/PathSECRET", secret: "HmacSECRET"), ["PathSECRET", "HmacSECRET"]),
                (try .ntfy(serverURL: base, topic: "TopicSECRET", token: "tk_NtfySECRET"), ["TopicSECRET", "tk_NtfySECRET"]),
                (try .gotify(serverURL: base, appToken: "GotifySECRET"), ["GotifySECRET"]),
            ]
        }
        // Only the silent server needs a short timeout; the others get room for a loaded machine.
        let patient = makeSender(timeout: .seconds(30))
        let impatient = makeSender(timeout: .milliseconds(300))
        let all = try channels(echo.url("")).map { ($0.0, $0.secrets, patient) }
            + channels(silent.url("")).map { ($0.0, $0.secrets, impatient) }
            + channels("http://127.0.0.1:\(refusing.port)").map { ($0.0, $0.secrets, patient) }
        var codes: [NotificationError.Code] = []
        for (channel, secrets, sender) in all {
            // act
            let error = await notificationError { () async throws(NotificationError) in
                try await sender.send(fullNotification, via: channel)
            }
            // verify: a channel's own secrets never show, even when the service echoes them
            let failure = try #require(error, "\(channel) succeeded")
            codes.append(failure.code)
            for secret in secrets {
                #expect(!failure.description.contains(secret), "\(failure.description)")
                #expect(!(failure.detail ?? "").contains(secret))
                #expect(!failure.channel.contains(secret))
            }
            if failure.code != .rejected {
                #expect(!failure.description.contains("SECRET"), "\(failure.description)")
            }
        }
        #expect(codes == Array(repeating: .rejected, count: 4) + Array(repeating: .timedOut, count: 4)
            + Array(repeating: .unreachable, count: 4))
        withExtendedLifetime(refusing) {}
    }
}
