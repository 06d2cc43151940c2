import PortalBase

/// Why a failed attempt may be tried again, or not; the retry quota charges
/// a timeout more than the others.
public enum RetryClass: String, Sendable, Equatable {
    case throttling
    case transient
    case timeout
    case notRetryable

    public var isRetryable: Bool { self != .notRetryable }
}

/// The AWS SDKs' *standard* retry mode: a few attempts, with exponential
/// backoff and full jitter between them, on throttling, transient errors,
/// 5xx statuses and connection failures.
public struct RetryPolicy: Equatable, Sendable {
    /// Attempts in all, the first one included.
    public var maxAttempts: Int
    /// Seconds: the backoff before the first retry is at most this.
    public var baseDelay: Double
    /// Seconds: no backoff is longer.
    public var maxBackoff: Double

    public init(maxAttempts: Int = 3, baseDelay: Double = 1.0, maxBackoff: Double = 20.0) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxBackoff = maxBackoff
    }

    /// Seconds to wait before retry number `attempt` (1 for the first retry):
    /// `random * min(maxBackoff, baseDelay * 2^(attempt-1))`, `random` uniform
    /// in [0, 1) (full jitter).
    public func delay(attempt: Int, random: Double) -> Double {
        let exponential = baseDelay * pow(2, Double(max(attempt, 1) - 1))
        return random * min(maxBackoff, exponential)
    }

    /// Error codes that mean "slow down".
    public static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException",
        "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
        "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
        "EC2ThrottledException",
    ]

    /// Error codes for a passing fault on AWS's side.
    public static let transientCodes: Set<String> = [
        "RequestTimeout", "RequestTimeoutException", "InternalError", "InternalFailure",
        "ServiceUnavailable",
    ]

    /// HTTP statuses worth another attempt, whatever the error code.
    public static let transientStatuses: Set<Int> = [500, 502, 503, 504]

    /// An HTTP status: 500, 502, 503 and 504 are transient; anything else is
    /// not retried on its status alone.
    public static func classify(status: Int) -> RetryClass {
        transientStatuses.contains(status) ? .transient : .notRetryable
    }

    /// An AWS error code, then its HTTP status.
    public static func classify(code: String, status: Int) -> RetryClass {
        if throttlingCodes.contains(code) { return .throttling }
        if transientCodes.contains(code) { return .transient }
        return classify(status: status)
    }

    /// A transport error: `HTTPError` by its kind (connection failures and
    /// broken connections are transient, timeouts are timeouts); any other
    /// error is not retried.
    public static func classify(_ error: Error) -> RetryClass {
        guard let http = error as? HTTPError else { return .notRetryable }
        return http.retryClass
    }
}

extension HTTPError {
    /// How the standard retry mode treats this error.
    public var retryClass: RetryClass {
        switch kind {
        case .connect, .transport: return .transient
        case .timeout: return .timeout
        case .other, .interrupted: return .notRetryable
        }
    }
}

/// The retry quota of the standard mode: a bucket of tokens shared by every
/// call a process makes. A retry takes tokens from it, a success puts some
/// back; when AWS fails everything, the bucket runs dry and calls stop
/// retrying instead of piling on.
///
/// `@unchecked Sendable`: its one mutable field is read and written only
/// while `lock` is held.
public final class RetryQuota: @unchecked Sendable {
    public static let defaultCapacity = 500
    /// Tokens a retry costs.
    public static let retryCost = 5
    /// Tokens a retry after a timeout costs.
    public static let timeoutRetryCost = 10
    /// Tokens a success on the first attempt puts back.
    public static let noRetryIncrement = 1

    /// The most tokens the bucket holds; it starts full.
    public let capacity: Int
    private var tokens: Int
    private let lock = Lock()

    public init(capacity: Int = RetryQuota.defaultCapacity) {
        self.capacity = capacity
        self.tokens = capacity
    }

    /// Tokens left.
    public var available: Int { lock.withLock { tokens } }

    /// Takes the cost of a retry after an error of this class: the cost
    /// taken, or nil when the quota cannot pay (then do not retry).
    public func acquire(for retryClass: RetryClass) -> Int? {
        let cost = retryClass == .timeout ? RetryQuota.timeoutRetryCost : RetryQuota.retryCost
        return lock.withLock {
            guard tokens >= cost else { return nil }
            tokens -= cost
            return cost
        }
    }

    /// After a successful attempt: gives back what its retry cost, or
    /// `noRetryIncrement` if it was a first attempt; never above `capacity`.
    public func release(retryCost: Int?) {
        lock.withLock {
            tokens = min(capacity, tokens + (retryCost ?? RetryQuota.noRetryIncrement))
        }
    }
}

/// Runs `body` (given the attempt number, from 1) until it succeeds, it fails
/// with an error `classify` calls not retryable, `policy.maxAttempts` are
/// spent or `quota` cannot pay for another retry; then rethrows the last
/// error. Between attempts it sleeps `policy.delay(attempt:random:)` seconds.
///
/// - Parameters:
///   - random: the jitter source, uniform in [0, 1).
///   - sleep: waits that many seconds (inject a recorder in tests).
///   - onRetry: told before each retry: the attempt about to be made (2 for
///     the first retry), the delay before it, and the error that caused it.
public func withRetries<T>(
    policy: RetryPolicy = RetryPolicy(),
    quota: RetryQuota,
    random: () -> Double = { Double.random(in: 0..<1) },
    sleep: (Double) -> Void = { sleep(seconds: $0) },
    classify: (Error) -> RetryClass = RetryPolicy.classify,
    onRetry: ((_ attempt: Int, _ delay: Double, _ error: Error) -> Void)? = nil,
    _ body: (_ attempt: Int) throws -> T
) throws -> T {
    var retryCost: Int? = nil
    var attempt = 1
    while true {
        do {
            let value = try body(attempt)
            quota.release(retryCost: retryCost)
            return value
        } catch {
            let retryClass = classify(error)
            guard retryClass.isRetryable, attempt < policy.maxAttempts,
                  let cost = quota.acquire(for: retryClass)
            else { throw error }
            retryCost = cost
            let delay = policy.delay(attempt: attempt, random: random())
            attempt += 1
            onRetry?(attempt, delay, error)
            sleep(delay)
        }
    }
}
