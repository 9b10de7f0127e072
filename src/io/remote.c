/* remote.c - remote objects (gs://, http(s)://): listing, a stream over a
 * byte range, and uploads.
 *
 * The stream runs one libcurl transfer per connection through the multi
 * interface and pauses it whenever its buffer (SL_REMOTE_BUF bytes) is full,
 * so memory stays bounded and sl_io_read returns bytes while the rest is
 * still arriving. Every request carries "Range: bytes=pos-(end-1)" and is
 * pinned to the listed version (GCS: ifGenerationMatch; http(s): If-Match
 * with the ETag); the answer's own generation or ETag is checked too. A cut
 * connection is reopened from the next byte not yet received. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/remote.h"

#define SL_REMOTE_BUF (256 * 1024)   /* what a stream holds at most (plus one chunk) */
#define SL_REMOTE_CHUNK (128 * 1024) /* libcurl's receive buffer */

struct remote_stream {
    struct sl_io_stream base; /* first: io.c sees only this */
    struct sl_io_object obj;
    int64_t recv, end; /* next byte to receive; end of the range (exclusive) */
    CURLM *multi;
    CURL *easy;
    struct curl_slist *hdr;
    int running, paused;
    /* bytes received and not yet read: buf[off, len) */
    char *buf;
    size_t off, len, cap;
    /* the current answer */
    long code;
    int64_t skip;                     /* bytes to drop: a 200 answer starts at 0, not at recv */
    int checked;                      /* the answer's version and range were checked */
    char version_seen[SL_IO_TAG];     /* x-goog-generation or ETag of the answer */
    int64_t range_start, range_total; /* from Content-Range, -1 when none */
    int changed;                      /* the answer was of another version */
    char errbody[1024];               /* the start of an error answer's body */
    size_t errlen;
    int tries; /* failures since the last progress */
};

static void header_copy(const char *p, size_t n, size_t k, char *out, size_t cap) {
    const char *v = p + k, *e = p + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
        e--;
    size_t m = (size_t)(e - v) < cap - 1 ? (size_t)(e - v) : cap - 1;
    memcpy(out, v, m);
    out[m] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    struct remote_stream *s = ud;
    size_t len = size * n;
    char v[SL_IO_TAG];
    const char *gen_h = "x-goog-generation:", *etag_h = "etag:", *cr_h = "content-range:";
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        s->version_seen[0] = '\0';
        s->range_start = s->range_total = -1;
    } else if (s->obj.kind == SL_IO_GCS && len > strlen(gen_h) &&
               strncasecmp(p, gen_h, strlen(gen_h)) == 0) {
        header_copy(p, len, strlen(gen_h), s->version_seen, sizeof s->version_seen);
    } else if (s->obj.kind == SL_IO_HTTP && len > strlen(etag_h) &&
               strncasecmp(p, etag_h, strlen(etag_h)) == 0) {
        header_copy(p, len, strlen(etag_h), s->version_seen, sizeof s->version_seen);
    } else if (len > strlen(cr_h) && strncasecmp(p, cr_h, strlen(cr_h)) == 0) {
        header_copy(p, len, strlen(cr_h), v, sizeof v);
        long long a = -1, b = -1, t = -1;
        if (sscanf(v, "bytes %lld-%lld/%lld", &a, &b, &t) >= 1) s->range_start = a;
        s->range_total = t;
    }
    return len;
}

/* Checks the first bytes of an answer: its version, and where it starts. */
static void check_answer(struct remote_stream *s) {
    s->checked = 1;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->code);
    if (s->code != 200 && s->code != 206) return;
    if (s->version_seen[0]) {
        char want[SL_IO_TAG];
        if (s->obj.kind == SL_IO_GCS)
            snprintf(want, sizeof want, "%lld", (long long)s->obj.version);
        else
            snprintf(want, sizeof want, "%s", s->obj.tag);
        if (want[0] && strcmp(want, s->version_seen) != 0) s->changed = 1;
    }
    /* Without a version to compare (no ETag), a new size still shows. */
    if (s->code == 206 && s->range_total >= 0 && s->range_total != s->obj.size) s->changed = 1;
    /* 206 must start where asked; a 200 is the whole object from byte 0. */
    if (s->code == 206 && s->range_start != s->recv) s->changed = 2;
    s->skip = s->code == 200 ? s->recv : 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    struct remote_stream *s = ud;
    size_t len = size * n;
    if (!s->checked) check_answer(s);
    if (s->changed) return 0; /* ends the transfer: read() reports it */
    if (s->code != 200 && s->code != 206) {
        size_t room = sizeof s->errbody - 1 - s->errlen, m = len < room ? len : room;
        memcpy(s->errbody + s->errlen, p, m);
        s->errlen += m;
        s->errbody[s->errlen] = '\0';
        return len;
    }
    size_t skip = s->skip > 0 ? ((int64_t)len < s->skip ? len : (size_t)s->skip) : 0;
    int64_t want = s->end - s->recv;
    size_t take = len - skip;
    if ((int64_t)take > want) take = (size_t)want; /* a 200 runs past the range */
    if (s->len > 0 && s->len + take > s->cap) {
        s->paused = 1;
        return CURL_WRITEFUNC_PAUSE; /* libcurl hands the same bytes again on unpause */
    }
    if (take > s->cap) { /* never past one chunk of libcurl's */
        s->buf = sl_realloc(s->buf, take);
        s->cap = take;
    }
    memcpy(s->buf + s->len, p + skip, take);
    s->len += take;
    s->skip -= (int64_t)skip;
    s->recv += (int64_t)take;
    return len;
}

static void stop_transfer(struct remote_stream *s) {
    if (s->easy) {
        curl_multi_remove_handle(s->multi, s->easy);
        curl_easy_cleanup(s->easy);
    }
    curl_slist_free_all(s->hdr);
    s->easy = NULL;
    s->hdr = NULL;
    s->running = 0;
    s->paused = 0;
}

/* Starts a request for [recv, end). */
static enum sl_status start_transfer(struct remote_stream *s, struct sl_err *err) {
    char url[SL_IO_NAME + 512], line[SL_IO_TAG + 64];
    stop_transfer(s);
    if (s->obj.kind == SL_IO_GCS) {
        char auth[4200];
        enum sl_status st = sl_gcs_auth_header(s->obj.name, auth, sizeof auth, err);
        if (st) return st;
        if (auth[0]) s->hdr = curl_slist_append(s->hdr, auth);
        /* An object stored with Content-Encoding: gzip is otherwise served
         * decompressed, ignoring Range; this asks for the stored bytes (the
         * listed size), which libcurl passes on undecoded. */
        s->hdr = curl_slist_append(s->hdr, "Accept-Encoding: gzip");
        sl_gcs_media_url(&s->obj, url, sizeof url);
    } else {
        snprintf(url, sizeof url, "%s", s->obj.name);
        /* If-Match compares strongly: a weak ETag can only be checked on
         * the answer. */
        if (s->obj.tag[0] && strncmp(s->obj.tag, "W/", 2) != 0) {
            snprintf(line, sizeof line, "If-Match: %s", s->obj.tag);
            s->hdr = curl_slist_append(s->hdr, line);
        }
    }
    snprintf(line, sizeof line, "Range: bytes=%lld-%lld", (long long)s->recv,
             (long long)s->end - 1);
    s->hdr = curl_slist_append(s->hdr, line);
    s->easy = curl_easy_init();
    if (!s->easy) return sl_err_set(err, SL_ERR_IO, "%s: cannot start libcurl", s->obj.name);
    sl_net_setup(s->easy);
    /* HTTP/1.1: a paused HTTP/2 stream may go on buffering up to its flow
     * control window (32 MB in libcurl 7.88); over HTTP/1.1 a pause stops
     * reading the socket, and TCP holds the sender. */
    curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(s->easy, CURLOPT_BUFFERSIZE, (long)SL_REMOTE_CHUNK);
    curl_easy_setopt(s->easy, CURLOPT_URL, url);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->hdr);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s);
    s->code = 0;
    s->checked = s->changed = 0;
    s->skip = 0;
    s->errlen = 0;
    s->errbody[0] = '\0';
    if (curl_multi_add_handle(s->multi, s->easy) != CURLM_OK)
        return sl_err_set(err, SL_ERR_IO, "%s: cannot start libcurl", s->obj.name);
    s->running = 1;
    return SL_OK;
}

static enum sl_status changed_error(const struct remote_stream *s, struct sl_err *err) {
    if (s->changed == 2)
        return sl_err_set(err, SL_ERR_IO, "%s: the server answered another byte range than asked",
                          s->obj.name);
    return sl_err_set(err, SL_ERR_IO,
                      "%s: the object changed since it was listed (it was replaced while the job "
                      "ran); rerun on data that stays put",
                      s->obj.name);
}

/* The transfer ended (done with result rc) before the range was complete,
 * or with an HTTP error: decides between another try and an error. */
static enum sl_status after_end(struct remote_stream *s, CURLcode rc, int64_t recv_before,
                                struct sl_err *err) {
    if (s->changed) return changed_error(s, err);
    if (s->code == 412)
        return sl_err_set(err, SL_ERR_IO,
                          "%s: the object changed since it was listed (HTTP 412: its %s no longer "
                          "matches); rerun on data that stays put",
                          s->obj.name, s->obj.kind == SL_IO_GCS ? "generation" : "ETag");
    if (rc != CURLE_OK && !sl_net_transient_curl(rc))
        return sl_err_set(err, SL_ERR_IO, "%s: reading failed at byte %lld: %s", s->obj.name,
                          (long long)s->recv, curl_easy_strerror(rc));
    int transient = rc != CURLE_OK || sl_net_transient(s->code) || s->code == 200 ||
                    s->code == 206; /* 2xx cut short */
    if (!transient) {
        struct sl_net_resp r = {.code = s->code, .body = s->errbody, .len = s->errlen};
        if (s->code == 401 && s->obj.kind == SL_IO_GCS) sl_gcs_auth_forget();
        return sl_net_fail(&r, "reading", s->obj.name, err);
    }
    if (s->recv > recv_before) s->tries = 0; /* progress: a fresh count */
    if (++s->tries >= SL_NET_TRIES) {
        if (rc != CURLE_OK)
            return sl_err_set(err, SL_ERR_IO,
                              "%s: reading failed at byte %lld: %s (after %d tries)", s->obj.name,
                              (long long)s->recv, curl_easy_strerror(rc), SL_NET_TRIES);
        struct sl_net_resp r = {.code = s->code, .body = s->errbody, .len = s->errlen};
        return sl_net_fail(&r, "reading", s->obj.name, err);
    }
    if (s->recv == recv_before || s->tries > 1) sl_net_backoff(s->tries);
    return start_transfer(s, err);
}

/* Runs the transfer until bytes are buffered or the range is complete. */
static enum sl_status fill(struct remote_stream *s, struct sl_err *err) {
    int64_t recv_before = s->recv;
    while (s->len == s->off && s->recv < s->end) {
        if (!s->running) {
            enum sl_status st = start_transfer(s, err);
            if (st) return st;
            recv_before = s->recv;
        }
        if (s->paused) {
            s->paused = 0;
            curl_easy_pause(s->easy, CURLPAUSE_CONT); /* may deliver bytes at once */
        }
        int still = 0;
        CURLMcode mc = curl_multi_perform(s->multi, &still);
        if (mc != CURLM_OK)
            return sl_err_set(err, SL_ERR_IO, "%s: %s", s->obj.name, curl_multi_strerror(mc));
        int left = 0;
        CURLMsg *m = curl_multi_info_read(s->multi, &left);
        if (m && m->msg == CURLMSG_DONE) {
            CURLcode rc = m->data.result;
            if (!s->checked && rc == CURLE_OK) check_answer(s); /* an answer with no body */
            int complete = rc == CURLE_OK && s->recv == s->end && !s->changed &&
                           (s->code == 200 || s->code == 206);
            if (s->len > s->off && s->recv == s->end) complete = 1;
            stop_transfer(s);
            if (complete) break;
            enum sl_status st = after_end(s, rc, recv_before, err);
            if (st) return st;
            recv_before = s->recv;
            continue;
        }
        if (s->len == s->off && !s->paused) curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
    }
    return SL_OK;
}

static enum sl_status remote_read(struct sl_io_stream *base, void *buf, size_t cap, size_t *got,
                                  struct sl_err *err) {
    struct remote_stream *s = (struct remote_stream *)base;
    *got = 0;
    if (s->off == s->len) {
        s->off = s->len = 0;
        enum sl_status st = fill(s, err);
        if (st) return st;
    }
    size_t n = s->len - s->off < cap ? s->len - s->off : cap;
    memcpy(buf, s->buf + s->off, n);
    s->off += n;
    *got = n;
    return SL_OK;
}

static void remote_close(struct sl_io_stream *base) {
    struct remote_stream *s = (struct remote_stream *)base;
    if (!s) return;
    stop_transfer(s);
    curl_multi_cleanup(s->multi);
    free(s->buf);
    free(s);
}

static const struct sl_io_stream_ops remote_ops = {.read = remote_read, .close = remote_close};

enum sl_status sl_remote_open_range(struct sl_io_stream **out, const struct sl_io_object *o,
                                    int64_t begin, int64_t end, struct sl_err *err) {
    *out = NULL;
    if (begin < 0 || end < begin || end > o->size)
        return sl_err_set(err, SL_ERR_ARG,
                          "%s: byte range [%lld, %lld) is outside the object (%lld bytes)", o->name,
                          (long long)begin, (long long)end, (long long)o->size);
    sl_net_global_init();
    struct remote_stream *s = sl_calloc(1, sizeof *s);
    s->base.ops = &remote_ops;
    s->obj = *o;
    s->recv = begin;
    s->end = end;
    s->range_start = -1;
    s->cap = SL_REMOTE_BUF;
    s->buf = sl_malloc(s->cap);
    s->multi = curl_multi_init();
    if (!s->multi) {
        remote_close(&s->base);
        return sl_err_set(err, SL_ERR_IO, "%s: cannot start libcurl", o->name);
    }
    /* The first request goes out now, so a missing object or a refused
     * credential shows at open. */
    enum sl_status st = begin < end ? fill(s, err) : SL_OK;
    if (st) {
        remote_close(&s->base);
        return st;
    }
    *out = &s->base;
    return SL_OK;
}

/* An http(s) URL as one object: HEAD for its size and ETag (a GET of byte
 * 0 when the server does not answer HEAD). */
static enum sl_status http_list(struct sl_io_list *out, const char *spec, struct sl_err *err) {
    if (strlen(spec) >= SL_IO_NAME)
        return sl_err_set(err, SL_ERR_ARG, "%.200s...: URL too long", spec);
    const char *host = strstr(spec, "://") + 3;
    const size_t hostlen = strcspn(host, "/?#");
    /* The name is shown in messages and passed to every rank: a credential
     * in it (user:password@, a signed query) would leak there. Named in the
     * error by scheme and host only. */
    const char *at = memchr(host, '@', hostlen);
    if (at || strpbrk(spec, "?#")) {
        const char *h = at ? at + 1 : host;
        return sl_err_set(err, SL_ERR_ARG,
                          "%.*s%.*s/...: URLs with a query string or user:password are not "
                          "supported (they may hold credentials)",
                          (int)(host - spec), spec, (int)(host + hostlen - h), h);
    }
    struct sl_net_req rq = {.method = "HEAD", .url = spec, .shown = spec};
    struct sl_net_resp r = {0};
    enum sl_status st = sl_net_request(&rq, &r, err);
    if (!st && (r.code == 405 || r.code == 501)) {
        struct curl_slist *h = curl_slist_append(NULL, "Range: bytes=0-0");
        rq = (struct sl_net_req){.method = "GET", .url = spec, .shown = spec, .headers = h};
        st = sl_net_request(&rq, &r, err);
        curl_slist_free_all(h);
        if (!st && r.code == 206) r.content_length = r.range_total;
    }
    if (!st && r.code != 200 && r.code != 206) st = sl_net_fail(&r, "reading the size", spec, err);
    if (!st && r.content_length < 0)
        st = sl_err_set(err, SL_ERR_IO, "%s: the server tells no size (Content-Length)", spec);
    if (!st) {
        out->obj = sl_calloc(1, sizeof *out->obj);
        out->n = 1;
        struct sl_io_object *o = &out->obj[0];
        snprintf(o->name, sizeof o->name, "%s", spec);
        o->kind = SL_IO_HTTP;
        size_t n = strlen(spec);
        o->codec = n > 3 && strcmp(spec + n - 3, ".gz") == 0    ? SL_CODEC_GZIP
                   : n > 4 && strcmp(spec + n - 4, ".zst") == 0 ? SL_CODEC_ZSTD
                                                                : SL_CODEC_NONE;
        o->size = r.content_length;
        snprintf(o->tag, sizeof o->tag, "%s", r.etag);
    }
    sl_net_resp_free(&r);
    return st;
}

enum sl_status sl_remote_list(struct sl_io_list *out, const char *spec, struct sl_err *err) {
    *out = (struct sl_io_list){0};
    if (strncmp(spec, "gs://", 5) == 0) return sl_gcs_list(out, spec, err);
    if (strncmp(spec, "http://", 7) == 0 || strncmp(spec, "https://", 8) == 0)
        return http_list(out, spec, err);
    return sl_err_set(err, SL_ERR_ARG, "%s: not a gs:// or http(s):// URL", spec);
}

enum sl_status sl_remote_put(const char *dest, const void *data, size_t len,
                             const char *content_type, struct sl_err *err) {
    if (strncmp(dest, "gs://", 5) == 0) return sl_gcs_put(dest, data, len, content_type, err);
    return sl_err_set(err, SL_ERR_ARG, "%s: outputs can be written to gs:// (not to http(s))",
                      dest);
}

enum sl_status sl_remote_check_dest(const char *dest, struct sl_err *err) {
    if (strncmp(dest, "gs://", 5) == 0) return sl_gcs_check_dest(dest, err);
    return sl_err_set(err, SL_ERR_ARG, "%s: outputs can be written to gs:// (not to http(s))",
                      dest);
}
