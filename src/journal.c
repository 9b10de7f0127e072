/* journal.c - the run journal and the tracker handle of track.h.
 *
 * Training only appends records to journal.jsonl (buffered; written to the
 * file at sl_tracker_commit, once an iteration). The fsync that follows
 * takes milliseconds, as long as a whole iteration on small data, so a
 * syncer thread does it, woken by the commit: a crashed process loses
 * nothing written, a crashed machine at most the iteration being synced.
 * A sender thread, started when a tracking URI is set, ships what the server
 * has not acknowledged (mlflow.c) and never blocks the training thread: the
 * threads share only mutex-protected flags, and the sender reads the journal
 * file itself, complete lines only. */
#define _GNU_SOURCE /* SCHED_BATCH, gettid: background threads yield to training */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shardlearn/log.h"
#include "shardlearn/track.h"
#include "track_internal.h"

struct sl_tracker {
    char dir[PATH_MAX];
    FILE *f;              /* journal.jsonl, append; written only by the training thread */
    int fd;               /* fileno(f), fsync'd by the syncer */
    int64_t seq;
    char *uri;            /* NULL: journal only */
    double flush_timeout;
    char *register_model;
    int has_model;        /* a "model/..." artifact was recorded */
    int finished;
    /* syncer: fsyncs the journal after each commit */
    pthread_t syncer;
    int syncer_started;
    pthread_cond_t sync_cv;
    int dirty;            /* committed, not yet fsync'd */
    int sync_closing;     /* the syncer exits */
    /* sender */
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int wake;             /* new records committed */
    int closing;          /* training is over: deliver what is left, then exit */
    volatile int stop;    /* give up now (flush timeout passed) */
    int done;             /* the sender delivered everything including the finish record */
    int warned;           /* a rejection was reported */
    double sender_cpu;    /* CPU seconds of the sender thread, under mu */
};

int64_t sl_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *sl_tracking_uri(const char *arg) {
    if (arg && *arg) return arg;
    const char *e = getenv("MLFLOW_TRACKING_URI");
    return e && *e ? e : NULL;
}

static int mkdir_p(const char *path) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* MLflow keys: alphanumerics, _ - . space : / ; anything else becomes '_'. */
static void sanitize_key(const char *in, char *out, size_t cap) {
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++) {
        char ch = in[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '-' || ch == '.' || ch == ' ' || ch == ':' || ch == '/';
        out[i] = ok ? ch : '_';
    }
    out[i] = '\0';
}

/* Appends one record; the caller commits at iteration boundaries. */
static void append(struct sl_tracker *t, cJSON *rec) {
    cJSON_AddNumberToObject(rec, "seq", (double)++t->seq);
    char *line = cJSON_PrintUnformatted(rec);
    if (line) {
        fputs(line, t->f);
        fputc('\n', t->f);
        cJSON_free(line);
    }
    cJSON_Delete(rec);
}

static cJSON *record(const char *type) {
    cJSON *r = cJSON_CreateObject();
    SL_ASSERT(r != NULL);
    cJSON_AddStringToObject(r, "type", type);
    return r;
}

/* The commit at the head of a git checkout containing the working directory. */
static int git_commit(char *out, size_t cap) {
    char dir[PATH_MAX], path[PATH_MAX + 64], line[512];
    if (!getcwd(dir, sizeof dir)) return 0;
    for (;;) {
        snprintf(path, sizeof path, "%s/.git/HEAD", dir);
        FILE *f = fopen(path, "r");
        if (f) {
            int ok = fgets(line, sizeof line, f) != NULL;
            fclose(f);
            if (!ok) return 0;
            line[strcspn(line, "\r\n")] = '\0';
            if (strncmp(line, "ref: ", 5) != 0) {
                snprintf(out, cap, "%s", line);
                return 1;
            }
            snprintf(path, sizeof path, "%s/.git/%s", dir, line + 5);
            f = fopen(path, "r");
            if (f) {
                ok = fgets(out, (int)cap, f) != NULL;
                fclose(f);
                out[strcspn(out, "\r\n")] = '\0';
                return ok;
            }
            /* A packed ref: "<sha> <ref>" lines in .git/packed-refs. */
            char ref[512];
            snprintf(ref, sizeof ref, "%s", line + 5);
            snprintf(path, sizeof path, "%s/.git/packed-refs", dir);
            f = fopen(path, "r");
            if (!f) return 0;
            while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\r\n")] = '\0';
                char *sp = strchr(line, ' ');
                if (sp && strcmp(sp + 1, ref) == 0) {
                    *sp = '\0';
                    snprintf(out, cap, "%s", line);
                    fclose(f);
                    return 1;
                }
            }
            fclose(f);
            return 0;
        }
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) return 0;
        *slash = '\0';
    }
}

static void random_hex(char *out, size_t nbytes) {
    unsigned char b[32] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(b, 1, nbytes, f) : 0;
    if (f) fclose(f);
    if (got != nbytes) { /* no urandom: time and pid still make it unique enough */
        uint64_t x = (uint64_t)sl_now_ms() * 6364136223846793005ull + (uint64_t)getpid();
        for (size_t i = 0; i < nbytes; i++, x = x * 6364136223846793005ull + 1442695040888963407ull)
            b[i] = (unsigned char)(x >> 56);
    }
    for (size_t i = 0; i < nbytes; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

static void *sender_main(void *arg);

/* The syncer and the sender run beside ranks that keep every core busy.
 * Woken at normal priority they preempt the training thread that woke them
 * (measured: ~0.7 ms an iteration); as batch threads at a lower priority
 * they take no wake-up preemption and only a small share of a busy core. */
static void background_priority(void) {
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
}

static void *syncer_main(void *arg) {
    struct sl_tracker *t = arg;
    background_priority();
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (!t->dirty && !t->sync_closing) pthread_cond_wait(&t->sync_cv, &t->mu);
        if (!t->dirty) break;
        t->dirty = 0;
        pthread_mutex_unlock(&t->mu);
        fsync(t->fd);
        pthread_mutex_lock(&t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

enum sl_status sl_tracker_create(struct sl_tracker **out, const struct sl_track_config *cfg,
                                 struct sl_err *err) {
    *out = NULL;
    struct sl_tracker *t = sl_calloc(1, sizeof *t);
    const char *base = cfg->tracking_dir ? cfg->tracking_dir : "shardlearn-runs";
    char stamp[32], uuid[33];
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tmv);
    random_hex(uuid, 16);
    snprintf(t->dir, sizeof t->dir, "%s/%s-%.8s", base, stamp, uuid);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/artifacts", t->dir);
    if (mkdir_p(path) != 0) {
        enum sl_status st = sl_err_set(err, SL_ERR_IO, "%s: %s", t->dir, strerror(errno));
        free(t);
        return st;
    }
    snprintf(path, sizeof path, "%s/" SL_JOURNAL_FILE, t->dir);
    t->f = fopen(path, "a");
    if (!t->f) {
        enum sl_status st = sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
        free(t);
        return st;
    }
    t->fd = fileno(t->f);
    const char *uri = sl_tracking_uri(cfg->tracking_uri);
    t->uri = uri ? strdup(uri) : NULL;
    t->flush_timeout = cfg->flush_timeout_s;
    t->register_model = cfg->register_model ? strdup(cfg->register_model) : NULL;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    pthread_cond_init(&t->sync_cv, NULL);
    /* Without a syncer, commit fsyncs on the training thread itself. */
    t->syncer_started = pthread_create(&t->syncer, NULL, syncer_main, t) == 0;

    /* The start record: everything needed to create the run later. */
    cJSON *r = record("start");
    cJSON_AddStringToObject(r, "run_uuid", uuid);
    cJSON_AddNumberToObject(r, "start_time", (double)sl_now_ms());
    const char *exp_name = cfg->experiment_name ? cfg->experiment_name : getenv("MLFLOW_EXPERIMENT_NAME");
    const char *exp_id = getenv("MLFLOW_EXPERIMENT_ID");
    if (exp_name && *exp_name) cJSON_AddStringToObject(r, "experiment_name", exp_name);
    else if (exp_id && *exp_id) cJSON_AddStringToObject(r, "experiment_id", exp_id);
    else cJSON_AddStringToObject(r, "experiment_id", "0"); /* MLflow's Default experiment */
    const char *resume = getenv("MLFLOW_RUN_ID");
    if (resume && *resume) cJSON_AddStringToObject(r, "resume_run_id", resume);
    /* A resumed run keeps its name unless one is given. */
    char run_name[256] = "";
    if (cfg->run_name) snprintf(run_name, sizeof run_name, "%s", cfg->run_name);
    else if (!(resume && *resume)) snprintf(run_name, sizeof run_name, "shardlearn-%s", stamp);
    if (run_name[0]) cJSON_AddStringToObject(r, "run_name", run_name);
    append(t, r);

    const char *user = getenv("USER");
    struct passwd *pw = user ? NULL : getpwuid(getuid());
    char exe[PATH_MAX] = "shardlearn", commit[128];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) exe[k] = '\0';
    if (run_name[0]) sl_tracker_tag(t, "mlflow.runName", run_name);
    sl_tracker_tag(t, "mlflow.user", user ? user : (pw ? pw->pw_name : "unknown"));
    sl_tracker_tag(t, "mlflow.source.name", exe);
    sl_tracker_tag(t, "mlflow.source.type", "LOCAL");
    if (git_commit(commit, sizeof commit)) sl_tracker_tag(t, "mlflow.source.git.commit", commit);
    sl_tracker_tag(t, "shardlearn.run_uuid", uuid);
    sl_tracker_commit(t);

    if (t->uri) {
        if (pthread_create(&t->thread, NULL, sender_main, t) == 0) t->thread_started = 1;
        else sl_warn("tracking: cannot start the sender thread; the journal is kept in %s", t->dir);
    }
    sl_info("tracking: run journal %s%s", t->dir, t->uri ? "" : " (no tracking URI: journal only, deliver later with shardlearn mlflow-sync)");
    *out = t;
    return SL_OK;
}

const char *sl_tracker_dir(const struct sl_tracker *t) { return t->dir; }

double sl_tracker_sender_cpu(struct sl_tracker *t) {
    if (!t || !t->thread_started) return 0.0;
    pthread_mutex_lock(&t->mu);
    double s = t->sender_cpu;
    pthread_mutex_unlock(&t->mu);
    return s;
}

static void kv_record(struct sl_tracker *t, const char *type, const char *key, const char *value) {
    if (!t) return;
    char k[256];
    sanitize_key(key, k, sizeof k);
    cJSON *r = record(type);
    cJSON_AddStringToObject(r, "key", k);
    cJSON_AddStringToObject(r, "value", value ? value : "");
    append(t, r);
}

void sl_tracker_param(struct sl_tracker *t, const char *key, const char *value) {
    kv_record(t, "param", key, value);
}

void sl_tracker_tag(struct sl_tracker *t, const char *key, const char *value) {
    kv_record(t, "tag", key, value);
}

void sl_tracker_metric(struct sl_tracker *t, const char *key, double value, int64_t step,
                       int64_t ts_ms) {
    if (!t) return;
    char k[256];
    sanitize_key(key, k, sizeof k);
    cJSON *r = record("metric");
    cJSON_AddStringToObject(r, "key", k);
    /* JSON has no NaN/Inf; MLflow takes them as these strings. */
    if (isnan(value)) cJSON_AddStringToObject(r, "value", "NaN");
    else if (isinf(value)) cJSON_AddStringToObject(r, "value", value > 0 ? "Infinity" : "-Infinity");
    else {
        /* cJSON prints 15 digits and accepts them if they round-trip within an
         * epsilon; a metric must keep every bit, so print it ourselves. */
        char num[32];
        snprintf(num, sizeof num, "%.17g", value);
        cJSON_AddRawToObject(r, "value", num);
    }
    cJSON_AddNumberToObject(r, "step", (double)step);
    cJSON_AddNumberToObject(r, "timestamp", (double)ts_ms);
    append(t, r);
}

void sl_tracker_commit(struct sl_tracker *t) {
    if (!t) return;
    fflush(t->f);
    if (!t->syncer_started) fsync(t->fd);
    pthread_mutex_lock(&t->mu);
    t->dirty = 1;
    pthread_cond_signal(&t->sync_cv);
    t->wake = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb");
    if (!in) return -1;
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", to);
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        fclose(in);
        return -1;
    }
    char buf[1 << 16];
    size_t k;
    int bad = 0;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0) bad |= fwrite(buf, 1, k, out) != k;
    bad |= ferror(in);
    fclose(in);
    bad |= fflush(out) != 0 || fsync(fileno(out)) != 0;
    bad |= fclose(out) != 0;
    if (bad || rename(tmp, to) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

void sl_tracker_artifact(struct sl_tracker *t, const char *local_path, const char *artifact_path) {
    if (!t) return;
    /* A copy in the run directory, so a later mlflow-sync still has it. */
    char dst[PATH_MAX * 2], dir[PATH_MAX * 2];
    snprintf(dst, sizeof dst, "%s/artifacts/%s", t->dir, artifact_path);
    snprintf(dir, sizeof dir, "%s", dst);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    if (mkdir_p(dir) != 0 || copy_file(local_path, dst) != 0) {
        sl_warn("tracking: cannot copy %s into %s: %s", local_path, t->dir, strerror(errno));
        return;
    }
    cJSON *r = record("artifact");
    cJSON_AddStringToObject(r, "path", artifact_path);
    append(t, r);
    if (strncmp(artifact_path, "model/", 6) == 0) t->has_model = 1;
}

void sl_tracker_finish(struct sl_tracker *t, const char *status, const char *error_message) {
    if (!t || t->finished) return;
    t->finished = 1;
    if (error_message && *error_message) sl_tracker_tag(t, "shardlearn.error", error_message);
    if (t->register_model && t->has_model && strcmp(status, "FINISHED") == 0) {
        cJSON *r = record("register");
        cJSON_AddStringToObject(r, "name", t->register_model);
        cJSON_AddStringToObject(r, "artifact_path", "model");
        append(t, r);
    }
    cJSON *r = record("finish");
    cJSON_AddStringToObject(r, "status", status);
    cJSON_AddNumberToObject(r, "end_time", (double)sl_now_ms());
    append(t, r);
    sl_tracker_commit(t);
}

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Waits on the condition for at most `seconds` (or until woken). */
static void wait_for(struct sl_tracker *t, double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double at = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec + seconds;
    ts.tv_sec = (time_t)at;
    ts.tv_nsec = (long)((at - (double)ts.tv_sec) * 1e9);
    pthread_cond_timedwait(&t->cv, &t->mu, &ts);
}

static void *sender_main(void *arg) {
    struct sl_tracker *t = arg;
    background_priority();
    struct sl_sync_state st;
    const double first = sl_mlflow_first_backoff();
    double backoff = first;
    sl_state_load(t->dir, &st);
    struct sl_mlflow_conn *conn = sl_mlflow_conn_create(t->uri);
    if (!conn) {
        sl_warn("tracking: cannot initialise libcurl; the run stays in %s (deliver later with "
                "shardlearn mlflow-sync)", t->dir);
        pthread_mutex_lock(&t->mu);
        t->warned = 1;
        pthread_cond_broadcast(&t->cv);
        pthread_mutex_unlock(&t->mu);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&t->mu);
        while (!t->wake && !t->closing && !t->stop) wait_for(t, 1.0);
        t->wake = 0;
        int closing = t->closing;
        pthread_mutex_unlock(&t->mu);
        if (t->stop) break;
        char msg[512] = "";
        int64_t acked = st.acked;
        enum sl_deliver r = sl_mlflow_deliver(conn, t->dir, &st, &t->stop, 0, msg, sizeof msg);
        struct timespec cpu;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
        pthread_mutex_lock(&t->mu);
        t->sender_cpu = (double)cpu.tv_sec + 1e-9 * (double)cpu.tv_nsec;
        pthread_mutex_unlock(&t->mu);
        if (r == SL_DELIVER_DONE) {
            backoff = first;
            if (closing && st.finished_sent) {
                pthread_mutex_lock(&t->mu);
                t->done = 1;
                pthread_cond_broadcast(&t->cv);
                pthread_mutex_unlock(&t->mu);
                break;
            }
            continue;
        }
        if (r == SL_DELIVER_REJECTED) {
            /* Reported once; the journal keeps everything for mlflow-sync. */
            if (!t->warned) sl_warn("tracking: %s; the run stays in %s (deliver later with shardlearn mlflow-sync)", msg, t->dir);
            t->warned = 1;
            break;
        }
        /* Transient: wait out the backoff, then try again, until training is
         * over and the flush timeout is spent (destroy sets stop). New
         * records do not cut the wait short - a struggling server is not
         * hammered once an iteration - but the end of training does. A try
         * that moved the journal forward starts the backoff over. */
        if (st.acked > acked) backoff = first;
        pthread_mutex_lock(&t->mu);
        const double until = mono_now() + backoff;
        backoff = fmin(2 * backoff, SL_MAX_BACKOFF);
        while (!t->stop && t->closing == closing && mono_now() < until) wait_for(t, until - mono_now());
        pthread_mutex_unlock(&t->mu);
    }
    sl_mlflow_conn_destroy(conn);
    pthread_mutex_lock(&t->mu);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

void sl_tracker_destroy(struct sl_tracker *t) {
    if (!t) return;
    /* Everything on disk before waiting for the server. */
    fflush(t->f);
    if (t->syncer_started) {
        pthread_mutex_lock(&t->mu);
        t->sync_closing = 1;
        pthread_cond_signal(&t->sync_cv);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->syncer, NULL);
    }
    fsync(t->fd);
    fclose(t->f);
    if (t->thread_started) {
        double deadline = mono_now() + t->flush_timeout;
        pthread_mutex_lock(&t->mu);
        t->closing = 1;
        pthread_cond_broadcast(&t->cv);
        while (!t->done && !t->warned && mono_now() < deadline) wait_for(t, 0.1);
        int done = t->done;
        t->stop = 1; /* aborts a request in flight and any wait */
        pthread_cond_broadcast(&t->cv);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->thread, NULL);
        if (!done && !t->warned)
            sl_warn("tracking: the server did not take everything within %.0fs; the rest is in %s "
                    "(deliver with: shardlearn mlflow-sync %s)", t->flush_timeout, t->dir, t->dir);
    }
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    pthread_cond_destroy(&t->sync_cv);
    free(t->uri);
    free(t->register_model);
    free(t);
}
