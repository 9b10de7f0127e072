/* fileio.h - files that appear whole or not at all, reading a whole file,
 * and numbers in JSON output.
 *
 * An output file is written to a temporary file beside its target, then
 * flushed, fsync'd and renamed over it: a reader never sees a partial file,
 * and a failed write leaves no temporary file behind. */
#ifndef SHARDLEARN_FILEIO_H
#define SHARDLEARN_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "shardlearn/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_atomic_file {
    FILE *f; /* write here between open and commit */
    char path[4096];
    char tmp[4160];
};

/* Opens path.tmp.<pid> for writing. */
enum sl_status sl_atomic_open(struct sl_atomic_file *a, const char *path,
                              struct sl_err *err) SL_WARN_UNUSED;
/* Flushes, fsyncs, closes and renames over the target; on any failure
 * removes the temporary file and leaves the target as it was. */
enum sl_status sl_atomic_commit(struct sl_atomic_file *a, struct sl_err *err) SL_WARN_UNUSED;

/* commit in two steps, for outputs that appear together or not at all:
 * finish every file (flush, fsync, close; a failure removes that temporary
 * file), then publish each (rename over the target) only when all finished;
 * discard the others. */
enum sl_status sl_atomic_finish(struct sl_atomic_file *a, struct sl_err *err) SL_WARN_UNUSED;
enum sl_status sl_atomic_publish(struct sl_atomic_file *a, struct sl_err *err) SL_WARN_UNUSED;
/* Closes (if open) and removes the temporary file; the target is untouched. */
void sl_atomic_discard(struct sl_atomic_file *a);

/* The whole file, NUL-terminated (*len: its length without the NUL, may be
 * NULL). NULL with errno set when it cannot be opened or read. Caller frees. */
char *sl_read_file(const char *path, size_t *len);

/* buf: (>= 32) <- x with 17 significant digits, "%.17g": reads back to the
 * same bits. Returns buf. */
char *sl_fmt_double(char *buf, size_t cap, double x);
/* Writes x as a JSON number that reads back to the same bits, or null when
 * it is not finite (JSON has no NaN/Inf). */
void sl_json_put_num(FILE *f, double x);
/* Writes "key": x as above. */
void sl_json_put_field(FILE *f, const char *key, double x);

#ifdef __cplusplus
}
#endif

#endif
