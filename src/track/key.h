/* key.h - what MLflow accepts as a param, tag or metric key and as an
 * artifact path, for the journal's writer and for the sender alike (a
 * journal may come from an older shardlearn, or be damaged). */
#ifndef SHARDLEARN_TRACK_KEY_H
#define SHARDLEARN_TRACK_KEY_H

#include <stddef.h>

/* MLflow refuses a whole log-batch for one key that is longer than 250
 * characters, empty, holds a character other than alphanumerics and
 * _ - . space : /, or is not a path in its own normal form (a leading,
 * trailing or doubled '/', a "." or ".." segment, a start of ".."). out
 * (cap bytes) <- in made to follow those rules: such characters, slashes
 * and dots become '_', and it is cut to 250. */
void sl_mlflow_key(const char *in, char *out, size_t cap);

/* 1 when an artifact path stays inside the run's artifacts: not empty,
 * relative, no "." or ".." segment and no empty one. */
int sl_artifact_path_ok(const char *path);

#endif
