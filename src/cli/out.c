/* out.c - outputs at a local path or a gs:// object (out.h). */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "shardlearn/log.h"
#include "io/io.h"

enum sl_status cli_out_open(struct cli_out *o, const char *dest, struct sl_err *err) {
    *o = (struct cli_out){.dest = dest, .remote = sl_io_is_remote(dest)};
    if (!o->remote) {
        enum sl_status st = sl_atomic_open(&o->af, dest, err);
        o->f = st ? NULL : o->af.f;
        return st;
    }
    if (strncmp(dest, "gs://", 5) != 0)
        return sl_err_set(err, SL_ERR_ARG, "%s: outputs go to a file or a gs:// object", dest);
    o->f = tmpfile(); /* removed by the system when closed, whatever happens */
    if (!o->f)
        return sl_err_set(err, SL_ERR_IO, "%s: cannot make a temporary file: %s", dest,
                          strerror(errno));
    return SL_OK;
}

enum sl_status cli_out_finish(struct cli_out *o, struct sl_err *err) {
    if (!o->remote) return sl_atomic_finish(&o->af, err);
    if (fflush(o->f) != 0 || ferror(o->f))
        return sl_err_set(err, SL_ERR_IO, "%s: writing the temporary copy: %s", o->dest,
                          strerror(errno));
    return SL_OK;
}

static const char *content_type(const char *dest) {
    size_t n = strlen(dest);
    return n > 5 && strcmp(dest + n - 5, ".json") == 0 ? "application/json" : "text/plain";
}

static enum sl_status upload(struct cli_out *o, struct sl_err *err) {
    long n = ftell(o->f);
    if (n < 0) return sl_err_set(err, SL_ERR_IO, "%s: %s", o->dest, strerror(errno));
    o->len = (size_t)n;
    /* Mapped, not read into the heap: predictions may be large. */
    if (o->len > 0) {
        o->map = mmap(NULL, o->len, PROT_READ, MAP_PRIVATE, fileno(o->f), 0);
        if (o->map == MAP_FAILED) {
            o->map = NULL;
            return sl_err_set(err, SL_ERR_IO, "%s: %s", o->dest, strerror(errno));
        }
    }
    return sl_io_put(o->dest, o->map ? o->map : "", o->len, content_type(o->dest), err);
}

enum sl_status cli_out_publish(struct cli_out *o, struct sl_err *err) {
    enum sl_status st = o->remote ? upload(o, err) : sl_atomic_publish(&o->af, err);
    o->published = st == SL_OK;
    return st;
}

enum sl_status cli_out_commit(struct cli_out *o, struct sl_err *err) {
    enum sl_status st = cli_out_finish(o, err);
    if (!st) st = cli_out_publish(o, err);
    cli_out_close(o);
    return st;
}

void cli_out_artifact(struct sl_tracker *tr, const struct cli_out *o, const char *artifact_path) {
    if (!o->remote)
        sl_tracker_artifact(tr, o->dest, artifact_path);
    else
        sl_tracker_artifact_data(tr, o->map ? o->map : "", o->len, artifact_path);
}

void cli_out_close(struct cli_out *o) {
    if (o->dest && !o->remote && !o->published) sl_atomic_discard(&o->af);
    if (o->remote) {
        if (o->map) munmap(o->map, o->len);
        if (o->f) fclose(o->f);
    }
    o->map = NULL;
    o->f = NULL;
    o->dest = NULL;
}

enum sl_status cli_out_check(struct sl_comm *c, const char *const *dests, int n,
                             struct sl_err *err) {
    sl_err_clear(err);
    enum sl_status st = SL_OK;
    for (int i = 0; c->rank == 0 && !st && i < n; i++)
        if (dests[i] && (st = sl_io_check_dest(dests[i], err))) sl_error("%s", err->msg);
    sl_share_error(c, err);
    return err->msg[0] ? SL_ERR_IO : SL_OK;
}
