// Numbers and times as text, with the C library: Foundation's
// String(format:) and date formatters live in the full Foundation, whose
// ICU no Portal Gun executable links (see Imports.swift).

/// printf's formatting (`%.2f`, `%5.1f`, `%04d`, `%g`, `%s` of a C string):
/// vsnprintf in the C locale, as String(format:) with no locale.
public func cFormat(_ format: String, _ arguments: CVarArg...) -> String {
    let size = withVaList(arguments) { vsnprintf(nil, 0, format, $0) }
    guard size > 0 else { return "" }
    var buffer = [CChar](repeating: 0, count: Int(size) + 1)
    _ = withVaList(arguments) { vsnprintf(&buffer, buffer.count, format, $0) }
    return String(decoding: buffer.prefix(Int(size)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// `2026-05-01T12:01:33.120Z` (UTC, milliseconds, as EC2 writes its
/// timestamps), or `2026-05-01T12:01:33Z` without `fractional`.
public func iso8601(_ date: Date, fractional: Bool = true) -> String {
    let seconds = date.timeIntervalSince1970
    var time = time_t(seconds.rounded(.down))
    let millis = min(999, Int(((seconds - Double(time)) * 1000).rounded(.down)))
    var parts = tm()
    gmtime_r(&time, &parts)
    let whole = cFormat("%04d-%02d-%02dT%02d:%02d:%02d", Int32(parts.tm_year + 1900), Int32(parts.tm_mon + 1),
                        Int32(parts.tm_mday), Int32(parts.tm_hour), Int32(parts.tm_min), Int32(parts.tm_sec))
    return whole + (fractional ? cFormat(".%03dZ", Int32(millis)) : "Z")
}

/// `YYYY-MM-DDTHH:MM:SS`, then optional fractional seconds, then `Z` or
/// `±HH:MM` (RFC 3339); nil for anything else.
public func parseISO8601(_ text: String) -> Date? {
    let bytes = Array(text.utf8)
    func number(_ start: Int, _ count: Int) -> Int? {
        guard start + count <= bytes.count, bytes[start..<start + count].allSatisfy({ (48...57).contains($0) }) else {
            return nil
        }
        return bytes[start..<start + count].reduce(0) { $0 * 10 + Int($1 - 48) }
    }
    func byte(_ at: Int, _ character: Unicode.Scalar) -> Bool { at < bytes.count && bytes[at] == UInt8(ascii: character) }
    guard let year = number(0, 4), byte(4, "-"), let month = number(5, 2), byte(7, "-"), let day = number(8, 2),
        byte(10, "T") || byte(10, "t"), let hour = number(11, 2), byte(13, ":"), let minute = number(14, 2),
        byte(16, ":"), let second = number(17, 2),
        (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
    else { return nil }
    var at = 19
    var fraction = 0.0
    if byte(at, ".") {
        var scale = 0.1
        at += 1
        let start = at
        while at < bytes.count, (48...57).contains(bytes[at]) {
            fraction += Double(bytes[at] - 48) * scale
            scale /= 10
            at += 1
        }
        guard at > start else { return nil }
    }
    var offset = 0
    if byte(at, "Z") || byte(at, "z") {
        at += 1
    } else if byte(at, "+") || byte(at, "-") {
        guard let hours = number(at + 1, 2), byte(at + 3, ":"), let minutes = number(at + 4, 2), hours < 24, minutes < 60
        else { return nil }
        offset = (hours * 60 + minutes) * 60 * (byte(at, "-") ? -1 : 1)
        at += 6
    } else {
        return nil
    }
    guard at == bytes.count else { return nil }
    var parts = tm()
    parts.tm_year = Int32(year - 1900)
    parts.tm_mon = Int32(month - 1)
    parts.tm_mday = Int32(day)
    parts.tm_hour = Int32(hour)
    parts.tm_min = Int32(minute)
    parts.tm_sec = Int32(second)
    return Date(timeIntervalSince1970: Double(timegm(&parts) - offset) + fraction)
}

/// `12:01:33` (or `12:01:33.120` with `milliseconds`), local time, as the
/// C library knows the zone (TZ, /etc/localtime).
public func localClock(_ date: Date, milliseconds: Bool = false) -> String {
    let seconds = date.timeIntervalSince1970
    var time = time_t(seconds.rounded(.down))
    var parts = tm()
    localtime_r(&time, &parts)
    let clock = cFormat("%02d:%02d:%02d", Int32(parts.tm_hour), Int32(parts.tm_min), Int32(parts.tm_sec))
    let millis = min(999, Int(((seconds - Double(time)) * 1000).rounded(.down)))
    return milliseconds ? clock + cFormat(".%03d", Int32(millis)) : clock
}
