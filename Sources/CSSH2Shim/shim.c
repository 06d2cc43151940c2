#include "CSSH2Shim.h"

LIBSSH2_SESSION *pg_libssh2_session_init(void) { return libssh2_session_init(); }
LIBSSH2_CHANNEL *pg_libssh2_channel_open_session(LIBSSH2_SESSION *session) {
    return libssh2_channel_open_session(session);
}
int pg_libssh2_channel_exec(LIBSSH2_CHANNEL *channel, const char *command) {
    return libssh2_channel_exec(channel, command);
}
ssize_t pg_libssh2_channel_read(LIBSSH2_CHANNEL *channel, char *buf, size_t len) {
    return libssh2_channel_read(channel, buf, len);
}
ssize_t pg_libssh2_channel_read_stderr(LIBSSH2_CHANNEL *channel, char *buf, size_t len) {
    return libssh2_channel_read_stderr(channel, buf, len);
}
ssize_t pg_libssh2_channel_write(LIBSSH2_CHANNEL *channel, const char *buf, size_t len) {
    return libssh2_channel_write(channel, buf, len);
}
int pg_libssh2_channel_send_eof(LIBSSH2_CHANNEL *channel) { return libssh2_channel_send_eof(channel); }
int pg_libssh2_userauth_publickey_fromfile(LIBSSH2_SESSION *session, const char *user,
                                           const char *publickey, const char *privatekey,
                                           const char *passphrase) {
    return libssh2_userauth_publickey_fromfile(session, user, publickey, privatekey, passphrase);
}
int pg_libssh2_session_last_error(LIBSSH2_SESSION *session, char **message) {
    int length = 0;
    return libssh2_session_last_error(session, message, &length, 0);
}
int pg_libssh2_session_disconnect(LIBSSH2_SESSION *session, const char *description) {
    return libssh2_session_disconnect(session, description);
}
