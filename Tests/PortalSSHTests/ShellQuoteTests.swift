import Foundation
import Testing

@testable import PortalSSH

/// Runs /bin/sh with a command line and returns the words it ends up with.
func wordsAfterShell(_ commandLine: String) throws -> [String] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "printf '%s\\0' " + commandLine]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return data.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
}

struct ShellQuoteTests {
    @Test("plain words stay as they are; anything else is single-quoted")
    func quoting() {
        #expect(Shell.quote("/dev/xvdf") == "/dev/xvdf")
        #expect(Shell.quote("vol-0abc") == "vol-0abc")
        #expect(Shell.quote("") == "''")
        #expect(Shell.quote("a b") == "'a b'")
        #expect(Shell.quote("it's") == #"'it'\''s'"#)
        #expect(Shell.quote("A=1") == "'A=1'")
        #expect(Shell.join(["A=1", "-o", "A=1"]) == "'A=1' -o A=1")
        #expect(Shell.quote("~") == "'~'")
    }

    @Test("a shell splits joined words back into exactly those words, metacharacters and all")
    func roundTripThroughSh() throws {
        let words = [
            "/tmp/x/it's a \"dir\" $(touch pwned)", "`id`", "$HOME", "a\\b", "semi;colon", "new\nline",
            "*", "~root", "", "'", "\"", "--", "-rf", "tab\there", "émoji 🚀", "!event", "a=b",
        ]
        #expect(try wordsAfterShell(Shell.join(words)) == words)
    }
}
