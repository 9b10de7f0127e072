/* journal.c - the run directory and journal.jsonl: records appended by the
 * training thread (buffered; the tracker flushes and fsyncs them once an
 * iteration), and read back by the sender, complete lines only. */
#include "track/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "core/fault.h"
#include "shardlearn/clock.h"
#include "shardlearn/fileio.h"
#include "shardlearn/log.h"
#include "track/gitinfo.h"
#include "track/json.h"
#include "track/key.h"

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

/* Appends one record to the buffer (and deletes it); the owner flushes at
 * iteration boundaries. A failed journal takes no more records. */
static void append(struct sl_journal *j, cJSON *rec) {
    char *line = NULL;
    if (!j->failed) {
        cJSON_AddNumberToObject(rec, "seq", (double)++j->seq);
        line = cJSON_PrintUnformatted(rec);
    }
    if (line) {
        const size_t n = strlen(line);
        if (j->len + n + 1 > j->cap) {
            j->cap = 2 * (j->len + n + 1) + 4096;
            j->buf = sl_realloc(j->buf, j->cap);
        }
        memcpy(j->buf + j->len, line, n);
        j->buf[j->len + n] = '\n';
        j->len += n + 1;
        cJSON_free(line);
    }
    cJSON_Delete(rec);
}

int sl_journal_flush(struct sl_journal *j) {
    if (j->failed) return -1;
    size_t off = 0;
    while (off < j->len) {
        ssize_t k = -1;
        if (sl_fault("journal.write"))
            errno = ENOSPC;
        else
            k = write(j->fd, j->buf + off, j->len - off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            sl_journal_fail(j, k < 0 ? errno : EIO);
            return -1;
        }
        off += (size_t)k;
    }
    j->size += (int64_t)j->len;
    j->len = 0;
    return 0;
}

void sl_journal_fail(struct sl_journal *j, int e) {
    if (j->failed) return;
    j->failed = e ? e : EIO;
    j->len = 0;
    /* A record written in part would glue to nothing: cut it off, so the
     * readers find whole records only. */
    int cut = ftruncate(j->fd, (off_t)j->size);
    (void)cut; /* failing that too, the readers skip a partial last line */
}

static cJSON *record(const char *type) {
    cJSON *r = cJSON_CreateObject();
    SL_ASSERT(r != NULL);
    cJSON_AddStringToObject(r, "type", type);
    return r;
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
    for (size_t i = 0; i < nbytes; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

/* j->dir/artifacts/ and j->dir/journal.jsonl. */
static enum sl_status open_files(struct sl_journal *j, struct sl_err *err) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/artifacts", j->dir);
    if (mkdir_p(path) != 0) return sl_err_set(err, SL_ERR_IO, "%s: %s", j->dir, strerror(errno));
    snprintf(path, sizeof path, "%s/" SL_JOURNAL_FILE, j->dir);
    j->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (j->fd < 0) return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
    /* Held until the process ends, however it ends (journal.h). A file
     * system without locks only loses mlflow-sync's view of a killed run. */
    int locked = flock(j->fd, LOCK_EX | LOCK_NB);
    (void)locked;
    return SL_OK;
}

/* The start record: everything needed to create the run later. run_name
 * (cap bytes) gets the run's name, "" when a resumed run keeps its own. */
static void write_start(struct sl_journal *j, const struct sl_track_config *cfg, const char *stamp,
                        const char *uuid, char *run_name, size_t cap) {
    cJSON *r = record("start");
    cJSON_AddStringToObject(r, "run_uuid", uuid);
    cJSON_AddNumberToObject(r, "start_time", (double)sl_now_ms());
    const char *exp_name =
        cfg->experiment_name ? cfg->experiment_name : getenv("MLFLOW_EXPERIMENT_NAME");
    const char *exp_id = getenv("MLFLOW_EXPERIMENT_ID");
    if (exp_name && *exp_name)
        cJSON_AddStringToObject(r, "experiment_name", exp_name);
    else if (exp_id && *exp_id)
        cJSON_AddStringToObject(r, "experiment_id", exp_id);
    else
        cJSON_AddStringToObject(r, "experiment_id", "0"); /* MLflow's Default experiment */
    /* A child's parent is two directories up (journal.h), wherever the tree moves. */
    if (cfg->parent_run_dir) cJSON_AddStringToObject(r, "parent", "../..");
    const char *resume = cfg->parent_run_dir ? NULL : getenv("MLFLOW_RUN_ID");
    if (resume && *resume) cJSON_AddStringToObject(r, "resume_run_id", resume);
    /* A resumed run keeps its name unless one is given. */
    run_name[0] = '\0';
    if (cfg->run_name)
        snprintf(run_name, cap, "%s", cfg->run_name);
    else if (!(resume && *resume))
        snprintf(run_name, cap, "shardlearn-%s", stamp);
    if (run_name[0]) cJSON_AddStringToObject(r, "run_name", run_name);
    append(j, r);
}

/* The tags MLflow's own client sets on a run, and ours to find it again. */
static void write_source_tags(struct sl_journal *j, const char *run_name, const char *uuid) {
    const char *user = getenv("USER");
    struct passwd *pw = user ? NULL : getpwuid(getuid());
    char exe[PATH_MAX] = "shardlearn", commit[128];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) exe[k] = '\0';
    if (run_name[0]) sl_journal_kv(j, "tag", "mlflow.runName", run_name);
    sl_journal_kv(j, "tag", "mlflow.user", user ? user : (pw ? pw->pw_name : "unknown"));
    sl_journal_kv(j, "tag", "mlflow.source.name", exe);
    sl_journal_kv(j, "tag", "mlflow.source.type", "LOCAL");
    if (sl_git_commit(commit, sizeof commit))
        sl_journal_kv(j, "tag", "mlflow.source.git.commit", commit);
    sl_journal_kv(j, "tag", "shardlearn.run_uuid", uuid);
}

enum sl_status sl_journal_create(struct sl_journal *j, const struct sl_track_config *cfg,
                                 struct sl_err *err) {
    *j = (struct sl_journal){.fd = -1};
    char children[PATH_MAX];
    if (cfg->parent_run_dir)
        snprintf(children, sizeof children, "%s/children", cfg->parent_run_dir);
    const char *base = cfg->parent_run_dir ? children
                       : cfg->tracking_dir ? cfg->tracking_dir
                                           : "shardlearn-runs";
    char stamp[32], uuid[33], run_name[256];
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tmv);
    random_hex(uuid, 16);
    snprintf(j->dir, sizeof j->dir, "%s/%s-%.8s", base, stamp, uuid);
    enum sl_status st = open_files(j, err);
    if (st != SL_OK) return st;
    write_start(j, cfg, stamp, uuid, run_name, sizeof run_name);
    write_source_tags(j, run_name, uuid);
    return SL_OK;
}

void sl_journal_close(struct sl_journal *j) {
    sl_journal_flush(j);
    fsync(j->fd);
    close(j->fd);
    free(j->buf);
    cJSON_Delete(j->params);
    j->params = NULL;
    j->buf = NULL;
    j->fd = -1;
}

void sl_journal_kv(struct sl_journal *j, const char *type, const char *key, const char *value) {
    char k[256];
    sl_mlflow_key(key, k, sizeof k);
    cJSON *r = record(type);
    cJSON_AddStringToObject(r, "key", k);
    cJSON_AddStringToObject(r, "value", value ? value : "");
    append(j, r);
    if (strcmp(type, "param") != 0) return;
    if (!j->params) j->params = cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(j->params, k);
    cJSON_AddStringToObject(j->params, k, value ? value : "");
}

void sl_journal_metric(struct sl_journal *j, const char *key, double value, int64_t step,
                       int64_t ts_ms) {
    char k[256];
    sl_mlflow_key(key, k, sizeof k);
    cJSON *r = record("metric");
    cJSON_AddStringToObject(r, "key", k);
    /* JSON has no NaN/Inf; MLflow takes them as these strings. */
    if (isnan(value))
        cJSON_AddStringToObject(r, "value", "NaN");
    else if (isinf(value))
        cJSON_AddStringToObject(r, "value", value > 0 ? "Infinity" : "-Infinity");
    else {
        /* cJSON prints 15 digits and accepts them if they round-trip within an
         * epsilon; a metric must keep every bit, so print it ourselves. */
        char num[32];
        cJSON_AddRawToObject(r, "value", sl_fmt_double(num, sizeof num, value));
    }
    cJSON_AddNumberToObject(r, "step", (double)step);
    cJSON_AddNumberToObject(r, "timestamp", (double)ts_ms);
    if (j->link_model) cJSON_AddTrueToObject(r, "model");
    append(j, r);
}

/* to <- a copy of from, made whole or not at all (temporary file, fsync,
 * rename). -1 with errno set on failure. */
/* 0, -1 when from cannot be read, 1 when to cannot be written (errno set). */
static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb");
    if (!in) return -1;
    struct sl_atomic_file out;
    enum sl_status st = sl_atomic_open(&out, to, NULL);
    if (st != SL_OK) {
        if (st == SL_ERR_ARG) errno = ENAMETOOLONG; /* the only argument it refuses */
        const int e = errno;
        fclose(in);
        errno = e;
        return 1;
    }
    char buf[1 << 16];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, k, out.f);
    int bad = ferror(in);
    fclose(in);
    if (bad) {
        /* fileio.h has no abort: drop the temporary file by hand. */
        fclose(out.f);
        unlink(out.tmp);
        return -1;
    }
    /* A short write leaves the stream's error flag set: commit checks it. */
    errno = 0;
    if (sl_atomic_commit(&out, NULL) == SL_OK) return 0;
    if (!errno) errno = EIO;
    return 1;
}

void sl_journal_artifact_file(const char *run_dir, const char *artifact_path, char *out,
                              size_t cap) {
    snprintf(out, cap, "%s/artifacts/%s", run_dir, artifact_path);
}

/* The run's copy of artifact_path, with its directories made: 0, -1
 * (reported) for a path outside the artifacts, 1 (errno) when the
 * directories cannot be made. */
static int artifact_dst(struct sl_journal *j, const char *artifact_path, char *dst, size_t cap) {
    if (!sl_artifact_path_ok(artifact_path)) {
        sl_warn("tracking: artifact path '%s' leaves the run's artifacts; not recorded",
                artifact_path);
        return -1;
    }
    char dir[PATH_MAX * 2];
    sl_journal_artifact_file(j->dir, artifact_path, dst, cap);
    snprintf(dir, sizeof dir, "%s", dst);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    return mkdir_p(dir) != 0 ? 1 : 0;
}

static void artifact_record(struct sl_journal *j, const char *artifact_path) {
    cJSON *r = record("artifact");
    cJSON_AddStringToObject(r, "path", artifact_path);
    append(j, r);
}

int sl_journal_artifact(struct sl_journal *j, const char *local_path, const char *artifact_path) {
    /* A copy in the run directory, so a later mlflow-sync still has it. */
    char dst[PATH_MAX * 2];
    int r = artifact_dst(j, artifact_path, dst, sizeof dst);
    if (r != 0) return r;
    r = copy_file(local_path, dst);
    if (r < 0)
        sl_warn("tracking: cannot read %s for the run's artifacts: %s", local_path, strerror(errno));
    if (r != 0) return r;
    artifact_record(j, artifact_path);
    return 0;
}

int sl_journal_artifact_data(struct sl_journal *j, const void *data, size_t len,
                             const char *artifact_path) {
    char dst[PATH_MAX * 2];
    const int r = artifact_dst(j, artifact_path, dst, sizeof dst);
    if (r != 0) return r;
    struct sl_atomic_file out;
    errno = 0;
    enum sl_status st = sl_atomic_open(&out, dst, NULL);
    if (st == SL_OK) {
        fwrite(data, 1, len, out.f); /* a short write leaves the error flag: commit checks it */
        st = sl_atomic_commit(&out, NULL);
    }
    if (st != SL_OK) {
        if (!errno) errno = EIO;
        return 1;
    }
    artifact_record(j, artifact_path);
    return 0;
}

void sl_journal_input(struct sl_journal *j, const struct sl_track_dataset *d) {
    cJSON *r = record("input");
    cJSON_AddStringToObject(r, "name", d->name ? d->name : "dataset");
    cJSON_AddStringToObject(r, "digest", d->digest ? d->digest : "");
    cJSON_AddStringToObject(r, "source_type", d->source_type ? d->source_type : "local");
    cJSON_AddStringToObject(r, "source", d->source ? d->source : "{}");
    if (d->schema) cJSON_AddStringToObject(r, "schema", d->schema);
    if (d->profile) cJSON_AddStringToObject(r, "profile", d->profile);
    cJSON_AddStringToObject(r, "context", d->context ? d->context : "training");
    append(j, r);
}

void sl_journal_logged_model(struct sl_journal *j, const char *name, const char *const *files,
                             int n) {
    cJSON *r = record("logged_model");
    cJSON_AddStringToObject(r, "name", name);
    cJSON *fa = cJSON_AddArrayToObject(r, "files");
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(fa, cJSON_CreateString(files[i]));
    cJSON_AddItemToObject(r, "params",
                          j->params ? cJSON_Duplicate(j->params, 1) : cJSON_CreateObject());
    append(j, r);
    j->link_model = 1;
}

void sl_journal_register(struct sl_journal *j, const char *name) {
    cJSON *r = record("register");
    cJSON_AddStringToObject(r, "name", name);
    cJSON_AddStringToObject(r, "artifact_path", "model");
    append(j, r);
}

void sl_journal_finish_at(struct sl_journal *j, const char *status, int64_t end_ms) {
    cJSON *r = record("finish");
    cJSON_AddStringToObject(r, "status", status);
    cJSON_AddNumberToObject(r, "end_time", (double)end_ms);
    append(j, r);
}

void sl_journal_finish(struct sl_journal *j, const char *status) {
    sl_journal_finish_at(j, status, sl_now_ms());
}

static void journal_path(const char *run_dir, char *out, size_t cap) {
    snprintf(out, cap, "%s/" SL_JOURNAL_FILE, run_dir);
}

int64_t sl_journal_size(const char *run_dir) {
    char path[PATH_MAX + 32];
    journal_path(run_dir, path, sizeof path);
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

int sl_journal_at_line_end(const char *run_dir, int64_t offset) {
    if (offset == 0) return 1;
    char path[PATH_MAX + 32], ch = 0;
    journal_path(run_dir, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t k = pread(fd, &ch, 1, (off_t)(offset - 1));
    close(fd);
    return k == 1 && ch == '\n';
}

/* In text (len bytes): the end of the last whole line, and that line's
 * record parsed (NULL when there is none or it is not JSON). */
static cJSON *last_record(const char *text, size_t len, size_t *whole) {
    while (len > 0 && text[len - 1] != '\n')
        len--;
    *whole = len;
    if (len == 0) return NULL;
    size_t from = len - 1;
    while (from > 0 && text[from - 1] != '\n')
        from--;
    return cJSON_ParseWithLength(text + from, len - 1 - from);
}

/* Appends the FAILED end of a killed run to the journal open (and locked)
 * at fd, after its last record last. */
static int end_as_failed(const char *run_dir, int fd, const cJSON *last, int64_t size) {
    struct stat st;
    int64_t end_ms = fstat(fd, &st) == 0
                         ? (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000
                         : sl_now_ms();
    struct sl_journal j = {.fd = fd, .size = size, .seq = (int64_t)sl_jnum(last, "seq", 0)};
    snprintf(j.dir, sizeof j.dir, "%s", run_dir);
    sl_journal_kv(&j, "tag", "shardlearn.error",
                  "the run ended without a finish record: its process was killed, or its "
                  "machine stopped");
    sl_journal_finish_at(&j, "FAILED", end_ms);
    int rc = sl_journal_flush(&j) == 0 && fsync(fd) == 0 ? 1 : -1;
    free(j.buf);
    return rc;
}

int sl_journal_end_abandoned(const char *run_dir) {
    char path[PATH_MAX + 32];
    journal_path(run_dir, path, sizeof path);
    int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (fd < 0) return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) { /* its writer is at work */
        close(fd);
        return errno == EWOULDBLOCK ? 0 : -1;
    }
    size_t len = 0, whole = 0;
    char *text = sl_read_file(path, &len);
    cJSON *last = text ? last_record(text, len, &whole) : NULL;
    const char *type = sl_jstr(last, "type");
    int rc = 0;
    if (!text)
        rc = -1;
    else if (!type || strcmp(type, "finish") != 0)
        rc = ftruncate(fd, (off_t)whole) == 0 ? end_as_failed(run_dir, fd, last, (int64_t)whole)
                                              : -1;
    cJSON_Delete(last);
    free(text);
    close(fd); /* and the lock with it */
    return rc;
}

cJSON *sl_journal_read_start(const char *run_dir) {
    char path[PATH_MAX + 32], line[8192];
    snprintf(path, sizeof path, "%s/" SL_JOURNAL_FILE, run_dir);
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    cJSON *j = fgets(line, sizeof line, f) ? cJSON_Parse(line) : NULL;
    fclose(f);
    const char *type = sl_jstr(j, "type");
    if (!type || strcmp(type, "start") != 0) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

char *sl_journal_read_tail(const char *run_dir, int64_t offset, size_t *len) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/" SL_JOURNAL_FILE, run_dir);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseeko(f, (off_t)offset, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0, k;
    char *buf = sl_malloc(cap + 1);
    while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) buf = sl_realloc(buf, (cap *= 2) + 1);
    }
    fclose(f);
    while (n > 0 && buf[n - 1] != '\n')
        n--; /* a line still being written */
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The largest seq and metric step of the whole records in text (len bytes). */
static void scan_records(const char *text, size_t len, int64_t *seq, struct sl_track_resume *at) {
    *seq = 0;
    *at = (struct sl_track_resume){.last_step = 0, .system_next = 0};
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        const size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        cJSON *r = cJSON_ParseWithLength(text + pos, n);
        const int64_t q = (int64_t)sl_jnum(r, "seq", 0);
        if (q > *seq) *seq = q;
        const char *type = sl_jstr(r, "type");
        if (type && strcmp(type, "metric") == 0) {
            const int64_t s = (int64_t)sl_jnum(r, "step", 0);
            const char *key = sl_jstr(r, "key");
            if (key && strncmp(key, "system/", 7) == 0) {
                if (s + 1 > at->system_next) at->system_next = s + 1;
            } else if (s > at->last_step) {
                at->last_step = s;
            }
        }
        cJSON_Delete(r);
        pos += n + 1;
    }
}

enum sl_status sl_journal_reopen(struct sl_journal *j, const char *run_dir,
                                 struct sl_track_resume *at, struct sl_err *err) {
    *j = (struct sl_journal){.fd = -1};
    *at = (struct sl_track_resume){.last_step = 0, .system_next = 0};
    if (strlen(run_dir) >= sizeof j->dir)
        return sl_err_set(err, SL_ERR_IO, "%s: path too long", run_dir);
    snprintf(j->dir, sizeof j->dir, "%s", run_dir);
    char path[PATH_MAX + 32];
    journal_path(run_dir, path, sizeof path);
    cJSON *start = sl_journal_read_start(run_dir);
    cJSON_Delete(start);
    if (!start) return sl_err_set(err, SL_ERR_IO, "%s: not a shardlearn run journal", path);
    j->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (j->fd < 0) return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
    if (flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
        close(j->fd);
        j->fd = -1;
        return sl_err_set(err, SL_ERR_IO, "%s: another process is writing this run", path);
    }
    size_t len = 0, whole = 0;
    char *text = sl_read_file(path, &len);
    cJSON_Delete(text ? last_record(text, len, &whole) : NULL);
    if (!text || (whole < len && ftruncate(j->fd, (off_t)whole) != 0)) {
        free(text);
        close(j->fd);
        j->fd = -1;
        return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
    }
    scan_records(text, whole, &j->seq, at);
    free(text);
    j->size = (int64_t)whole;
    append(j, record("reopen"));
    return SL_OK;
}
