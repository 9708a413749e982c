import Foundation
import NebulaTestSupport
import Testing
@testable import NotificationChannels

/// Email over SMTP against a real server (aiosmtpd) on loopback, with a test CA.
@Suite struct EmailTests {
    /// An email channel to `listener` of `server` as `localhost`, trusting the test CA, logged in.
    func channel(_ server: SMTPTestServer, listener: String = "starttls", security: SMTPSecurity = .starttls,
                 to: [String] = ["ops@example.com"], password: String? = nil, trustCA: Bool = true,
                 host: String = "localhost", subjectPrefix: String = "") throws -> NotificationChannel {
        try .email(host: host, port: server.port(listener), security: security,
                   username: server.user, password: password ?? server.password,
                   from: "nebula@lab.example.com", to: to, heloName: "nebula.lab.example.com",
                   trustedCAPEM: trustCA ? server.caPEM : nil, subjectPrefix: subjectPrefix)
    }

    @Test func starttlsWithAuthPlainDeliversSubjectBodyAndHeaders() async throws {
        // setup
        let server = try await SMTPTestServer.start()
        defer { server.stop() }
        var notification = fullNotification
        notification.title = "Disque presque plein sur nas-01 — 93 % ✓ 磁盘快满了 " + String(repeating: "é", count: 60)
        notification.message = "/srv is at 93%.\nA long line follows: " + String(repeating: "0123456789 ", count: 12) + "end.\nÜmlaut = fine"
        // act
        try await makeSender().send(notification, via: channel(server))
        // verify
        let mail = try #require(try await server.waitForMessages(1).first, "\(server.log)")
        #expect(mail.listener == "starttls")
        #expect(mail.authenticated)
        #expect(mail.mechanism == "PLAIN")
        #expect(mail.mail_from == "nebula@lab.example.com")
        #expect(mail.rcpt_tos == ["ops@example.com"])
        #expect(mail.subject == notification.title)
        #expect(mail.header("Subject")?.hasPrefix("=?UTF-8?B?") == true)
        #expect(mail.body == notification.message + "\n\nServer: nas-01\nMount: /srv\n\nhttps://nebula.example.com/incidents/42\n")
        #expect(mail.header("From") == "Nebula Command <nebula@lab.example.com>")
        #expect(mail.header("To") == "ops@example.com")
        #expect(mail.header("Date") == "Sun, 01 Mar 2026 12:00:00 +0000")
        #expect(mail.header("MIME-Version") == "1.0")
        #expect(mail.header("Content-Type") == "text/plain; charset=utf-8")
        #expect(mail.header("Content-Transfer-Encoding") == "quoted-printable")
        #expect(mail.header("X-Nebula-Severity") == "warning")
        #expect(mail.header("X-Nebula-Category") == "incident")
        let messageID = try #require(mail.header("Message-ID"))
        #expect(messageID.hasPrefix("<") && messageID.hasSuffix("@lab.example.com>"))
        // Every line on the wire is CRLF-terminated 7-bit text within RFC 5322's limits.
        let raw = mail.rawText
        #expect(raw.utf8.allSatisfy { $0 < 128 })
        #expect(!raw.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        #expect(raw.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 78 }, "\(raw)")
    }

    @Test func anASCIISubjectIsSentAsIsAfterThePrefix() async throws {
        // setup
        let server = try await SMTPTestServer.start()
        defer { server.stop() }
        // act
        try await makeSender().send(minimalNotification, via: channel(server, subjectPrefix: "[nebula]"))
        // verify
        let mail = try #require(try await server.waitForMessages(1).first)
        #expect(mail.header("Subject") == "[nebula] Deploy finished")
        #expect(mail.body == "web 1.4.2 is live.\n")
        #expect(mail.header("X-Nebula-Severity") == "info")
    }

    @Test func linesStartingWithADotAreDotStuffed() async throws {
        // setup
        let server = try await SMTPTestServer.start()
        defer { server.stop() }
        var notification = minimalNotification
        notification.message = "first\n.\n.hidden\n..two dots\r\nlast\rafter a lone CR"
        // act
        try await makeSender().send(notification, via: channel(server))
        // verify: a lone "." did not end the message early and no leading dot was lost
        let mail = try #require(try await server.waitForMessages(1).first)
        #expect(mail.body == "first\n.\n.hidden\n..two dots\nlast\nafter a lone CR\n")
        #expect(mail.rawText.contains("\r\n.\r\n.hidden\r\n..two dots\r\n"))
        #expect(try server.messages().count == 1)
    }

    @Test func everyRecipientGetsTheMessage() async throws {
        // setup
        let server = try await SMTPTestServer.start()
        defer { server.stop() }
        let recipients = ["ops@example.com", "oncall+nebula@example.org", "Admin@Lab.Example.com"]
        // act
        try await makeSender().send(fullNotification, via: channel(server, to: recipients + ["ops@example.com"]))
        // verify: one transaction, one RCPT per distinct address
        let received = try await server.waitForMessages(1)
        #expect(received.count == 1)
        #expect(received.first?.rcpt_tos == recipients)
        #expect(received.first?.header("To") == recipients.joined(separator: ", "))
    }

    @Test func authLoginIsUsedWhenPlainIsNotOffered() async throws {
        // setup
        let server = try await SMTPTestServer.start()
        defer { server.stop() }
        // act
        try await makeSender().send(minimalNotification, via: channel(server, listener: "login"))
        // verify
        let mail = try #require(try await server.waitForMessages(1).first)
        #expect(mail.listener == "login")
        #expect(mail.authenticated)
        #expect(mail.mechanism == "LOGIN")
    }

    @Test func implicitTLSDelivers() async throws {
        // setup
        let server = try await SMTPTestServer.start()
        defer { server.stop() }
        // act
        try await makeSender().send(fullNotification, via: channel(server, listener: "tls", security: .tls))
        // verify
        let mail = try #require(try await server.waitForMessages(1).first)
        #expect(mail.listener == "tls")
        #expect(mail.authenticated)
        #expect(mail.subject == fullNotification.title)
    }

    @Test func aPlainRelayWithoutLoginDelivers() async throws {
        // setup
        let server = try await SMTPTestServer.start()
        defer { server.stop() }
        let relay = try NotificationChannel.email(host: "127.0.0.1", port: server.port("plain"), security: .none,
                                                  from: "nebula@lab.example.com", to: ["ops@example.com"])
        // act
        try await makeSender().send(minimalNotification, via: relay)
        // verify
        let mail = try #require(try await server.waitForMessages(1).first)
        #expect(mail.listener == "plain")
        #expect(!mail.authenticated)
        #expect(mail.body == "web 1.4.2 is live.\n")
    }

    @Test func aWrongPasswordIsAuthenticationFailedWithoutThePassword() async throws {
        // setup
        let server = try await SMTPTestServer.start()
        defer { server.stop() }
        let wrong = "Wr0ng-Battery-SECRET"
        for listener in ["starttls", "login"] {
            let target = try channel(server, listener: listener, password: wrong)
            // act
            let error = await notificationError { () async throws(NotificationError) in
                try await makeSender().send(minimalNotification, via: target)
            }
            // verify
            let failure = try #require(error, "\(listener) accepted a wrong password")
            #expect(failure.code == .authenticationFailed, "\(failure)")
            #expect(failure.replyCode == 535)
            let shown = failure.description + (failure.detail ?? "") + failure.channel + "\(failure)"
            for secret in [wrong, Data(wrong.utf8).base64EncodedString(), "SECRET"] {
                #expect(!shown.contains(secret), "\(shown)")
            }
        }
        #expect(try server.messages().isEmpty)
    }

    @Test(arguments: [("starttls", SMTPSecurity.starttls), ("tls", .tls)])
    func anUntrustedCertificateIsTLSFailed(_ listener: String, _ security: SMTPSecurity) async throws {
        // setup
        let server = try await SMTPTestServer.start()
        defer { server.stop() }
        let target = try channel(server, listener: listener, security: security, trustCA: false)
        // act: the system's roots do not include the test CA
        let error = await notificationError { () async throws(NotificationError) in
            try await makeSender().send(minimalNotification, via: target)
        }
        // verify
        #expect(error?.code == .tlsFailed, "\(String(describing: error))")
        #expect(error?.detail?.contains("not trusted") == true, "\(String(describing: error))")
        #expect(error.map { !$0.description.contains(server.password) } == true)
        #expect(try server.messages().isEmpty)
    }

    @Test func aCertificateForAnotherNameIsTLSFailed() async throws {
        // setup: the certificate names localhost only; connect by IP address
        let server = try await SMTPTestServer.start()
        defer { server.stop() }
        let target = try channel(server, host: "127.0.0.1")
        // act
        let error = await notificationError { () async throws(NotificationError) in
            try await makeSender().send(minimalNotification, via: target)
        }
        // verify
        #expect(error?.code == .tlsFailed, "\(String(describing: error))")
        #expect(try server.messages().isEmpty)
    }

    @Test func starttlsIsRequiredWhenTheServerDoesNotOfferIt() async throws {
        // setup
        let server = try await SMTPTestServer.start()
        defer { server.stop() }
        let target = try channel(server, listener: "plain")
        // act: the plain listener offers no STARTTLS; nothing may go out in clear text
        let error = await notificationError { () async throws(NotificationError) in
            try await makeSender().send(minimalNotification, via: target)
        }
        // verify
        #expect(error?.code == .tlsFailed)
        #expect(error?.detail?.contains("STARTTLS") == true)
        #expect(try server.messages().isEmpty)
    }

    @Test func credentialsForAServerWithoutAUTHAreAuthenticationFailed() async throws {
        // setup: the plain listener offers no AUTH; the channel explicitly allows a clear-text login
        let server = try await SMTPTestServer.start()
        defer { server.stop() }
        let relay = try NotificationChannel.email(host: "127.0.0.1", port: server.port("plain"), security: .none,
                                                  username: "user", password: "P4ss-SECRET",
                                                  from: "nebula@lab.example.com", to: ["ops@example.com"],
                                                  allowInsecureAuthentication: true)
        // act
        let error = await notificationError { () async throws(NotificationError) in
            try await makeSender().send(minimalNotification, via: relay)
        }
        // verify
        #expect(error?.code == .authenticationFailed)
        #expect(error?.detail?.contains("no login method") == true, "\(String(describing: error))")
        #expect(error?.description.contains("SECRET") == false)
        #expect(try server.messages().isEmpty)
    }

    @Test func aRefusedRecipientIsRejectedWithTheReplyCode() async throws {
        // setup
        let server = try await SMTPTestServer.start()
        defer { server.stop() }
        let target = try channel(server, to: ["ops@example.com", "ghost@rejected.test"])
        // act
        let error = await notificationError { () async throws(NotificationError) in
            try await makeSender().send(minimalNotification, via: target)
        }
        // verify
        #expect(error?.code == .rejected)
        #expect(error?.replyCode == 550)
        #expect(error?.status == nil)
        #expect(error?.detail?.contains("RCPT TO <ghost@rejected.test> refused: 550 5.1.1") == true, "\(String(describing: error))")
        #expect(error?.description.contains("SMTP 550") == true)
        #expect(try server.messages().isEmpty)
    }

    @Test func aServerThatIsNotListeningIsUnreachable() async throws {
        // setup
        let refusing = try RefusingPort()
        let channel = try NotificationChannel.email(host: "127.0.0.1", port: refusing.port, username: "u", password: "P4ss-SECRET",
                                                    from: "nebula@example.com", to: ["ops@example.com"])
        // act
        let error = await notificationError { () async throws(NotificationError) in
            try await makeSender(timeout: .seconds(60)).send(minimalNotification, via: channel)
        }
        // verify
        #expect(error?.code == .unreachable)
        #expect(error?.description.contains("email 127.0.0.1:\(refusing.port) starttls") == true, "\(String(describing: error))")
        #expect(error?.description.contains("SECRET") == false)
        withExtendedLifetime(refusing) {}
    }

    @Test func aServerThatNeverGreetsTimesOut() async throws {
        // setup: a TCP peer that accepts and never says anything
        let silent = try await RecordingHTTPServer.start(reply: .never)
        defer { Task { await silent.stop() } }
        let channel = try NotificationChannel.email(host: "127.0.0.1", port: silent.port, security: .none,
                                                    from: "nebula@example.com", to: ["ops@example.com"])
        let started = ContinuousClock.now
        // act
        let error = await notificationError { () async throws(NotificationError) in
            try await makeSender(timeout: .milliseconds(500)).send(minimalNotification, via: channel)
        }
        // verify
        #expect(error?.code == .timedOut, "\(String(describing: error))")
        #expect(error?.timeout == .milliseconds(500))
        // Ended by its own deadline, not left hanging (with room for a loaded machine).
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    @Test func headerInjectionInTheTitleCannotAddHeadersOrRecipients() async throws {
        // setup
        let server = try await SMTPTestServer.start()
        defer { server.stop() }
        var notification = minimalNotification
        notification.title = "Alert\r\nBcc: evil@attacker.example\r\n\r\nInjected body"
        notification.category = "deploy\nX-Evil: 1"
        // act
        try await makeSender().send(notification, via: channel(server))
        // verify
        let mail = try #require(try await server.waitForMessages(1).first)
        #expect(mail.rcpt_tos == ["ops@example.com"])
        #expect(mail.headerCount("Bcc") == 0)
        #expect(mail.headerCount("X-Evil") == 0)
        #expect(mail.subject == "Alert Bcc: evil@attacker.example  Injected body")
        #expect(mail.body == "web 1.4.2 is live.\n")
    }

    @Test(arguments: [
        "ops@example.com\r\nBcc: evil@attacker.example", "ops@example.com\nRCPT TO:<evil@attacker.example>",
        "ops@example.com>\r\nDATA", "Ops <ops@example.com>", "ops@example.com, evil@attacker.example",
        "no-at-sign", "two@@example.com", "a@b@example.com", "@example.com", "ops@", ".ops@example.com",
        "o..ps@example.com", "ops @example.com", "\"quoted\"@example.com", "ops@exa_mple.com", "ops@-example.com",
        "opé@example.com", "ops@example.com\0", "",
    ])
    func badAddressesAreRefusedAtTheFactory(_ address: String) {
        // act
        let asRecipient = channelError { () throws(NotificationError) in
            try .email(host: "smtp.example.com", from: "nebula@example.com", to: ["ops@example.com", address])
        }
        let asSender = channelError { () throws(NotificationError) in
            try .email(host: "smtp.example.com", from: address, to: ["ops@example.com"])
        }
        // verify
        #expect(asRecipient?.code == .invalidChannel, "\(address)")
        #expect(asSender?.code == .invalidChannel, "\(address)")
    }

    @Test func settingsAreChecked() {
        // act
        func email(host: String = "smtp.example.com", port: Int? = nil, security: SMTPSecurity = .starttls,
                   username: String? = nil, password: String? = nil, to: [String] = ["ops@example.com"],
                   heloName: String? = nil, pem: String? = nil, prefix: String = "",
                   allowInsecure: Bool = false) -> NotificationError? {
            channelError { () throws(NotificationError) in
                try .email(host: host, port: port, security: security, username: username, password: password,
                           from: "nebula@example.com", to: to, heloName: heloName, trustedCAPEM: pem,
                           subjectPrefix: prefix, allowInsecureAuthentication: allowInsecure)
            }
        }
        let refused = [
            email(host: ""), email(host: "smtp.example.com\r\nMAIL FROM:<x@y>"), email(host: "smtp://example.com"),
            email(host: "smtp.example.com:587"), email(host: "smtp example.com"), email(port: 0), email(port: 65536),
            email(to: []), email(to: Array(repeating: "a@example.com", count: 101)),
            email(username: "user"), email(password: "P4ss-SECRET"),
            email(username: "user\r\nRSET", password: "P4ss-SECRET"), email(username: "user", password: "P4ss\r\nSECRET"),
            email(security: .none, username: "user", password: "P4ss-SECRET"),
            email(heloName: "nebula\r\nMAIL FROM:<x@y>"), email(heloName: "not a name"),
            email(pem: "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----"),
            email(prefix: "[nebula]\r\nBcc: evil@attacker.example"), email(prefix: "[nebula]\n"),
        ]
        let accepted = [
            email(), email(host: "192.0.2.25", port: 2525), email(host: "[2001:db8::25]"), email(host: "mail"),
            email(security: .tls, username: "user@example.com", password: "P4ss-SECRET"),
            email(security: .none, username: "user", password: "P4ss-SECRET", allowInsecure: true),
            email(heloName: "[192.0.2.1]"), email(prefix: "[nebula]"),
        ]
        // verify
        #expect(refused.map(\.?.code) == Array(repeating: .invalidChannel, count: refused.count), "\(refused)")
        #expect(accepted.allSatisfy { $0 == nil }, "\(accepted)")
        for error in refused.compactMap({ $0 }) {
            #expect(!error.description.contains("SECRET"), "\(error)")
        }
    }

    @Test func defaultPortsFollowTheSecurityModeAndTheDescriptionHidesThePassword() throws {
        // act
        let starttls = try NotificationChannel.email(host: "smtp.example.com", username: "alerts@example.com",
                                                     password: "P4ss-SECRET", from: "nebula@example.com",
                                                     to: ["ops@example.com", "dev@example.com"])
        let tls = try NotificationChannel.email(host: "smtp.example.com", security: .tls, from: "nebula@example.com", to: ["ops@example.com"])
        let relay = try NotificationChannel.email(host: "2001:db8::25", security: .none, from: "nebula@example.com", to: ["ops@example.com"])
        // verify
        #expect(starttls.description == "email smtp.example.com:587 starttls to 2 recipients")
        #expect(tls.description == "email smtp.example.com:465 tls to 1 recipient")
        #expect(relay.description == "email [2001:db8::25]:25 none to 1 recipient")
        #expect(!starttls.description.contains("SECRET"))
        var dumped = ""
        dump(starttls, to: &dumped)
        for shown in ["\(starttls.kind)", String(reflecting: starttls.kind), dumped] {
            #expect(!shown.contains("SECRET"), "\(shown)")
        }
        #expect(starttls.redact("auth P4ss-SECRET \(Data("\0alerts@example.com\0P4ss-SECRET".utf8).base64EncodedString())") == "auth … …")
    }
}
