/* fileio.h - private: files that appear whole or not at all. Write to a
 * temporary file beside the target, then fsync and rename over it. */
#ifndef SHARDLEARN_FILEIO_H
#define SHARDLEARN_FILEIO_H

#include <stdio.h>

#include "shardlearn/status.h"

struct sl_atomic_file {
    FILE *f;
    char path[4096];
    char tmp[4160];
};

enum sl_status sl_atomic_open(struct sl_atomic_file *a, const char *path,
                              struct sl_err *err) SL_WARN_UNUSED;
/* Flushes, fsyncs and renames; on any failure removes the temporary file. */
enum sl_status sl_atomic_commit(struct sl_atomic_file *a, struct sl_err *err) SL_WARN_UNUSED;
/* Drops the temporary file (an error happened elsewhere). */
void sl_atomic_abandon(struct sl_atomic_file *a);

#endif
