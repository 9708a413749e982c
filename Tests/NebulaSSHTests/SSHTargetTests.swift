import NebulaSSH
import Testing

@Suite struct SSHTargetTests {
    @Test func validTargetKeepsItsFieldsAndDefaultsToPort22() throws {
        // act
        let target = try SSHTarget(host: "nas.lan", username: "root")
        let v6 = try SSHTarget(host: "[::1]", port: 2222, username: "deploy.user-1")
        // verify
        #expect(target.port == 22)
        #expect(target.description == "root@nas.lan:22")
        #expect(v6.host == "::1")
        #expect(v6.address == "[::1]:2222")
    }

    @Test(arguments: [
        ("", 22, "root", "host is empty"),
        ("my host", 22, "root", "whitespace"),
        ("host\u{7}", 22, "root", "control"),
        ("host\n", 22, "root", "whitespace"),
        ("root@nas", 22, "root", "user field"),
        ("-oProxyCommand=x", 22, "root", "starts with '-'"),
        ("nas", 0, "root", "port 0"),
        ("nas", 65536, "root", "port 65536"),
        ("nas", 22, "", "user name"),
        ("nas", 22, "ro ot", "user name"),
        ("nas", 22, "-root", "user name"),
        ("nas", 22, "root;id", "user name"),
        ("nas", 22, String(repeating: "a", count: 33), "user name"),
    ])
    func invalidInputIsInvalidTarget(host: String, port: Int, username: String, mentions: String) {
        // act
        let error = #expect(throws: SSHError.self) { try SSHTarget(host: host, port: port, username: username) }
        // verify
        #expect(error?.code == .invalidTarget)
        #expect(error?.description.contains(mentions) == true, "\(error?.description ?? "")")
    }
}
