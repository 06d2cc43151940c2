// Typed entry points for C APIs that Swift cannot call directly:
// curl_easy_setopt / curl_easy_getinfo are variadic, and much of libssh2 is
// function-like macros.
#ifndef PORTAL_CSHIM_H
#define PORTAL_CSHIM_H

#include <curl/curl.h>
#include <libssh2.h>

typedef size_t (*pg_curl_data_callback)(char *data, size_t size, size_t nmemb, void *userdata);

CURLcode pg_curl_setopt_long(CURL *curl, CURLoption option, long value);
CURLcode pg_curl_setopt_string(CURL *curl, CURLoption option, const char *value);
CURLcode pg_curl_setopt_pointer(CURL *curl, CURLoption option, void *value);
CURLcode pg_curl_setopt_callback(CURL *curl, CURLoption option, pg_curl_data_callback value);
CURLcode pg_curl_getinfo_long(CURL *curl, CURLINFO info, long *value);
CURLcode pg_curl_getinfo_double(CURL *curl, CURLINFO info, double *value);

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

/* Makes a transfer stop (CURLE_ABORTED_BY_CALLBACK) as soon as `stop` returns
   non-zero; libcurl asks through its progress callback, about once a second
   while nothing moves and more often while data flows. */
CURLcode pg_curl_set_stop_check(CURL *curl, int (*stop)(void));

/* curl_off_t options (CURLOPT_POSTFIELDSIZE_LARGE): curl_off_t is not always a long. */
CURLcode pg_curl_setopt_off_t(CURL *curl, CURLoption option, curl_off_t value);

#endif

/* libssh2 (PortalSSH): more function-like macros. */
#ifndef PORTAL_CSHIM_SSH_MORE
#define PORTAL_CSHIM_SSH_MORE
int pg_libssh2_session_disconnect(LIBSSH2_SESSION *session, const char *description);
#endif
