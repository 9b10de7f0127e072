/* preempt.c - rank 0's watcher of Compute Engine's preemption notice
 * (preempt.h). One thread, its own curl handles; no MPI. */
#include "cli/preempt.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shardlearn/log.h"

enum {
    POLL_TIMEOUT_SEC = 60, /* the server holds a request at most this long */
    MAX_BACKOFF_SEC = 30,
};

struct sl_preempt_watch {
    pthread_t th;
    CURLM *multi; /* the thread's; curl_multi_wakeup from the stopping thread */
    atomic_int stop, noticed;
    volatile sig_atomic_t *flag;
    int value;
    char host[256];
};

/* One answer: the body (only its start matters) and the ETag header. */
struct reply {
    char body[64];
    size_t n;
    char etag[128];
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
    struct reply *r = ud;
    const size_t len = size * nmemb;
    const size_t room = sizeof r->body - 1 - r->n;
    const size_t take = len < room ? len : room;
    memcpy(r->body + r->n, p, take);
    r->n += take;
    r->body[r->n] = '\0';
    return len;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
    struct reply *r = ud;
    const size_t len = size * nmemb;
    if (len > 5 && strncasecmp(p, "ETag:", 5) == 0) {
        size_t i = 5, j = len;
        while (i < j && (p[i] == ' ' || p[i] == '\t'))
            i++;
        while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' '))
            j--;
        const size_t n = j - i < sizeof r->etag - 1 ? j - i : sizeof r->etag - 1;
        memcpy(r->etag, p + i, n);
        r->etag[n] = '\0';
    }
    return len;
}

/* Waits up to ms, or until sl_preempt_watch_stop wakes the multi handle. */
static void pause_ms(struct sl_preempt_watch *w, int ms) {
    if (!atomic_load(&w->stop)) curl_multi_poll(w->multi, NULL, 0, ms, NULL);
}

/* One long poll for the value after `etag`. *http: the status (0 when no
 * answer). Returns curl's code; CURLE_ABORTED_BY_CALLBACK when stopped. */
static CURLcode poll_once(struct sl_preempt_watch *w, const char *etag, struct reply *r,
                          long *http) {
    memset(r, 0, sizeof *r);
    *http = 0;
    CURL *e = curl_easy_init();
    if (!e) return CURLE_OUT_OF_MEMORY;
    char *tag = curl_easy_escape(e, etag, 0);
    char url[768];
    snprintf(url, sizeof url,
             "http://%s/computeMetadata/v1/instance/preempted?wait_for_change=true"
             "&timeout_sec=%d&last_etag=%s",
             w->host, (int)POLL_TIMEOUT_SEC, tag ? tag : "0");
    curl_free(tag);
    struct curl_slist *hdr = curl_slist_append(NULL, "Metadata-Flavor: Google");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* the metadata server is never behind a proxy */
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 3L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)POLL_TIMEOUT_SEC + 10L);
    CURLcode rc = CURLE_ABORTED_BY_CALLBACK;
    curl_multi_add_handle(w->multi, e);
    int running = 1;
    while (running && !atomic_load(&w->stop)) {
        if (curl_multi_perform(w->multi, &running) != CURLM_OK) break;
        if (running) curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
    }
    int left = 0;
    for (CURLMsg *m = curl_multi_info_read(w->multi, &left); m;
         m = curl_multi_info_read(w->multi, &left))
        if (m->msg == CURLMSG_DONE && m->easy_handle == e) rc = m->data.result;
    if (rc == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, http);
    curl_multi_remove_handle(w->multi, e);
    curl_easy_cleanup(e);
    curl_slist_free_all(hdr);
    return rc;
}

static int is_true(const char *body) {
    size_t n = strlen(body);
    while (n > 0 && (body[n - 1] == '\n' || body[n - 1] == '\r' || body[n - 1] == ' '))
        n--;
    return n == 4 && strncmp(body, "TRUE", 4) == 0;
}

/* The thread: long polls until TRUE, a stop, or a server that never answered.
 * Once the server has answered, errors are retried with backoff (1 s
 * doubling to 30 s) and warned about once per streak. */
static void *watch_main(void *arg) {
    struct sl_preempt_watch *w = arg;
    /* "0" matches no ETag: the first answer is the current value at once. */
    char etag[128] = "0";
    int answered = 0, warned = 0, backoff = 1;
    while (!atomic_load(&w->stop)) {
        struct reply r;
        long http = 0;
        CURLcode rc = poll_once(w, etag, &r, &http);
        if (atomic_load(&w->stop)) break;
        if (rc == CURLE_OK && http == 200) {
            answered = 1;
            warned = 0;
            backoff = 1;
            if (is_true(r.body)) {
                sl_info("preemption notice from the metadata server: checkpointing");
                atomic_store(&w->noticed, 1);
                *w->flag = (sig_atomic_t)w->value; /* read by the training thread as a signal's */
                break;
            }
            /* The ETag we sent (the hold timed out, or a server that does not
             * hold requests) or none: at most one poll a second. */
            if (!r.etag[0] || strcmp(r.etag, etag) == 0) pause_ms(w, 1000);
            if (r.etag[0]) memcpy(etag, r.etag, sizeof etag);
            continue;
        }
        char why[160];
        if (rc != CURLE_OK)
            snprintf(why, sizeof why, "%s", curl_easy_strerror(rc));
        else
            snprintf(why, sizeof why, "HTTP %ld", http);
        if (!answered) {
            sl_warn("--watch-preemption: no metadata server at %s (%s): not watching for "
                    "preemption",
                    w->host, why);
            break;
        }
        if (!warned)
            sl_warn("--watch-preemption: metadata server at %s: %s; retrying", w->host, why);
        warned = 1;
        pause_ms(w, backoff * 1000);
        backoff = backoff * 2 > MAX_BACKOFF_SEC ? MAX_BACKOFF_SEC : backoff * 2;
    }
    return NULL;
}

struct sl_preempt_watch *sl_preempt_watch_start(volatile sig_atomic_t *flag, int value) {
    struct sl_preempt_watch *w = calloc(1, sizeof *w);
    if (!w || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(w);
        sl_warn("--watch-preemption: out of memory: not watching for preemption");
        return NULL;
    }
    const char *host = getenv("GCE_METADATA_HOST");
    snprintf(w->host, sizeof w->host, "%s", host && *host ? host : "metadata.google.internal");
    w->flag = flag;
    w->value = value;
    atomic_init(&w->stop, 0);
    atomic_init(&w->noticed, 0);
    w->multi = curl_multi_init();
    if (!w->multi || pthread_create(&w->th, NULL, watch_main, w) != 0) {
        sl_warn("--watch-preemption: cannot start the watcher: not watching for preemption");
        if (w->multi) curl_multi_cleanup(w->multi);
        curl_global_cleanup();
        free(w);
        return NULL;
    }
    return w;
}

int sl_preempt_noticed(const struct sl_preempt_watch *w) {
    return w && atomic_load(&w->noticed);
}

void sl_preempt_watch_stop(struct sl_preempt_watch *w) {
    if (!w) return;
    atomic_store(&w->stop, 1);
    curl_multi_wakeup(w->multi);
    pthread_join(w->th, NULL);
    curl_multi_cleanup(w->multi);
    curl_global_cleanup();
    free(w);
}
