import Foundation
import NebulaCore
import Testing

@Suite struct AutomationConditionTests {
    @Test(arguments: [
        ("incident.severity == 'critical'", true),
        ("incident.severity == \"critical\"", true),
        ("incident.severity != 'critical'", false),
        ("incident.count == 3", true),
        ("incident.count == 3.0", true),
        ("incident.count == '3'", false),
        ("1 == true", false),
        ("nothing == null", true),
        ("incident.owner == null", true),
        ("latency > 1000 && latency <= 1500", true),
        ("latency >= 1500.5", false),
        ("ratio < 0.5", true),
        ("-1 < ratio", true),
        ("'abc' < 'abd'", true),
        ("'b' >= 'a'", true),
        ("'B' < 'a'", true),
        ("server.labels.env in ['prod', 'staging']", true),
        ("server.labels.env in []", false),
        ("server.labels.env not in ['prod']", false),
        ("3 in [1, 2, 3.0]", true),
        ("'a' in server.tags", true),
        ("server.tags contains 'b'", true),
        ("server.tags[1] == 'b' && server.tags.0 == 'a'", true),
        ("'Disk' in incident.title", true),
        ("incident.title contains 'full'", true),
        ("'env' in server.labels", true),
        ("server.labels contains 'region'", false),
        ("!steps.restart.failed", true),
        ("not steps.restart.failed", true),
        ("not incident.severity == 'info'", true),
        ("steps.check_health.failed and not steps.restart.failed", true),
        ("steps.restart.failed or incident.count >= 3", true),
        ("(steps.restart.failed || true) && false", false),
        ("true || false && false", true),
        ("false && true || true", true),
        ("!(true && false)", true),
        ("!!true", true),
        ("{{ steps.check_health.failed }}", true),
        ("{{steps.restart.failed}}", false),
        ("  {{ steps.check_health.output }}  ", false),
        ("{{ incident.count > 2 }}", true),
        ("steps.restart.exit-code == 0", true),
        ("exists(nothing)", false),
        ("exists(incident.title)", true),
        ("exists(missing.path)", false),
        ("exists(server.tags[5])", false),
        ("exists(missing) && missing.x > 3", false),
        ("true || missing", true),
        ("false and missing.value == 1", false),
        ("empty", false),
        ("server.tags", true),
        ("[]", false),
        ("null", false),
        ("'x'", true),
        ("0", false),
        ("'it\\'s' == \"it's\"", true),
        ("\"say \\\"hi\\\"\" contains '\"'", true),
        ("'a\\nb' contains '\\n'", true),
        ("'\\u00e9' == 'é'", true),
        ("'tab\\there' == \"tab\\there\"", true),
        ("server.labels == server.labels", true),
        ("server.tags == ['a', 'b']", true),
        ("server.tags == ['b', 'a']", false),
        ("[[1, 2], [3]] contains [3]", true),
        ("true\n&& incident.count == 3", true),
    ] as [(String, Bool)])
    func evaluates(source: String, expected: Bool) throws {
        // setup
        let condition = try Condition(parsing: source)
        // act
        let result = try condition.evaluate(AutomationSample.context)
        // verify
        #expect(result == expected, "\(source)")
    }

    @Test func listsReferencesOnceInDottedForm() throws {
        // act
        let condition = try Condition(parsing: "a.b == 1 && exists(c[0]) || d in ['x'] || a.b > 2")
        // verify
        #expect(condition.references == ["a.b", "c.0", "d"])
    }

    @Test(arguments: [
        ("", ConditionError.empty),
        ("   ", .empty),
        ("{{ }}", .unexpectedEnd(expected: "an expression inside '{{ }}'", column: 3)),
        ("a ==", .unexpectedEnd(expected: "a value, a path, '(' or '!'", column: 5)),
        ("a == 'x", .unterminatedString(column: 6)),
        ("a & b", .unexpectedCharacter("&", column: 3)),
        ("a = 1", .unexpectedCharacter("=", column: 3)),
        ("a $ b", .unexpectedCharacter("$", column: 3)),
        ("{{ a }} == 1", .unexpectedCharacter("{", column: 1)),
        ("{{ a }} == {{ b }}", .unexpectedCharacter("}", column: 6)),
        ("(a == 1", .unexpectedEnd(expected: "')' to close the '(' at column 1", column: 8)),
        ("a == 1)", .unexpectedToken(")", expected: "'&&', '||' or the end", column: 7)),
        ("a < b < c", .unexpectedToken("<", expected: "'&&' or '||' (comparisons cannot be chained)", column: 7)),
        ("a b", .unexpectedToken("b", expected: "'&&', '||' or the end", column: 3)),
        ("&& a", .unexpectedToken("&&", expected: "a value, a path, '(' or '!'", column: 1)),
        ("[1, 2", .unexpectedEnd(expected: "',' or ']' to close the list at column 1", column: 6)),
        ("x in [1 2]", .unexpectedToken("2", expected: "',' or ']' to close the list at column 6", column: 9)),
        ("'\\q'", .invalidEscape("\\q", column: 2)),
        ("'\\u12'", .invalidEscape("\\u12", column: 2)),
        ("1.2.3 == x", .invalidNumber("1.2.3", column: 1)),
        ("x == 1.", .invalidNumber("1.", column: 6)),
        ("x == 12abc", .invalidNumber("12abc", column: 6)),
        ("a..b", .invalidPath("a..", reason: "'.' cannot appear here; a path segment is letters, digits, '_' and '-'", column: 3)),
        ("a.b. == 1", .invalidPath("a.b.", reason: "the path ends with '.'; a segment name must follow", column: 5)),
        ("a[x] == 1", .invalidPath("a[x", reason: "a list index must be digits in brackets, like [0]", column: 3)),
        ("foo(a)", .unknownFunction("foo", column: 1)),
        ("exists('a')", .unexpectedToken("'a'", expected: "a path inside exists( )", column: 8)),
        ("exists a", .unexpectedToken("a", expected: "'(' after exists", column: 8)),
        ("exists(a", .unexpectedEnd(expected: "')' after the path in exists(", column: 9)),
    ] as [(String, ConditionError)])
    func rejectsMalformedConditionsWithColumn(source: String, expected: ConditionError) {
        // act / verify
        #expect(throws: expected) { try Condition(parsing: source) }
    }

    @Test(arguments: [
        ("missing == 1", ConditionError.missingValue(path: "missing", column: 1)),
        ("incident.count == 3 && incident.team.lead == 'x'", .missingValue(path: "incident.team.lead", column: 24)),
        ("missing == null", .missingValue(path: "missing", column: 1)),
        ("server.tags[7] == 'c'", .missingValue(path: "server.tags.7", column: 1)),
        ("{{ steps.deploy.failed }}", .missingValue(path: "steps.deploy.failed", column: 4)),
        ("incident.title < 3", .typeMismatch(operator: "<", left: "string", right: "number", column: 16)),
        ("true >= false", .typeMismatch(operator: ">=", left: "boolean", right: "boolean", column: 6)),
        ("null > 1", .typeMismatch(operator: ">", left: "null", right: "number", column: 6)),
        ("1 in 2", .typeMismatch(operator: "in", left: "number", right: "number", column: 3)),
        ("1 in 'abc'", .typeMismatch(operator: "in", left: "number", right: "string", column: 3)),
        ("latency contains 1", .typeMismatch(operator: "contains", left: "number", right: "number", column: 9)),
        ("1 not in server.labels", .typeMismatch(operator: "not in", left: "number", right: "object", column: 3)),
    ] as [(String, ConditionError)])
    func evaluationErrorsCarryTheColumn(source: String, expected: ConditionError) throws {
        // setup
        let condition = try Condition(parsing: source)
        // act / verify
        #expect(throws: expected) { try condition.evaluate(AutomationSample.context) }
    }

    @Test func errorMessagesPointAtTheProblem() throws {
        // setup
        let source = "incident.count >= 3 && incident.title < 3"
        let condition = try Condition(parsing: source)
        // act
        let error = #expect(throws: ConditionError.self) { try condition.evaluate(AutomationSample.context) }
        // verify
        #expect(error?.column == 39)
        #expect(error?.description == "column 39: cannot apply '<' to string and number")
        #expect(error?.annotated(source) == """
            incident.count >= 3 && incident.title < 3
                                                  ^ cannot apply '<' to string and number
            """)
        #expect(ConditionError.missingValue(path: "a.b", column: 1).message == "no value for 'a.b'; guard it with exists(a.b) && …")
        #expect(ConditionError.unexpectedCharacter("&", column: 3).message == "unexpected character '&' (did you mean '&&'?)")
        #expect(ConditionError.unexpectedCharacter("{", column: 1).message.contains("must wrap the whole condition"))
    }

    @Test func parsedConditionsAreReusableAcrossContexts() throws {
        // setup
        let condition = try Condition(parsing: "status == 'down' and failures >= 3")
        // act
        let down = try condition.evaluate(TemplateContext(["status": "down", "failures": 5]))
        let flapping = try condition.evaluate(TemplateContext(["status": "down", "failures": 1]))
        let up = try condition.evaluate(TemplateContext(["status": "up", "failures": 9]))
        // verify
        #expect(down && !flapping && !up)
    }

    @Test(arguments: [64, 65, 1000])
    func nestingIsLimited(depth: Int) throws {
        // setup
        let parentheses = String(repeating: "(", count: depth) + "true" + String(repeating: ")", count: depth)
        let negations = String(repeating: "!", count: depth) + "true"
        let lists = "1 in " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        // act / verify
        if depth <= Condition.maxDepth {
            #expect(try Condition(parsing: parentheses).evaluate(TemplateContext([:])))
            #expect(try Condition(parsing: negations).evaluate(TemplateContext([:])) == (depth % 2 == 0))
            #expect(try !Condition(parsing: lists).evaluate(TemplateContext([:])))
        } else {
            #expect(throws: ConditionError.tooDeep(limit: 64, column: 65)) { try Condition(parsing: parentheses) }
            #expect(throws: ConditionError.tooDeep(limit: 64, column: 65)) { try Condition(parsing: negations) }
            #expect(throws: ConditionError.tooDeep(limit: 64, column: 70)) { try Condition(parsing: lists) }
        }
    }

    @Test func lengthIsLimitedInBytesAndLongFlatChainsEvaluate() throws {
        // setup
        let chain = Array(repeating: "x == 1", count: 400).joined(separator: " && ")
        let multibyte = "'" + String(repeating: "é", count: 2100) + "'"
        let huge = String(repeating: "a", count: 1_000_000)
        // act
        let result = try Condition(parsing: chain).evaluate(TemplateContext(["x": 1]))
        // verify
        #expect(chain.utf8.count < Condition.maxLength && result)
        #expect(throws: ConditionError.tooLong(length: 4202, limit: 4096)) { try Condition(parsing: multibyte) }
        #expect(throws: ConditionError.tooLong(length: 1_000_000, limit: 4096)) { try Condition(parsing: huge) }
    }

    @Test func randomGarbageNeverCrashesAndErrorsStayInsideTheSource() {
        // setup
        var generator = SeededGenerator(state: 42)
        let alphabet = Array("ab.[]()'\"\\ 019-_!=<>&|,{}exists in not and or contains true null $é\n")
        var parsed = 0
        // act
        for _ in 0..<3000 {
            let length = Int.random(in: 0...40, using: &generator)
            let source = String((0..<length).map { _ in alphabet.randomElement(using: &generator) ?? "a" })
            do {
                let condition = try Condition(parsing: source)
                parsed += 1
                _ = try? condition.evaluate(AutomationSample.context)
            } catch {
                // verify
                #expect(error.column >= 1 && error.column <= source.count + 1, "\(source.debugDescription): \(error)")
                #expect(!error.message.isEmpty)
            }
        }
        #expect(parsed > 0)
    }
}
