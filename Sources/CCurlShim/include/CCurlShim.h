// Typed entry points for libcurl that Swift cannot call directly:
// curl_easy_setopt / curl_easy_getinfo are variadic. (libssh2's: CSSH2Shim.)
#ifndef PORTAL_CCURLSHIM_H
#define PORTAL_CCURLSHIM_H

#include <curl/curl.h>

typedef size_t (*pg_curl_data_callback)(char *data, size_t size, size_t nmemb, void *userdata);

CURLcode pg_curl_setopt_long(CURL *curl, CURLoption option, long value);
CURLcode pg_curl_setopt_string(CURL *curl, CURLoption option, const char *value);
CURLcode pg_curl_setopt_pointer(CURL *curl, CURLoption option, void *value);
CURLcode pg_curl_setopt_callback(CURL *curl, CURLoption option, pg_curl_data_callback value);
CURLcode pg_curl_getinfo_long(CURL *curl, CURLINFO info, long *value);
CURLcode pg_curl_getinfo_double(CURL *curl, CURLINFO info, double *value);

/* Makes a transfer stop (CURLE_ABORTED_BY_CALLBACK) as soon as `stop` returns
   non-zero; libcurl asks through its progress callback, about once a second
   while nothing moves and more often while data flows. */
CURLcode pg_curl_set_stop_check(CURL *curl, int (*stop)(void));

/* curl_off_t options (CURLOPT_POSTFIELDSIZE_LARGE): curl_off_t is not always a long. */
CURLcode pg_curl_setopt_off_t(CURL *curl, CURLoption option, curl_off_t value);

#endif

