import CCurlShim
import PortalBase

/// libcurl, loaded on the first request instead of linked: Debian's brings
/// about 30 shared libraries (GSSAPI, LDAP, RTMP, nghttp2, ...) whose loading
/// and binding were two thirds of every command's start-up, requests or not
/// (README, "Benchmarks"). The functions HTTPClient uses are looked up once;
/// the two variadic ones are called through CCurlShim.
struct Curl: @unchecked Sendable {  // C function pointers, read-only after loading
    typealias Handle = UnsafeMutableRawPointer
    typealias List = UnsafeMutablePointer<curl_slist>

    let easyInit: @convention(c) () -> Handle?
    let easyCleanup: @convention(c) (Handle?) -> Void
    let easyReset: @convention(c) (Handle?) -> Void
    let easyPerform: @convention(c) (Handle?) -> CURLcode
    let easyStrerror: @convention(c) (CURLcode) -> UnsafePointer<CChar>?
    let slistAppend: @convention(c) (List?, UnsafePointer<CChar>?) -> List?
    let slistFreeAll: @convention(c) (List?) -> Void
    /// `curl_easy_setopt` and `curl_easy_getinfo`, for CCurlShim's `pg_curl_*`.
    let setopt: UnsafeMutableRawPointer
    let getinfo: UnsafeMutableRawPointer

    #if os(macOS)
    static let library = "libcurl.4.dylib"
    #else
    static let library = "libcurl.so.4"
    #endif

    /// Loaded and initialised (`curl_global_init`) once per process, by the
    /// first request: a `static let` is initialised exactly once, even when
    /// threads race for it.
    private static let shared = load(library)

    /// libcurl, or why it cannot be had (thrown before any request is made).
    static func loaded() throws -> Curl { try shared.get() }

    static func load(_ library: String) -> Result<Curl, Failure> {
        let hints = ["install it: sudo apt-get install libcurl4 (Debian and Ubuntu)"]
        // RTLD_LOCAL: its symbols bind nothing else in the process.
        guard let image = dlopen(library, RTLD_LAZY | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "not found"
            return .failure(Failure("cannot load libcurl (\(library)), which every request to AWS goes through: \(reason)",
                                    status: .unavailable, hints: hints))
        }
        func function<T>(_ name: String) throws(Failure) -> T {
            guard let address = dlsym(image, name) else {
                throw Failure("\(library) lacks \(name): not a libcurl Portal Gun can use", status: .unavailable, hints: hints)
            }
            return unsafeBitCast(address, to: T.self)
        }
        return Result { () throws(Failure) -> Curl in
            let globalInit: @convention(c) (Int) -> CURLcode = try function("curl_global_init")
            let curl = try Curl(easyInit: function("curl_easy_init"), easyCleanup: function("curl_easy_cleanup"),
                                easyReset: function("curl_easy_reset"), easyPerform: function("curl_easy_perform"),
                                easyStrerror: function("curl_easy_strerror"), slistAppend: function("curl_slist_append"),
                                slistFreeAll: function("curl_slist_free_all"),
                                setopt: function("curl_easy_setopt"), getinfo: function("curl_easy_getinfo"))
            let code = globalInit(Int(CURL_GLOBAL_DEFAULT))
            guard code == CURLE_OK else {
                throw Failure("libcurl (\(library)) could not initialise: \(curl.message(code))", status: .unavailable)
            }
            return curl
        }
    }

    func message(_ code: CURLcode) -> String {
        easyStrerror(code).map { String(cString: $0) } ?? "libcurl error \(code.rawValue)"
    }
}
