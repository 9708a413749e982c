import Foundation
import NebulaCore
import Testing

@Suite struct AutomationTemplateValueTests {
    @Test func decodesAndEncodesAsPlainJSON() throws {
        // setup
        let json = #"{"a":[1,2.5,"x",true,null,{"b":{}}],"n":-3}"#
        // act
        let value = try JSONDecoder().decode(TemplateValue.self, from: Data(json.utf8))
        let encoded = try JSONEncoder().encode(value)
        let again = try JSONDecoder().decode(TemplateValue.self, from: encoded)
        // verify
        #expect(value == ["a": [1, 2.5, "x", true, nil, ["b": [:]]], "n": -3])
        #expect(again == value)
        #expect(String(decoding: try JSONEncoder().encode(TemplateValue.bool(false)), as: UTF8.self) == "false")
        #expect(String(decoding: try JSONEncoder().encode(TemplateValue.null), as: UTF8.self) == "null")
    }

    @Test(arguments: [
        (TemplateValue.number(3), "3"), (.number(-2), "-2"), (.number(2.5), "2.5"), (.number(0), "0"),
        (.bool(true), "true"), (.null, ""), (.string("a \"b\""), "a \"b\""),
        (TemplateValue.list(["x", 1, nil]), #"["x",1,null]"#),
        (TemplateValue.object(["b": 1, "a": ["q\n": true]]), #"{"a":{"q\n":true},"b":1}"#),
    ])
    func rendersIntegralNumbersWithoutFractionAndCollectionsAsCompactJSON(value: TemplateValue, expected: String) {
        // act / verify
        #expect(value.rendered == expected)
    }

    @Test(arguments: [
        (TemplateValue.null, false), (.bool(false), false), (.bool(true), true), (.number(0), false), (.number(0.1), true),
        (.string(""), false), (.string(" False "), false), (.string("0"), false), (.string("no"), true), (.string("x"), true),
        ([], false), ([nil], true), ([:], false), (["k": nil], true),
    ] as [(TemplateValue, Bool)])
    func truthiness(value: TemplateValue, truthy: Bool) {
        // act / verify
        #expect(value.isTruthy == truthy)
    }

    @Test(arguments: [
        ("server.name", TemplateValue?.some("web-1")), ("server.labels.env", "prod"), ("server.tags.1", "b"),
        ("server.tags[1]", "b"), ("steps.restart.exit-code", 0), ("steps.check_health.failed", true),
        ("incident.owner", .some(.null)), ("nothing", .some(.null)),
        ("missing", nil), ("server.tags.2", nil), ("server.tags[9]", nil), ("server.name.first", nil),
        ("server.labels.0", nil), ("", nil), ("server..name", nil), ("server.", nil), ("server[x]", nil),
    ] as [(String, TemplateValue?)])
    func looksUpDottedPathsAndListIndexes(path: String, expected: TemplateValue?) {
        // act
        let value = AutomationSample.context.lookup(path)
        // verify
        #expect(value == expected)
    }
}

@Suite struct AutomationTemplateTests {
    @Test(arguments: [
        ("Hello {{ server.name }}!", "Hello web-1!"),
        ("{{server.name}}", "web-1"),
        ("{{   incident.count\t}}", "3"),
        ("ratio={{ ratio }}", "ratio=0.25"),
        ("{{ steps.check_health.failed }}", "true"),
        ("[{{ nothing }}]", "[]"),
        ("{{ server.tags }}", #"["a","b"]"#),
        ("{{ server.labels }}", #"{"env":"prod","zone":"eu"}"#),
        ("{{ server.tags[1] }}/{{ server.tags.0 }}", "b/a"),
        ("{{ steps.restart.exit-code }}", "0"),
        ("{{ incident.owner | default('nobody') }}", "nobody"),
        ("{{ labels.team | default(\"ops\") }}", "ops"),
        ("{{ labels.team | default(5) }}", "5"),
        ("{{ labels.team | default(null) }}", ""),
        ("{{ server.name | default('x') }}", "web-1"),
        ("{{ server.name | upper }}", "WEB-1"),
        ("{{ incident.title | lower }}", "disk full"),
        ("<{{ padded | trim }}>", "<spaced out>"),
        ("{{ server.name | json }}", #""web-1""#),
        ("{{ server.tags | json }}", #"["a","b"]"#),
        ("{{ missing | default('MiXeD') | lower }}", "mixed"),
        ("{{ missing | default('}}') }}", "}}"),
        ("{{ missing | default('it\\'s') }}", "it's"),
        ("line 1\nline {{ incident.count }}\n", "line 1\nline 3\n"),
        ("no placeholders } { }}", "no placeholders } { }}"),
        ("", ""),
    ])
    func renders(source: String, expected: String) throws {
        // setup
        let template = try Template(parsing: source)
        // act
        let output = try template.render(AutomationSample.context)
        // verify
        #expect(output == expected)
    }

    @Test func parsesOnceAndRendersManyContexts() throws {
        // setup
        let template = try Template(parsing: "{{ host }} is {{ status | upper }}")
        // act
        let first = try template.render(TemplateContext(["host": "db", "status": "down"]))
        let second = try template.render(TemplateContext(["host": "web", "status": "up"]))
        // verify
        #expect(first == "db is DOWN")
        #expect(second == "web is UP")
    }

    @Test func listsReferencesOnceInDottedFormInOrderOfUse() throws {
        // act
        let template = try Template(parsing: "{{ b.c }} {{ a[0] }} {{ b.c | upper }} {{ z | default('') }}")
        // verify
        #expect(template.references == ["b.c", "a.0", "z"])
    }

    @Test(arguments: [
        ("Hi {{ name", TemplateError.unterminatedPlaceholder(line: 1, column: 4)),
        ("ok\n  {{ a | default('x }}", .unterminatedPlaceholder(line: 2, column: 3)),
        ("a {{ }} b", .emptyPlaceholder(line: 1, column: 3)),
        ("{{}}", .emptyPlaceholder(line: 1, column: 1)),
        ("{{ a..b }}", .invalidPath("a..b", reason: "'.' cannot appear here; a path segment is letters, digits, '_' and '-'", line: 1, column: 6)),
        ("{{ a.b. }}", .invalidPath("a.b.", reason: "the path ends with '.'; a segment name must follow", line: 1, column: 8)),
        ("{{ a[x] }}", .invalidPath("a[x]", reason: "a list index must be digits in brackets, like [0]", line: 1, column: 6)),
        ("{{ $a }}", .invalidPath("$a", reason: "'$' cannot appear here; a path segment is letters, digits, '_' and '-'", line: 1, column: 4)),
        ("{{ a b }}", .invalidPath("a b", reason: "unexpected 'b' after the path; filters start with '|'", line: 1, column: 6)),
        ("x\n{{ a | shout }}", .unknownFilter("shout", line: 2, column: 8)),
        ("{{ a | default }}", .invalidFilter("default", reason: "needs a value, like default('none')", line: 1, column: 8)),
        ("{{ a | upper('x') }}", .invalidFilter("upper", reason: "takes no argument", line: 1, column: 8)),
        ("{{ a | }}", .invalidFilter("", reason: "a filter name must follow '|'", line: 1, column: 8)),
        ("{{ a | default(oops) }}", .invalidFilter("default", reason: "'oops' is not a value; quote text like 'oops'", line: 1, column: 16)),
        ("{{ a | default('x' }}", .invalidFilter("default", reason: "expected ')' after the argument", line: 1, column: 15)),
    ])
    func rejectsMalformedTemplatesWithLineAndColumn(source: String, expected: TemplateError) {
        // act / verify
        #expect(throws: expected) { try Template(parsing: source) }
    }

    @Test func missingValueNamesThePathAndWhereItIsUsed() throws {
        // setup
        let template = try Template(parsing: "Disk alert\nOwner: {{ incident.team.lead }} ({{ server.name }})")
        // act
        let error = #expect(throws: TemplateError.self) { try template.render(AutomationSample.context) }
        // verify
        #expect(error == .missingValue(path: "incident.team.lead", line: 2, column: 11))
        #expect(error?.description == "line 2, column 11: no value for 'incident.team.lead'; check the spelling or add | default('…')")
        #expect(error?.annotated(template.source) == "Owner: {{ incident.team.lead }} ({{ server.name }})\n          ^ no value for 'incident.team.lead'; check the spelling or add | default('…')")
    }

    @Test func aFilterCannotRescueAMissingValueExceptDefault() throws {
        // setup
        let template = try Template(parsing: "{{ missing | upper }}")
        // act / verify
        #expect(throws: TemplateError.missingValue(path: "missing", line: 1, column: 4)) {
            try template.render(AutomationSample.context)
        }
    }

    @Test func hostileInputIsBoundedAndLinear() throws {
        // setup
        let many = String(repeating: "{{a}}", count: 13_000)
        let tooLong = String(repeating: "x", count: Template.maxLength + 1)
        let openers = String(repeating: "{{ '", count: 10_000)
        // act
        let rendered = try Template(parsing: many).render(TemplateContext(["a": "é"]))
        // verify
        #expect(rendered == String(repeating: "é", count: 13_000))
        #expect(throws: TemplateError.tooLong(length: Template.maxLength + 1, limit: Template.maxLength)) {
            try Template(parsing: tooLong)
        }
        #expect(throws: TemplateError.unterminatedPlaceholder(line: 1, column: 1)) { try Template(parsing: openers) }
    }
}
