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

    @Test("a number too large or too small to represent is refused, naming its field")
    func unrepresentableNumbers() throws {
        for (text, field) in [(#"{"a":{"b":[1,1e400]}}"#, "a.b[1]"), (#"{"MaxCount":-1e999}"#, "MaxCount"),
                              (#"[{"x":1e-400}]"#, "[0].x"), ("1E+400", "the document")] {
            let error = #expect(throws: JSONSyntaxError.self, "\(text) should be refused") { try JSON(parsing: text) }
            #expect(error?.reason.contains(field) == true, "\(String(describing: error))")
            #expect(error?.reason.contains("cannot be represented") == true, "\(String(describing: error))")
        }
        #expect(try JSON(parsing: "0e-400") == .double(0))
        #expect(try JSON(parsing: "1e308") == .double(1e308))
    }

    @Test("integers beyond 64 bits pass through exactly as written")
    func bigIntegers() throws {
        let text = #"{"n":18446744073709551616,"m":-123456789012345678901234567890,"i":9223372036854775807}"#
        let json = try JSON(parsing: text)
        #expect(json.serialized() == text)
        #expect(json["n"]?.intValue == nil)
        #expect(json["n"]?.doubleValue == 18446744073709551616.0)
        #expect(json["i"] == .int(Int64.max))
        #expect(json["n"]?.typeName == "a number")
    }

    @Test("an object finds its keys after removals and keeps their order")
    func objectIndexAfterRemovals() {
        var object = JSONObject()
        for i in 0..<100 { object["k\(i)"] = .int(Int64(i)) }
        for i in stride(from: 0, to: 100, by: 3) { object["k\(i)"] = nil }
        object["k1"] = "one"
        object["new"] = true
        #expect(object.count == 67)
        #expect(object["k1"] == "one")
        #expect(object["k98"] == 98)
        #expect(object["k99"] == nil)
        #expect(object.keys.first == "k1" && object.keys.last == "new")
        #expect(object.keys.dropLast() == ArraySlice((0..<100).filter { $0 % 3 != 0 }.map { "k\($0)" }))
    }

    @Test("a long text is abbreviated to its start and its length")
    func abbreviation() {
        #expect(abbreviated("short") == "short")
        let long = String(repeating: "x", count: 10_000)
        #expect(abbreviated(long).count < 80)
        #expect(abbreviated(long).hasSuffix("(10000 characters)"))
        #expect(JSON.string(long).shortDescription.count < 80)
    }
}
