// Typed entry points for libssh2, much of which is function-like macros that
// Swift cannot call. (libcurl's: CCurlShim.)
#ifndef PORTAL_CSSH2SHIM_H
#define PORTAL_CSSH2SHIM_H

#include <libssh2.h>

LIBSSH2_SESSION *pg_libssh2_session_init(void);
LIBSSH2_CHANNEL *pg_libssh2_channel_open_session(LIBSSH2_SESSION *session);
int pg_libssh2_channel_exec(LIBSSH2_CHANNEL *channel, const char *command);
ssize_t pg_libssh2_channel_read(LIBSSH2_CHANNEL *channel, char *buf, size_t len);
ssize_t pg_libssh2_channel_read_stderr(LIBSSH2_CHANNEL *channel, char *buf, size_t len);
ssize_t pg_libssh2_channel_write(LIBSSH2_CHANNEL *channel, const char *buf, size_t len);
int pg_libssh2_channel_send_eof(LIBSSH2_CHANNEL *channel);
int pg_libssh2_userauth_publickey_fromfile(LIBSSH2_SESSION *session, const char *user,
                                           const char *publickey, const char *privatekey,
                                           const char *passphrase);
int pg_libssh2_session_last_error(LIBSSH2_SESSION *session, char **message);
int pg_libssh2_session_disconnect(LIBSSH2_SESSION *session, const char *description);

#endif
