#include "CCurlShim.h"

typedef CURLcode (*setopt_function)(CURL *, CURLoption, ...);
typedef CURLcode (*getinfo_function)(CURL *, CURLINFO, ...);

CURLcode pg_curl_setopt_long(void *setopt, CURL *curl, CURLoption option, long value) {
    return ((setopt_function)setopt)(curl, option, value);
}
CURLcode pg_curl_setopt_string(void *setopt, CURL *curl, CURLoption option, const char *value) {
    return ((setopt_function)setopt)(curl, option, value);
}
CURLcode pg_curl_setopt_pointer(void *setopt, CURL *curl, CURLoption option, void *value) {
    return ((setopt_function)setopt)(curl, option, value);
}
CURLcode pg_curl_setopt_callback(void *setopt, CURL *curl, CURLoption option, pg_curl_data_callback value) {
    return ((setopt_function)setopt)(curl, option, value);
}
CURLcode pg_curl_setopt_off_t(void *setopt, CURL *curl, CURLoption option, curl_off_t value) {
    return ((setopt_function)setopt)(curl, option, value);
}
CURLcode pg_curl_getinfo_long(void *getinfo, CURL *curl, CURLINFO info, long *value) {
    return ((getinfo_function)getinfo)(curl, info, value);
}

static int pg_curl_xferinfo(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal; (void)dlnow; (void)ultotal; (void)ulnow;
    int (*stop)(void) = (int (*)(void))data;
    return stop() ? 1 : 0;
}
CURLcode pg_curl_set_stop_check(void *setopt, CURL *curl, int (*stop)(void)) {
    CURLcode rc = pg_curl_setopt_pointer(setopt, curl, CURLOPT_XFERINFOFUNCTION, (void *)pg_curl_xferinfo);
    if (rc == CURLE_OK) rc = pg_curl_setopt_pointer(setopt, curl, CURLOPT_XFERINFODATA, (void *)stop);
    if (rc == CURLE_OK) rc = pg_curl_setopt_long(setopt, curl, CURLOPT_NOPROGRESS, 0L);
    return rc;
}
