import Testing
@testable import PortalSync

@Suite("coalescing bursts of changes, and backoff")
struct CoalescerTests {
    @Test("nothing pending is never due")
    func idle() {
        let coalescer = Coalescer(quiet: 0.02, cap: 0.25)
        #expect(coalescer.deadline == nil)
        #expect(!coalescer.isDue(at: 1e9))
    }

    @Test("one event is due after the quiet time")
    func single() {
        var coalescer = Coalescer(quiet: 0.02, cap: 0.25)
        coalescer.note(at: 10)
        #expect(!coalescer.isDue(at: 10.019))
        #expect(coalescer.isDue(at: 10.02))
    }

    @Test("each event of a burst pushes the deadline, up to the cap after the first")
    func burst() {
        var coalescer = Coalescer(quiet: 0.02, cap: 0.25)
        for i in 0..<20 { coalescer.note(at: 10 + Double(i) * 0.01) }   // 10.00 … 10.19
        #expect(coalescer.deadline! == 10.19 + 0.02)
        #expect(!coalescer.isDue(at: 10.205))
        for i in 20..<100 { coalescer.note(at: 10 + Double(i) * 0.01) }  // a stream that never pauses
        #expect(coalescer.deadline == 10.25)
        #expect(coalescer.isDue(at: 10.25))
    }

    @Test("after a reset the next burst starts afresh")
    func reset() {
        var coalescer = Coalescer(quiet: 0.02, cap: 0.25)
        coalescer.note(at: 10)
        coalescer.reset()
        #expect(!coalescer.isPending)
        coalescer.note(at: 20)
        #expect(coalescer.deadline == 20.02)
    }

    @Test("backoff doubles from 0.5 s to its maximum and starts again after a success")
    func backoff() {
        var backoff = Backoff(initial: 0.5, maximum: 30)
        #expect(backoff.delay == 0)
        #expect([backoff.fail(), backoff.fail(), backoff.fail(), backoff.fail()] == [0.5, 1, 2, 4])
        for _ in 0..<40 { _ = backoff.fail() }
        #expect(backoff.delay == 30)
        backoff.succeed()
        #expect(backoff.fail() == 0.5)
    }

    @Test("a name in flight holds back the same name, the folders above it and the names below it")
    func namesInFlight() {
        var flying = NamesInFlight()
        #expect(flying.split(["a.txt", "src/b.py"]) == (["a.txt", "src/b.py"], []))
        flying.add(["src/lib/b.py", "c.txt"])
        let (ready, waiting) = flying.split(["src/lib/b.py", "src", "src/lib", "src/lib/b.py/x", "src/other.py", "c.txt",
                                             "c.txt.tmp", "src/li", "d", ""])
        #expect(ready == ["src/other.py", "c.txt.tmp", "src/li", "d"])
        #expect(waiting == ["src/lib/b.py", "src", "src/lib", "src/lib/b.py/x", "c.txt", ""])
        // A folder in flight holds back everything below it.
        flying.add(["data"])
        #expect(flying.conflicts("data/run/1.log"))
        #expect(!flying.conflicts("database"))
        // Two flights share a folder above their names: it is free only when both ended.
        flying.add(["src/lib/c.py"])
        flying.remove(["src/lib/b.py", "c.txt"])
        #expect(flying.conflicts("src/lib"))
        #expect(!flying.conflicts("src/lib/b.py"))
        flying.remove(["src/lib/c.py"])
        flying.remove(["data"])
        #expect(flying.isEmpty)
        #expect(!flying.conflicts("src/lib") && !flying.conflicts(""))
        // The root ("": a single-file channel's whole batch) conflicts with any name in flight.
        flying.add([""])
        #expect(flying.conflicts("x") && flying.conflicts(""))
    }
}
