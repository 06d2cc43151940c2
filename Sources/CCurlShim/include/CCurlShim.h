// Typed entry points for libcurl that Swift cannot call directly:
// curl_easy_setopt / curl_easy_getinfo are variadic. (libssh2's: CSSH2Shim.)
//
// No Portal Gun target links libcurl: PortalAWS's CurlLibrary.swift loads it
// (dlopen) on the first request and looks its functions up, so a command that
// makes no request pays nothing for it. The variadic two are called here,
// through the address that lookup found (`setopt`, `getinfo`); only curl's
// headers (types, constants) are used at build time.
#ifndef PORTAL_CCURLSHIM_H
#define PORTAL_CCURLSHIM_H

#include <curl/curl.h>

typedef size_t (*pg_curl_data_callback)(char *data, size_t size, size_t nmemb, void *userdata);

CURLcode pg_curl_setopt_long(void *setopt, CURL *curl, CURLoption option, long value);
CURLcode pg_curl_setopt_string(void *setopt, CURL *curl, CURLoption option, const char *value);
CURLcode pg_curl_setopt_pointer(void *setopt, CURL *curl, CURLoption option, void *value);
CURLcode pg_curl_setopt_callback(void *setopt, CURL *curl, CURLoption option, pg_curl_data_callback value);
/* curl_off_t options (CURLOPT_POSTFIELDSIZE_LARGE): curl_off_t is not always a long. */
CURLcode pg_curl_setopt_off_t(void *setopt, CURL *curl, CURLoption option, curl_off_t value);
CURLcode pg_curl_getinfo_long(void *getinfo, CURL *curl, CURLINFO info, long *value);

/* Makes a transfer stop (CURLE_ABORTED_BY_CALLBACK) as soon as `stop` returns
   non-zero; libcurl asks through its progress callback, about once a second
   while nothing moves and more often while data flows. */
CURLcode pg_curl_set_stop_check(void *setopt, CURL *curl, int (*stop)(void));

#endif
