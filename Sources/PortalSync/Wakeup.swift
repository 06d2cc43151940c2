import PortalBase

/// A self-pipe: `post` makes `fd` readable (until `clear`), to wake a thread
/// that waits on descriptors (`waitReadable`, `Child.pump`).
final class Wakeup: @unchecked Sendable {
    let fd: Int32
    private let writeEnd: Int32

    init() throws {
        (fd, writeEnd) = try Child.pipe()  // no child spawned meanwhile inherits it
        for descriptor in [fd, writeEnd] { _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK) }
    }

    deinit {
        close(fd)
        close(writeEnd)
    }

    func post() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    func clear() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(fd, &buffer, buffer.count) > 0 {}
    }
}

/// Waits until one of `fds` can be read (or is at its end), at most
/// `timeout` seconds (nil: no limit); true when one can.
@discardableResult
func waitReadable(_ fds: [Int32], timeout: Double?) -> Bool {
    var entries = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    return poll(&entries, nfds_t(entries.count), pollMilliseconds(timeout)) > 0
}
