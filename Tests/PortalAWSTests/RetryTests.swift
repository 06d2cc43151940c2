import Foundation
import PortalBase
import Testing

@testable import PortalAWS

/// What the EC2 client does with a response that is not a success: an error
/// carrying its status (and maybe an AWS code).
private struct StatusError: Error, Equatable {
    var status: Int
    var code: String = ""
}

private func classify(_ error: Error) -> RetryClass {
    if let status = error as? StatusError { return RetryPolicy.classify(code: status.code, status: status.status) }
    return RetryPolicy.classify(error)
}

/// Sends `request` through `withRetries`, turning statuses ≥ 400 into
/// `StatusError`; records the attempts made and the sleeps asked for.
private final class Driver {
    var attempts: [Int] = []
    var sleeps: [Double] = []
    var retries: [(attempt: Int, delay: Double)] = []
    let policy: RetryPolicy
    let quota: RetryQuota
    let random: Double

    init(policy: RetryPolicy = RetryPolicy(), quota: RetryQuota = RetryQuota(), random: Double = 0.5) {
        self.policy = policy
        self.quota = quota
        self.random = random
    }

    func run<T>(_ body: (Int) throws -> T) throws -> T {
        try withRetries(
            policy: policy, quota: quota, random: { self.random }, sleep: { self.sleeps.append($0) },
            classify: classify, onRetry: { attempt, delay, _ in self.retries.append((attempt, delay)) }
        ) { attempt in
            attempts.append(attempt)
            return try body(attempt)
        }
    }

    func send(_ client: HTTPClient, _ request: HTTPRequest) throws -> HTTPResponse {
        try run { _ in
            let response = try client.send(request)
            guard response.status < 400 else { throw StatusError(status: response.status) }
            return response
        }
    }
}

@Suite("Retries in the SDKs' standard mode")
struct RetryTests {
    // MARK: Against the scripted server

    @Test("503, 503, 200: succeeds on the third attempt, the server saw three requests")
    func succeedsOnThirdAttempt() throws {
        let server = try ScriptedHTTPServer([.status(503), .status(503), .status(200, body: "finally")])
        defer { server.stop() }
        let driver = Driver()
        let response = try driver.send(HTTPClient(), HTTPRequest(method: "POST", url: server.baseURL + "/"))
        #expect(response.body == Array("finally".utf8))
        #expect(driver.attempts == [1, 2, 3])
        #expect(server.requests.count == 3)
        #expect(server.acceptedConnections == 1)
        #expect(driver.sleeps == [0.5, 1.0])
        #expect(driver.retries.map(\.attempt) == [2, 3])
        #expect(driver.retries.map(\.delay) == [0.5, 1.0])
        // Two retries paid 10, the success refunded its retry's 5.
        #expect(driver.quota.available == 495)
    }

    @Test("503 three times: fails with the last error after exactly three attempts")
    func failsAfterThreeAttempts() throws {
        let server = try ScriptedHTTPServer([.status(503), .status(503), .status(503), .status(200)])
        defer { server.stop() }
        let driver = Driver()
        let error = try #require(throws: StatusError.self) {
            try driver.send(HTTPClient(), HTTPRequest(method: "POST", url: server.baseURL + "/"))
        }
        #expect(error.status == 503)
        #expect(driver.attempts == [1, 2, 3])
        #expect(server.requests.count == 3)
        #expect(driver.sleeps.count == 2)
        #expect(driver.quota.available == 490)
    }

    @Test("a 400 is not retried")
    func clientErrorNotRetried() throws {
        let server = try ScriptedHTTPServer([.status(400), .status(200)])
        defer { server.stop() }
        let driver = Driver()
        let error = try #require(throws: StatusError.self) {
            try driver.send(HTTPClient(), HTTPRequest(method: "POST", url: server.baseURL + "/"))
        }
        #expect(error.status == 400)
        #expect(driver.attempts == [1])
        #expect(server.requests.count == 1)
        #expect(driver.sleeps.isEmpty)
        #expect(driver.quota.available == 500)
    }

    @Test("a refused connection is tried three times, then its HTTPError is thrown")
    func connectionRefusedRetried() throws {
        let closed = try ClosedPort()
        let driver = Driver()
        let error = try #require(throws: HTTPError.self) {
            try driver.send(HTTPClient(), HTTPRequest(method: "POST", url: "http://127.0.0.1:\(closed.port)/"))
        }
        #expect(error.kind == .connect)
        #expect(error.exitStatus.rawValue == 69)
        #expect(driver.attempts == [1, 2, 3])
        #expect(driver.sleeps.count == 2)
    }

    @Test("a timeout is retried and costs the quota 10")
    func timeoutRetried() throws {
        let server = try ScriptedHTTPServer([.status(200, delay: 5), .status(200, body: "quick")])
        defer { server.stop() }
        let driver = Driver(quota: RetryQuota(capacity: 100))
        var availableAfterRetry = 0
        let client = HTTPClient(totalTimeout: 0.1)
        let response = try driver.run { attempt -> HTTPResponse in
            if attempt == 2 { availableAfterRetry = driver.quota.available }
            return try client.send(HTTPRequest(method: "GET", url: server.baseURL + "/"))
        }
        #expect(response.body == Array("quick".utf8))
        #expect(driver.attempts == [1, 2])
        #expect(availableAfterRetry == 90)
        #expect(driver.quota.available == 100)
    }

    // MARK: Backoff

    @Test("the backoff is full jitter under baseDelay·2^(attempt−1), capped at maxBackoff")
    func backoffBounds() {
        let policy = RetryPolicy()
        #expect(policy.delay(attempt: 1, random: 0.999) < 1)
        #expect(policy.delay(attempt: 1, random: 0.999) > 0.99)
        #expect(policy.delay(attempt: 2, random: 0.999) < 2)
        #expect(policy.delay(attempt: 2, random: 0.999) > 1.99)
        #expect(policy.delay(attempt: 3, random: 0.999) < 4)
        #expect(policy.delay(attempt: 10, random: 0.999) < 20)
        #expect(policy.delay(attempt: 10, random: 0.999) > 19.9)
        #expect(policy.delay(attempt: 100, random: 0.999) < 20)
        #expect(policy.delay(attempt: 1, random: 0) == 0)
        #expect(policy.delay(attempt: 10, random: 0) == 0)
        #expect(RetryPolicy(baseDelay: 0.1, maxBackoff: 0.3).delay(attempt: 3, random: 0.5) == 0.15)
    }

    @Test("withRetries sleeps the policy's delays, drawn from the injected random source")
    func sleepsRecorded() throws {
        let high = Driver(policy: RetryPolicy(maxAttempts: 4), random: 0.999)
        #expect(throws: StatusError.self) { try high.run { _ in throw StatusError(status: 503) } as Void }
        #expect(high.sleeps.count == 3)
        #expect(high.sleeps[0] < 1 && high.sleeps[0] > 0.99)
        #expect(high.sleeps[1] < 2 && high.sleeps[1] > 1.99)
        #expect(high.sleeps[2] < 4 && high.sleeps[2] > 3.99)

        let capped = Driver(policy: RetryPolicy(maxAttempts: 12), random: 0.999)
        #expect(throws: StatusError.self) { try capped.run { _ in throw StatusError(status: 503) } as Void }
        #expect(capped.sleeps.count == 11)
        #expect(capped.sleeps.allSatisfy { $0 < 20 })
        #expect(capped.sleeps[9] > 19.9)  // before attempt 11: retry 10, capped

        let zero = Driver(random: 0)
        #expect(throws: StatusError.self) { try zero.run { _ in throw StatusError(status: 503) } as Void }
        #expect(zero.sleeps == [0, 0])
    }

    @Test("the default random source stays in [0, 1)")
    func defaultRandom() throws {
        var sleeps: [Double] = []
        let quota = RetryQuota(capacity: 10_000)
        _ = try? withRetries(policy: RetryPolicy(maxAttempts: 200, baseDelay: 1, maxBackoff: 1), quota: quota,
                             sleep: { sleeps.append($0) }) { _ -> Int in
            throw HTTPError(kind: .connect, code: 7, curlMessage: "refused", host: "h")
        }
        #expect(sleeps.count == 199)
        #expect(sleeps.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(Set(sleeps).count > 100)
    }

    // MARK: Quota

    @Test("with 10 tokens, the third retry is not attempted and the last error is thrown")
    func quotaRunsDry() throws {
        let driver = Driver(policy: RetryPolicy(maxAttempts: 5), quota: RetryQuota(capacity: 10))
        let error = try #require(throws: StatusError.self) {
            try driver.run { attempt -> Void in throw StatusError(status: 503, code: "Attempt\(attempt)") }
        }
        #expect(driver.attempts == [1, 2, 3])
        #expect(error.code == "Attempt3")
        #expect(driver.quota.available == 0)
        #expect(driver.sleeps.count == 2)
    }

    @Test("a success refunds its retry's cost, or 1 on a first attempt, never above the capacity")
    func refunds() throws {
        let quota = RetryQuota(capacity: 30)
        func call(failures: [Error]) throws {
            let driver = Driver(policy: RetryPolicy(maxAttempts: 5), quota: quota)
            try driver.run { attempt in
                if attempt <= failures.count { throw failures[attempt - 1] }
            }
        }
        let throttled = StatusError(status: 400, code: "RequestLimitExceeded")
        let timedOut = HTTPError(kind: .timeout, code: 28, curlMessage: "timed out", host: "h")

        #expect(throws: StatusError.self) {
            try Driver(policy: RetryPolicy(maxAttempts: 3), quota: quota).run { _ in throw throttled } as Void
        }
        #expect(quota.available == 20)  // two retries at 5
        try call(failures: [])
        #expect(quota.available == 21)  // a first-attempt success gives 1
        try call(failures: [throttled])
        #expect(quota.available == 21)  // 5 paid, 5 refunded
        try call(failures: [throttled, StatusError(status: 502)])
        #expect(quota.available == 16)  // 10 paid, the last retry's 5 refunded
        try call(failures: [timedOut])
        #expect(quota.available == 16)  // 10 paid, 10 refunded
        for _ in 0..<20 { try call(failures: []) }
        #expect(quota.available == 30)  // capped at the capacity
    }

    @Test("the quota is safe to share between threads")
    func quotaConcurrent() {
        let quota = RetryQuota(capacity: 500)
        let paid = LineRecorder()
        DispatchQueue.concurrentPerform(iterations: 200) { _ in
            if quota.acquire(for: .throttling) != nil { paid.record("paid") }
        }
        #expect(paid.lines.count == 100)
        #expect(quota.available == 0)
        DispatchQueue.concurrentPerform(iterations: 200) { _ in quota.release(retryCost: nil) }
        #expect(quota.available == 200)
    }

    // MARK: Classification

    @Test("throttling codes, transient codes and 5xx statuses are retryable; the rest is not")
    func classification() {
        for code in ["Throttling", "ThrottlingException", "RequestLimitExceeded", "EC2ThrottledException",
                     "SlowDown", "PriorRequestNotComplete", "BandwidthLimitExceeded"]
        {
            #expect(RetryPolicy.classify(code: code, status: 400) == .throttling, "\(code)")
        }
        #expect(RetryPolicy.throttlingCodes.count == 14)
        for code in ["RequestTimeout", "RequestTimeoutException", "InternalError", "InternalFailure",
                     "ServiceUnavailable"]
        {
            #expect(RetryPolicy.classify(code: code, status: 400) == .transient, "\(code)")
        }
        #expect(RetryPolicy.transientCodes.count == 5)
        for status in [500, 502, 503, 504] { #expect(RetryPolicy.classify(status: status) == .transient) }
        for status in [200, 400, 403, 404, 429, 501, 505] {
            #expect(RetryPolicy.classify(status: status) == .notRetryable, "\(status)")
        }
        #expect(RetryPolicy.classify(code: "InvalidParameterValue", status: 400) == .notRetryable)
        #expect(RetryPolicy.classify(code: "UnauthorizedOperation", status: 403) == .notRetryable)
        #expect(RetryPolicy.classify(code: "Unknown", status: 503) == .transient)
    }

    @Test("HTTPError classifies by kind; other errors are not retried")
    func errorClassification() {
        func error(_ kind: HTTPError.Kind) -> HTTPError {
            HTTPError(kind: kind, code: 0, curlMessage: "", host: "h")
        }
        #expect(RetryPolicy.classify(error(.connect)) == .transient)
        #expect(RetryPolicy.classify(error(.transport)) == .transient)
        #expect(RetryPolicy.classify(error(.timeout)) == .timeout)
        #expect(RetryPolicy.classify(error(.other)) == .notRetryable)
        #expect(RetryPolicy.classify(Failure("something else")) == .notRetryable)
        #expect(HTTPError.kind(ofCurlCode: 7) == .connect)
        #expect(HTTPError.kind(ofCurlCode: 6) == .connect)
        #expect(HTTPError.kind(ofCurlCode: 28) == .timeout)
        #expect(HTTPError.kind(ofCurlCode: 52) == .transport)
        #expect(HTTPError.kind(ofCurlCode: 56) == .transport)
        #expect(HTTPError.kind(ofCurlCode: 60) == .other)  // the peer's certificate did not verify
        #expect(HTTPError.kind(ofCurlCode: 3) == .other)  // malformed URL
    }

    @Test("a non-retryable error ends it at once, and nothing is charged")
    func notRetryableStops() throws {
        let driver = Driver()
        #expect(throws: Failure.self) { try driver.run { _ in throw Failure("no") } as Void }
        #expect(driver.attempts == [1])
        #expect(driver.quota.available == 500)
    }
}
