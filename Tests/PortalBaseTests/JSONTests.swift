import Testing

@testable import PortalBase

struct JSONTests {
    @Test("keys keep their order and integers stay exact through a round trip")
    func roundTrip() throws {
        let text = #"{"z":1,"a":[true,false,null],"m":{"big":9007199254740993,"f":0.5,"s":"é\n\"q\""}}"#
        let json = try JSON(parsing: text)
        #expect(json.objectValue?.keys == ["z", "a", "m"])
        #expect(json["m"]?["big"] == .int(9_007_199_254_740_993))
        #expect(json.serialized() == text)
        #expect(try JSON(parsing: json.serialized(pretty: true)) == json)
    }

    @Test("a syntax error says the line and column")
    func syntaxErrorPosition() {
        #expect(throws: JSONSyntaxError(line: 3, column: 12, reason: "unexpected '}', expected a value")) {
            try JSON(parsing: "{\n  \"a\": 1,\n  \"b\": [1, }\n}")
        }
    }

    @Test("errors: trailing content, duplicate keys, unterminated strings, bad escapes, leading zeros")
    func errors() {
        for bad in ["{} x", #"{"a":1,"a":2}"#, #""abc"#, #""\q""#, "012", "[1,]", "", "tru", "\"\u{01}\""] {
            #expect(throws: JSONSyntaxError.self, "\(bad) should not parse") { try JSON(parsing: bad) }
        }
    }

    @Test("unicode escapes, surrogate pairs included, decode to the characters")
    func unicodeEscapes() throws {
        #expect(try JSON(parsing: #""\u00e9\ud83d\ude00""#) == .string("é😀"))
        #expect(throws: JSONSyntaxError.self) { try JSON(parsing: #""\ud83d""#) }
    }

    @Test("control characters are escaped on output")
    func escaping() {
        #expect(JSON.string("a\u{01}b\tc").serialized() == #""a\u0001b\tc""#)
    }

    @Test("setting a key replaces it in place; setting nil removes it")
    func objectEditing() {
        var json: JSON = ["a": 1, "b": 2]
        json["a"] = 3
        json["c"] = 4
        json["b"] = nil
        #expect(json.serialized() == #"{"a":3,"c":4}"#)
    }

    @Test("short descriptions name the type of containers and quote strings")
    func shortDescription() {
        #expect(JSON.int(42).shortDescription == "42")
        #expect(JSON.string("x").shortDescription == "\"x\"")
        #expect(JSON.object(JSONObject()).shortDescription == "an object")
    }
}
