/* deliver.c - ships a run journal to an MLflow tracking server over its REST
 * API, and `shardlearn mlflow-sync`.
 *
 * Delivery is exact: records go out in order, and after each request the
 * server accepted, state.json moves "acked" past them (written atomically).
 * The only uncertain window is a request the server took just before a
 * crash: state.json then still says "pending" for that range, and metric
 * points in it are checked against the server's history before being sent
 * again, so a point is never logged twice. Params and tags are idempotent;
 * the run itself is found again by its shardlearn.run_uuid tag. */
#include "track/deliver.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shardlearn/clock.h"
#include "shardlearn/log.h"
#include "shardlearn/track.h"
#include "track/api.h"
#include "track/batch.h"
#include "track/journal.h"
#include "track/json.h"
#include "track/key.h"
#include "track/state.h"

/* The connection outlives a delivery: libcurl keeps it open between the
 * sender's tries, so a run pays one TCP (and TLS) handshake, not one an
 * iteration. */
struct sl_mlflow_conn {
    struct sl_http h;
};

struct sl_mlflow_conn *sl_mlflow_conn_create(const char *tracking_uri) {
    struct sl_mlflow_conn *c = sl_calloc(1, sizeof *c);
    if (sl_http_init(&c->h, tracking_uri) != 0) {
        sl_http_free(&c->h);
        free(c);
        return NULL;
    }
    return c;
}

void sl_mlflow_conn_destroy(struct sl_mlflow_conn *c) {
    if (!c) return;
    sl_http_free(&c->h);
    free(c);
}

/* One delivery attempt: where it goes, what is acknowledged, and the
 * log-batch request being filled. */
struct delivery {
    struct sl_http *h;
    const char *run_dir;
    struct sl_sync_state *st;
    struct sl_batch b;
    char run_uuid[64]; /* the start record's, to find the run's logged model */
};

/* Waits out an unanswered request (see sl_api_note_unsettled), then finds
 * or creates the run. */
static enum sl_deliver open_run(struct sl_http *h, const cJSON *start, const char *run_dir,
                                struct sl_sync_state *st) {
    int64_t now = sl_now_ms();
    if (st->unsettled_until_ms > now) {
        snprintf(h->err, sizeof h->err, "waiting %.0fs for an unanswered request to settle",
                 1e-3 * (double)(st->unsettled_until_ms - now));
        return SL_DELIVER_RETRY;
    }
    st->unsettled_until_ms = 0;
    return sl_api_ensure_run(h, start, run_dir, st);
}

/* A param, tag or metric record [at, rec_end) of the journal: into the
 * batch, which is sent first when it has no room left. */
static enum sl_deliver add_entity(struct delivery *d, const char *type, const cJSON *rec,
                                  int64_t at, int64_t rec_end, size_t line_len) {
    enum sl_deliver r = SL_DELIVER_DONE;
    int skip = 0;
    /* Inside a window the server may already hold: check metrics. */
    if (!strcmp(type, "metric") && d->st->pending_to >= 0 && at < d->st->pending_to)
        r = sl_batch_on_server(d->h, &d->b, d->st->run_id, rec, &skip);
    if (r == SL_DELIVER_DONE && sl_batch_full_for(&d->b, type, line_len))
        r = sl_batch_send(d->h, &d->b, d->run_dir, d->st);
    if (r == SL_DELIVER_DONE) {
        d->b.model_id = d->st->model_id;
        if (!skip) sl_batch_add(&d->b, type, rec, line_len);
        d->b.end = rec_end;
    }
    return r;
}

static enum sl_deliver upload(struct delivery *d, const cJSON *rec) {
    const char *path = sl_jstr(rec, "path");
    if (!sl_artifact_path_ok(path)) { /* ../journal.jsonl, /dev/zero: never read it */
        sl_warn("tracking: %s/" SL_JOURNAL_FILE ": artifact path '%s' leaves the run's artifacts; "
                "skipped",
                d->run_dir, path ? path : "(none)");
        return SL_DELIVER_DONE;
    }
    char local[PATH_MAX * 2];
    sl_journal_artifact_file(d->run_dir, path, local, sizeof local);
    return sl_api_upload(d->h, d->st, d->run_dir, local, path);
}

/* An artifact, input, logged_model, register, finish or reopen record
 * ending at rec_end: acknowledged on its own, after everything before it. */
static enum sl_deliver send_alone(struct delivery *d, const char *type, const cJSON *rec,
                                  int64_t rec_end) {
    /* Everything before it first, in order. */
    enum sl_deliver r = sl_batch_send(d->h, &d->b, d->run_dir, d->st);
    if (r == SL_DELIVER_DONE && !strcmp(type, "artifact")) {
        r = upload(d, rec);
    } else if (r == SL_DELIVER_DONE && !strcmp(type, "input")) {
        r = sl_api_log_input(d->h, d->st, rec);
    } else if (r == SL_DELIVER_DONE && !strcmp(type, "logged_model")) {
        r = sl_api_logged_model(d->h, d->run_dir, d->st, rec, d->run_uuid);
    } else if (r == SL_DELIVER_DONE && !strcmp(type, "register")) {
        r = sl_api_register_model(d->h, d->run_dir, d->st, rec);
    } else if (r == SL_DELIVER_DONE && !strcmp(type, "reopen")) {
        r = sl_api_reopen_run(d->h, d->st);
        if (r == SL_DELIVER_DONE) d->st->finished_sent = 0;
    } else if (r == SL_DELIVER_DONE) {
        r = sl_api_finish_run(d->h, d->st, rec);
        if (r == SL_DELIVER_DONE) d->st->finished_sent = 1;
    }
    if (r == SL_DELIVER_DONE) {
        d->b.end = rec_end;
        d->st->acked = rec_end;
        if (sl_state_save(d->run_dir, d->st)) r = SL_DELIVER_RETRY;
    }
    return r;
}

static enum sl_deliver deliver_record(struct delivery *d, const cJSON *rec, int64_t at,
                                      int64_t rec_end, size_t line_len) {
    const char *type = sl_jstr(rec, "type");
    if (!type) type = "";
    if (!strcmp(type, "param") || !strcmp(type, "tag") || !strcmp(type, "metric"))
        return add_entity(d, type, rec, at, rec_end, line_len);
    if (!strcmp(type, "artifact") || !strcmp(type, "register") || !strcmp(type, "finish") ||
        !strcmp(type, "reopen") || !strcmp(type, "input") || !strcmp(type, "logged_model"))
        return send_alone(d, type, rec, rec_end);
    d->b.end = rec_end; /* the start record and anything unknown: nothing to send */
    return SL_DELIVER_DONE;
}

/* The complete lines tail (len bytes, from journal offset base), in order.
 * Offsets are absolute journal offsets. */
static enum sl_deliver deliver_lines(struct delivery *d, char *tail, size_t len, int64_t base) {
    enum sl_deliver r = SL_DELIVER_DONE;
    size_t pos = 0;
    while (r == SL_DELIVER_DONE && pos < len) {
        if (sl_http_stopped(d->h)) {
            snprintf(d->h->err, sizeof d->h->err, "stopped before the journal was delivered");
            return SL_DELIVER_RETRY;
        }
        char *nl = memchr(tail + pos, '\n', len - pos);
        size_t line_len = (size_t)(nl - (tail + pos));
        *nl = '\0';
        const int64_t at = base + (int64_t)pos, rec_end = at + (int64_t)line_len + 1;
        cJSON *rec = cJSON_Parse(tail + pos);
        if (!sl_jstr(rec, "type"))
            sl_warn("tracking: %s/" SL_JOURNAL_FILE ": the line at byte %lld is not a record "
                    "(damaged?); it is skipped",
                    d->run_dir, (long long)at);
        r = deliver_record(d, rec, at, rec_end, line_len);
        cJSON_Delete(rec);
        pos += line_len + 1;
    }
    return r;
}

enum sl_deliver sl_mlflow_deliver(struct sl_mlflow_conn *conn, const char *run_dir,
                                  struct sl_sync_state *st, const atomic_int *stop, double deadline,
                                  char *msg, size_t msg_len) {
    cJSON *start = sl_journal_read_start(run_dir);
    if (!start) {
        snprintf(msg, msg_len, "%s is not a shardlearn run journal", run_dir);
        return SL_DELIVER_REJECTED;
    }
    struct sl_http *h = &conn->h;
    h->stop = stop;
    h->deadline = deadline;
    h->err[0] = '\0';
    enum sl_deliver r = open_run(h, start, run_dir, st);
    /* Offsets below are absolute journal offsets; the tail starts at base. */
    const int64_t base = st->acked;
    size_t len = 0;
    char *tail = r == SL_DELIVER_DONE ? sl_journal_read_tail(run_dir, base, &len) : NULL;
    /* A resumed run's params, when params are still to be sent (they all
     * come at the start of a run, so this is asked once, not once a try). */
    cJSON *run_params = NULL;
    if (tail && sl_jstr(start, "resume_run_id") && strstr(tail, "\"type\":\"param\""))
        r = sl_api_resumed_params(h, st, &run_params);
    struct delivery d = {
        .h = h,
        .run_dir = run_dir,
        .st = st,
        .b = {.run_params = run_params, .end = base},
    };
    const char *uuid = sl_jstr(start, "run_uuid");
    snprintf(d.run_uuid, sizeof d.run_uuid, "%s", uuid ? uuid : "");
    cJSON_Delete(start);
    sl_batch_reset(&d.b, st->run_id);
    if (r == SL_DELIVER_DONE && tail) r = deliver_lines(&d, tail, len, base);
    if (r == SL_DELIVER_DONE) r = sl_batch_send(h, &d.b, run_dir, st);
    free(tail);
    sl_batch_free(&d.b);
    if (r != SL_DELIVER_DONE) snprintf(msg, msg_len, "%s", h->err);
    return r;
}

void sl_mlflow_load_state(const char *run_dir, struct sl_sync_state *st) {
    const enum sl_status ls = sl_state_load(run_dir, st);
    const int64_t size = sl_journal_size(run_dir);
    const char *why =
        ls == SL_ERR_PARSE ? "not JSON"
        : ls != SL_OK      ? "unreadable"
        : st->acked < 0 || st->acked > size || !sl_journal_at_line_end(run_dir, st->acked)
            ? "its offset does not fit the journal"
        : st->unsettled_until_ms > sl_now_ms() + 3600 * 1000 ? "a wait of more than an hour"
                                                             : NULL;
    if (!why || size < 0) return;
    sl_warn("tracking: %s/" SL_STATE_FILE " is damaged (%s); the journal is delivered again from "
            "its start (the run is found by its shardlearn.run_uuid tag, and no metric point "
            "goes to the server twice)",
            run_dir, why);
    sl_state_recover(st, size);
}

/* One run directory, without its children. quiet: no line when done, and
 * no end for a journal whose writer is gone (a child run of this process). */
static enum sl_status sync_one(const char *run_dir, const char *tracking_uri, double timeout_s,
                               int quiet, struct sl_err *err) {
    const char *uri = sl_tracking_uri(tracking_uri);
    if (!uri)
        return sl_err_set(err, SL_ERR_ARG,
                          "mlflow-sync needs --tracking-uri or MLFLOW_TRACKING_URI");
    const int ended = quiet ? 0 : sl_journal_end_abandoned(run_dir);
    if (ended > 0)
        sl_warn("mlflow-sync: %s ended without a finish record (its process was killed?); it is "
                "delivered as FAILED",
                run_dir);
    struct sl_sync_state st;
    sl_mlflow_load_state(run_dir, &st);
    int64_t before = st.acked;
    char msg[512] = "";
    double deadline = timeout_s > 0 ? sl_wtime() + timeout_s : 0;
    struct sl_mlflow_conn *conn = sl_mlflow_conn_create(uri);
    if (!conn) return sl_err_set(err, SL_ERR_NET, "mlflow-sync: cannot initialise libcurl");
    enum sl_deliver r = sl_mlflow_deliver(conn, run_dir, &st, NULL, deadline, msg, sizeof msg);
    /* Transient faults: again, with backoff, until the timeout; a try that
     * moved the journal forward starts the backoff over. */
    double wait = sl_mlflow_first_backoff();
    while (r == SL_DELIVER_RETRY && (deadline == 0 || sl_wtime() + wait < deadline)) {
        struct timespec ts = {.tv_sec = (time_t)wait,
                              .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9)};
        nanosleep(&ts, NULL);
        int64_t at = st.acked;
        r = sl_mlflow_deliver(conn, run_dir, &st, NULL, deadline, msg, sizeof msg);
        wait = st.acked > at ? sl_mlflow_first_backoff() : fmin(2 * wait, SL_MAX_BACKOFF);
    }
    sl_mlflow_conn_destroy(conn);
    if (r == SL_DELIVER_REJECTED)
        return sl_err_set(err, SL_ERR_NET, "mlflow-sync %s: %s", run_dir, msg);
    if (r == SL_DELIVER_RETRY)
        return sl_err_set(err, SL_ERR_NET, "mlflow-sync %s: %s (the journal is kept; run it again)",
                          run_dir, msg);
    if (!quiet)
        sl_info("mlflow-sync: run %s is up to date (%lld journal bytes delivered now)%s", st.run_id,
                (long long)(st.acked - before),
                st.finished_sent ? "" : "; the run is still going (its journal is being written)");
    return SL_OK;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* run_dir/children/'s run directories, sorted (their names start with the
 * UTC time, so in the order they were made). *n <- how many; free each and
 * the list. */
static char **child_dirs(const char *run_dir, int *n) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/children", run_dir);
    *n = 0;
    DIR *d = opendir(path);
    if (!d) return NULL;
    char **out = NULL;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        out = sl_realloc(out, (size_t)(*n + 1) * sizeof *out);
        const size_t len = strlen(path) + strlen(e->d_name) + 2;
        out[*n] = sl_malloc(len);
        snprintf(out[*n], len, "%s/%s", path, e->d_name);
        (*n)++;
    }
    closedir(d);
    if (*n) qsort(out, (size_t)*n, sizeof *out, by_name);
    return out;
}

enum sl_status sl_mlflow_sync(const char *run_dir, const char *tracking_uri, double timeout_s,
                              struct sl_err *err) {
    enum sl_status st = sync_one(run_dir, tracking_uri, timeout_s, 0, err);
    if (st) return st; /* a child needs its parent on the server first */
    int n = 0;
    char **kids = child_dirs(run_dir, &n);
    for (int i = 0; i < n; i++) {
        struct sl_err e;
        sl_err_clear(&e);
        enum sl_status cs = sl_mlflow_sync(kids[i], tracking_uri, timeout_s, &e);
        if (cs && !st) {
            st = cs;
            *err = e;
        }
        free(kids[i]);
    }
    free(kids);
    return st;
}

enum sl_status sl_mlflow_push(const char *run_dir, const char *tracking_uri, double timeout_s,
                              struct sl_err *err) {
    return sync_one(run_dir, tracking_uri, timeout_s, 1, err);
}
