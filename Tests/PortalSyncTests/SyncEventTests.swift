import Foundation
import PortalBase
import Testing
@testable import PortalSync

@Suite("portal-sync's JSON lines")
struct SyncEventTests {
    let started = Date(timeIntervalSince1970: 1_777_637_293.125)  // 2026-05-01T12:08:13.125Z

    @Test("a transfer is one line with channel, direction, files, bytes, started, ms, then the details")
    func transferLine() {
        let event = SyncEvent.transfer(Transfer(channel: 0, direction: .out, files: 1, bytes: 4300, started: started,
                                                milliseconds: 35, pass: .changes, paths: ["src/train.py"]))
        #expect(event.line == #"{"channel":0,"direction":"out","files":1,"bytes":4300,"started":"2026-05-01T12:08:13.125Z","ms":35,"deleted":0,"pass":"changes","paths":["src/train.py"]}"#)
        #expect(!event.line.contains("\n"))
    }

    @Test("an error is one line with channel, direction and the message; a session error has null channel")
    func errorLine() {
        let event = SyncEvent.error(channel: 2, direction: .in, message: "rsync exited with 255: \"x\" gone")
        #expect(event.line == #"{"channel":2,"direction":"in","error":"rsync exited with 255: \"x\" gone"}"#)
        #expect(SyncEvent.error(channel: nil, direction: nil, message: "m").line == #"{"channel":null,"direction":null,"error":"m"}"#)
    }

    @Test("lines read back as the events they were")
    func roundTrip() throws {
        let transfer = SyncEvent.transfer(Transfer(channel: 3, direction: .in, files: 2, bytes: 10, deleted: 1,
                                                   started: started, milliseconds: 7, pass: .full, paths: ["a", "b"]))
        let error = SyncEvent.error(channel: 1, direction: .out, message: "lost")
        for event in [transfer, error] {
            #expect(SyncEvent(json: try JSON(parsing: Array(event.line.utf8))) == event)
        }
        #expect(SyncEvent(json: ["channel": 0]) == nil)
    }

    @Test("started is UTC with milliseconds")
    func timestamps() {
        #expect(iso8601(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(iso8601(Date(timeIntervalSince1970: 1.9995)) == "1970-01-01T00:00:01.999Z")
        #expect(abs(parseISO8601("2026-05-01T12:08:13.125Z")!.timeIntervalSince(started)) < 0.001)
    }

    @Test("rsync's itemized lines: files sent or received count, directories and attribute-only changes do not")
    func rsyncSummary() {
        let output = """
            cd+++++++++ 4096 src/
            >f+++++++++ 4300 src/train.py
            >f.st...... 12 src/b c.py
            .f...p..... 99 src/mode-only
            <f+++++++++ 5 results/x
            cL+++++++++ 3 src/link -> x
            *deleting   0 src/old.py
            *deleting   0 src/gone/
            """
        let summary = RsyncSummary(output: output)
        #expect(summary.files == 3)
        #expect(summary.bytes == 4317)
        #expect(summary.deleted == 2)
        #expect(summary.paths == ["src/train.py", "src/b c.py", "results/x", "src/old.py", "src/gone/"])
    }

    @Test("at most 100 names are listed; the counts cover all")
    func pathLimit() {
        let output = (0..<150).map { ">f+++++++++ 1 f\($0)" }.joined(separator: "\n")
        let summary = RsyncSummary(output: output)
        #expect(summary.files == 150)
        #expect(summary.paths.count == 100)
    }
}
