/* tracker.c - the tracker handle of track.h.
 *
 * Training only appends records to journal.jsonl (buffered; written to the
 * file at sl_tracker_commit, once an iteration). The fsync that follows
 * takes milliseconds, as long as a whole iteration on small data, so a
 * syncer thread does it, woken by the commit: a crashed process loses
 * nothing written, a crashed machine at most the iteration being synced.
 * A sender thread, started when a tracking URI is set, ships what the server
 * has not acknowledged (sender.c) and never blocks the training thread.
 * The syncer and the sender share no state, so each has its own mutex.
 *
 * Threads: the training thread owns the journal and every field below
 * without a comment; the syncer's flags are under sync_mu; sync_errno, the
 * one value the syncer hands back, is atomic. A journal that cannot be
 * written (a full disk) is one warning: tracking stops, training goes on,
 * and the journal keeps every whole record written before. */
#include "shardlearn/track.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shardlearn/log.h"
#include "track/http.h"
#include "track/journal.h"
#include "track/sender.h"

struct sl_tracker {
    struct sl_journal journal; /* written only by the training thread */
    char *uri;                 /* NULL: journal only */
    double flush_timeout;
    char *register_model;
    int has_model;      /* a "model/..." artifact was recorded */
    char **model_files; /* (n_model_files) the "model/..." artifact paths */
    int n_model_files;
    int finished;
    /* syncer: fsyncs the journal after each commit */
    pthread_t syncer;
    int syncer_started;
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_cv;
    int dirty;               /* committed, not yet fsync'd */
    int sync_closing;        /* the syncer exits */
    atomic_int sync_errno;   /* an fsync that failed, 0 when none */
    int stopped;             /* the journal failed: tracking stopped, said once */
    struct sl_sender sender; /* started when uri is set */
};

static void *syncer_main(void *arg) {
    struct sl_tracker *t = arg;
    sl_track_background_priority();
    pthread_mutex_lock(&t->sync_mu);
    for (;;) {
        while (!t->dirty && !t->sync_closing)
            pthread_cond_wait(&t->sync_cv, &t->sync_mu);
        if (!t->dirty) break;
        t->dirty = 0;
        pthread_mutex_unlock(&t->sync_mu);
        if (fsync(t->journal.fd) != 0) atomic_store(&t->sync_errno, errno);
        pthread_mutex_lock(&t->sync_mu);
    }
    pthread_mutex_unlock(&t->sync_mu);
    return NULL;
}

/* The tracker around an open journal: its threads, and the line saying where it is. */
static struct sl_tracker *tracker_start(const struct sl_journal *journal,
                                        const struct sl_track_config *cfg, int reopened) {
    const char *uri = cfg->journal_only ? NULL : sl_tracking_uri(cfg->tracking_uri);
    struct sl_tracker *t = sl_malloc(sizeof *t);
    *t = (struct sl_tracker){
        .journal = *journal,
        .uri = uri ? strdup(uri) : NULL,
        .flush_timeout = cfg->flush_timeout_s,
        .register_model = cfg->register_model ? strdup(cfg->register_model) : NULL,
    };
    pthread_mutex_init(&t->sync_mu, NULL);
    pthread_cond_init(&t->sync_cv, NULL);
    /* Without a syncer, commit fsyncs on the training thread itself. */
    t->syncer_started = pthread_create(&t->syncer, NULL, syncer_main, t) == 0;
    sl_tracker_commit(t);
    const char *dir = t->journal.dir;
    if (t->uri && sl_sender_start(&t->sender, dir, t->uri) != 0)
        sl_warn("tracking: cannot start the sender thread; the journal is kept in %s", dir);
    if (!cfg->quiet)
        sl_info(
            "tracking: %s %s%s", reopened ? "continuing run journal" : "run journal", dir,
            t->uri ? ""
                   : " (no tracking URI: journal only, deliver later with shardlearn mlflow-sync)");
    return t;
}

enum sl_status sl_tracker_create(struct sl_tracker **out, const struct sl_track_config *cfg,
                                 struct sl_err *err) {
    *out = NULL;
    struct sl_journal journal;
    enum sl_status st = sl_journal_create(&journal, cfg, err);
    if (st != SL_OK) return st;
    *out = tracker_start(&journal, cfg, 0);
    return SL_OK;
}

enum sl_status sl_tracker_reopen(struct sl_tracker **out, const struct sl_track_config *cfg,
                                 const char *run_dir, struct sl_track_resume *at, struct sl_err *err) {
    *out = NULL;
    struct sl_journal journal;
    enum sl_status st = sl_journal_reopen(&journal, run_dir, at, err);
    if (st != SL_OK) return st;
    *out = tracker_start(&journal, cfg, 1);
    return SL_OK;
}

const char *sl_tracker_run_dir(const struct sl_tracker *t) {
    return t ? t->journal.dir : NULL;
}

double sl_tracker_sender_cpu(struct sl_tracker *t) {
    return t ? sl_sender_cpu(&t->sender) : 0.0;
}

void sl_tracker_param(struct sl_tracker *t, const char *key, const char *value) {
    if (t) sl_journal_kv(&t->journal, "param", key, value);
}

void sl_tracker_tag(struct sl_tracker *t, const char *key, const char *value) {
    if (t) sl_journal_kv(&t->journal, "tag", key, value);
}

void sl_tracker_metric(struct sl_tracker *t, const char *key, double value, int64_t step,
                       int64_t ts_ms) {
    if (t) sl_journal_metric(&t->journal, key, value, step, ts_ms);
}

/* A "model/..." artifact: one of the logged model's files. */
static void note_model_file(struct sl_tracker *t, const char *artifact_path) {
    if (strncmp(artifact_path, "model/", 6) != 0) return;
    t->has_model = 1;
    t->model_files =
        sl_realloc(t->model_files, sizeof *t->model_files * (size_t)(t->n_model_files + 1));
    const size_t n = strlen(artifact_path) + 1;
    t->model_files[t->n_model_files] = sl_malloc(n); /* sl_malloc never returns NULL */
    memcpy(t->model_files[t->n_model_files++], artifact_path, n);
}

/* The run directory failed (errno e, writing file in it): one warning,
 * then tracking stops. The sender is let go at once: it has no finish
 * record to wait for. */
static void stop_tracking_at(struct sl_tracker *t, int e, const char *file) {
    if (t->stopped) return;
    t->stopped = 1;
    sl_journal_fail(&t->journal, e);
    sl_warn("tracking: cannot write %s/%s: %s; tracking stops here, training goes on "
            "(the journal keeps everything before; deliver it with: shardlearn mlflow-sync %s)",
            t->journal.dir, file, strerror(t->journal.failed), t->journal.dir);
    sl_sender_abandon(&t->sender);
}

static void stop_tracking(struct sl_tracker *t, int e) {
    stop_tracking_at(t, e, "journal.jsonl");
}

/* After a journal artifact call (r as it returns): the file is one of the
 * model's, or the run directory cannot be written (tracking stops). */
static void artifact_done(struct sl_tracker *t, int r, const char *artifact_path) {
    if (r == 0) {
        note_model_file(t, artifact_path);
    } else if (r > 0) {
        char file[PATH_MAX];
        snprintf(file, sizeof file, "artifacts/%s", artifact_path);
        stop_tracking_at(t, errno ? errno : EIO, file);
    }
}

void sl_tracker_commit(struct sl_tracker *t) {
    if (!t || t->stopped) return;
    int e = atomic_load(&t->sync_errno);
    if (!e && sl_journal_flush(&t->journal) != 0) e = t->journal.failed;
    if (!e && !t->syncer_started && fsync(t->journal.fd) != 0) e = errno;
    if (e) {
        stop_tracking(t, e);
        return;
    }
    pthread_mutex_lock(&t->sync_mu);
    t->dirty = 1;
    pthread_cond_signal(&t->sync_cv);
    pthread_mutex_unlock(&t->sync_mu);
    sl_sender_notify(&t->sender);
}

void sl_tracker_artifact(struct sl_tracker *t, const char *local_path, const char *artifact_path) {
    if (!t || t->stopped) return;
    const int r = sl_journal_artifact(&t->journal, local_path, artifact_path);
    artifact_done(t, r, artifact_path);
}

void sl_tracker_dataset(struct sl_tracker *t, const struct sl_track_dataset *d) {
    if (t && !t->stopped) sl_journal_input(&t->journal, d);
}

void sl_tracker_logged_model(struct sl_tracker *t, const char *name) {
    if (!t || t->stopped || !t->n_model_files) return;
    sl_journal_logged_model(&t->journal, name, (const char *const *)t->model_files,
                            t->n_model_files);
}

void sl_tracker_artifact_data(struct sl_tracker *t, const void *data, size_t len,
                              const char *artifact_path) {
    if (!t || t->stopped) return;
    const int r = sl_journal_artifact_data(&t->journal, data, len, artifact_path);
    artifact_done(t, r, artifact_path);
}

void sl_tracker_finish(struct sl_tracker *t, const char *status, const char *error_message) {
    if (!t || t->finished) return;
    t->finished = 1;
    if (error_message && *error_message)
        sl_journal_kv(&t->journal, "tag", "shardlearn.error", error_message);
    if (t->register_model && t->has_model && strcmp(status, "FINISHED") == 0)
        sl_journal_register(&t->journal, t->register_model);
    sl_journal_finish(&t->journal, status);
    sl_tracker_commit(t);
}

void sl_tracker_destroy(struct sl_tracker *t) {
    (void)sl_tracker_close(t);
}

int sl_tracker_close(struct sl_tracker *t) {
    if (!t) return 0;
    /* Everything on disk before waiting for the server. */
    if (!t->stopped && sl_journal_flush(&t->journal) != 0) stop_tracking(t, t->journal.failed);
    if (t->syncer_started) {
        pthread_mutex_lock(&t->sync_mu);
        t->sync_closing = 1;
        pthread_cond_signal(&t->sync_cv);
        pthread_mutex_unlock(&t->sync_mu);
        pthread_join(t->syncer, NULL);
    }
    sl_journal_close(&t->journal);
    const int delivered = sl_sender_close(&t->sender, t->flush_timeout);
    pthread_mutex_destroy(&t->sync_mu);
    pthread_cond_destroy(&t->sync_cv);
    free(t->uri);
    free(t->register_model);
    for (int i = 0; i < t->n_model_files; i++)
        free(t->model_files[i]);
    free(t->model_files);
    free(t);
    return delivered;
}
