/* remote.h - private to io/: what remote.c (streams, listing, uploads),
 * gcs.c (the Cloud Storage JSON API), auth.c (Application Default
 * Credentials) and net.c (one-shot HTTP requests with retries) share.
 *
 * Nothing here ever puts a credential in a message: requests are named in
 * messages by the object they serve (gs://b/o, or a URL without its query),
 * never by the URL sent, and headers are never shown. */
#ifndef SHARDLEARN_IO_REMOTE_H
#define SHARDLEARN_IO_REMOTE_H

#include <curl/curl.h>
#include <stdint.h>

#include "io/backend.h"

/* A transient failure (transport error, 408, 429, 5xx) is tried this many
 * times in all, waiting SL_NET_BACKOFF_MS * 2^k (at most SL_NET_BACKOFF_MAX_MS)
 * between tries: 0.25 s, 0.5 s, ... about 60 s in all before giving up. A
 * download that made progress since its last failure starts counting anew. */
#define SL_NET_TRIES 8
#define SL_NET_BACKOFF_MS 250
#define SL_NET_BACKOFF_MAX_MS 16000

/* libcurl's global state, once per process (thread-safe). */
void sl_net_global_init(void);
/* Sets the options every remote request shares: timeouts, no signals, the
 * CA bundle from CURL_CA_BUNDLE or SSL_CERT_FILE when set. */
void sl_net_setup(CURL *c);
/* Sleeps before try number k (k >= 1 is the first retry). */
void sl_net_backoff(int k);
/* 1 for statuses worth another try: 408, 429, 5xx. */
int sl_net_transient(long code);
/* 1 for transport failures worth another try (refused, reset, cut, timed
 * out); not for a certificate that does not verify or a malformed URL. */
int sl_net_transient_curl(CURLcode rc);

/* One small request, its body held in memory (metadata, listings, tokens,
 * uploads of outputs). */
struct sl_net_req {
    const char *method; /* "GET", "HEAD", "POST" */
    const char *url;
    const char *shown; /* names the request in messages (no credentials) */
    const struct curl_slist *headers;
    const void *body; /* POST body (len bytes), or NULL */
    size_t len;
    int tries; /* 0: SL_NET_TRIES */
};
struct sl_net_resp {
    long code;
    char *body; /* NUL-terminated, owned; free with sl_net_resp_free */
    size_t len;
    char etag[SL_IO_TAG];   /* the ETag header, "" when none */
    int64_t content_length; /* -1 when not sent */
    int64_t range_total;    /* N of "Content-Range: bytes a-b/N", -1 when none */
};
/* Sends rq, retrying transport errors and 408/429/5xx; any final HTTP status
 * is returned in out (the caller judges it); only a request that never got
 * an answer is an error (SL_ERR_IO, naming rq->shown). out: zeroed, or
 * from an earlier call (its body is freed first). */
enum sl_status sl_net_request(const struct sl_net_req *rq, struct sl_net_resp *out,
                              struct sl_err *err) SL_WARN_UNUSED;
void sl_net_resp_free(struct sl_net_resp *r);
/* A short reason for an HTTP failure, from a JSON error body when it has
 * one ({"error": {"message": ...}} or {"error": ..., "error_description"}),
 * else the status line's meaning; into buf. */
void sl_net_reason(const struct sl_net_resp *r, char *buf, size_t cap);
/* One line for a final HTTP failure of `what` on object `shown`. */
enum sl_status sl_net_fail(const struct sl_net_resp *r, const char *what, const char *shown,
                           struct sl_err *err);

/* auth.c: the Authorization header for Cloud Storage ("" when talking to an
 * emulator), from Google's Application Default Credentials, cached and
 * refreshed a few minutes before expiry. A failure names `shown` (the object
 * the request is for) first. Thread-safe. */
enum sl_status sl_gcs_auth_header(const char *shown, char *hdr, size_t cap,
                                  struct sl_err *err) SL_WARN_UNUSED;
/* Forgets the cached token (after a 401). */
void sl_gcs_auth_forget(void);

/* gcs.c */
/* The API's base URL: https://storage.googleapis.com, or the emulator's
 * (STORAGE_EMULATOR_HOST, http:// when it has no scheme). */
void sl_gcs_base(char *buf, size_t cap);
/* Splits gs://bucket/path; path may be "". Returns 0 when spec is not one. */
int sl_gcs_split(const char *spec, char *bucket, size_t bcap, char *path, size_t pcap);
/* The media URL of o, pinned to its generation. */
void sl_gcs_media_url(const struct sl_io_object *o, char *url, size_t cap);
enum sl_status sl_gcs_list(struct sl_io_list *out, const char *spec, struct sl_err *err);
enum sl_status sl_gcs_check_dest(const char *dest, struct sl_err *err);
enum sl_status sl_gcs_put(const char *dest, const void *data, size_t len, const char *content_type,
                          struct sl_err *err);

#endif
