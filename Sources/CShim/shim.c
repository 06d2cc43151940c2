#include "CShim.h"
#include <string.h>

CURLcode pg_curl_setopt_long(CURL *curl, CURLoption option, long value) {
    return curl_easy_setopt(curl, option, value);
}
CURLcode pg_curl_setopt_string(CURL *curl, CURLoption option, const char *value) {
    return curl_easy_setopt(curl, option, value);
}
CURLcode pg_curl_setopt_pointer(CURL *curl, CURLoption option, void *value) {
    return curl_easy_setopt(curl, option, value);
}
CURLcode pg_curl_setopt_callback(CURL *curl, CURLoption option, pg_curl_data_callback value) {
    return curl_easy_setopt(curl, option, value);
}
static int pg_curl_xferinfo(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal; (void)dlnow; (void)ultotal; (void)ulnow;
    int (*stop)(void) = (int (*)(void))data;
    return stop() ? 1 : 0;
}
CURLcode pg_curl_set_stop_check(CURL *curl, int (*stop)(void)) {
    CURLcode rc = curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, pg_curl_xferinfo);
    if (rc == CURLE_OK) rc = curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)stop);
    if (rc == CURLE_OK) rc = curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    return rc;
}
CURLcode pg_curl_getinfo_long(CURL *curl, CURLINFO info, long *value) {
    return curl_easy_getinfo(curl, info, value);
}
CURLcode pg_curl_getinfo_double(CURL *curl, CURLINFO info, double *value) {
    return curl_easy_getinfo(curl, info, value);
}

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

CURLcode pg_curl_setopt_off_t(CURL *curl, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(curl, option, value);
}

/* libssh2 (PortalSSH): more function-like macros. */
int pg_libssh2_session_disconnect(LIBSSH2_SESSION *session, const char *description) {
    return libssh2_session_disconnect(session, description);
}
