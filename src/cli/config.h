/* config.h - private to the CLI: `shardlearn train --config FILE`, options
 * from a JSON or YAML file, and the resolved options as canonical JSON (the
 * run's config.json and its digest).
 *
 * The option table (cli.h) is the only list of options: a file's keys are
 * the table's long names, and its values go through sl_opt_set, the same
 * checks as the command line's. */
#ifndef SHARDLEARN_CLI_CONFIG_H
#define SHARDLEARN_CLI_CONFIG_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "cli/cli.h"

/* The file's string values, which STR options point into. */
struct sl_config {
    char **strs; /* (n_strs) owned */
    size_t n_strs;
};

/* Collective. Rank 0 reads path (at most SL_CONFIG_MAX bytes) and sends the
 * bytes to every rank; every rank parses the same bytes and sets the options
 * of t they name, so all ranks agree on the outcome without a file on each
 * host. Errors are SL_ERR_IO (unreadable) or SL_ERR_ARG ("path:line: ..."),
 * the same on every rank. The format comes from the extension (.json, .yaml,
 * .yml); a file without one is JSON when its first non-blank byte is '{',
 * else YAML. The option named skip (--config itself) is refused in a file.
 * Values: a FLAG takes true/false, INT and F64 a number, STR and CHOICE a
 * string; null leaves an option as it is. cfg is initialised here; free it
 * with sl_config_free once the options are no longer read. */
#define SL_CONFIG_MAX (1 << 20)
enum sl_status sl_config_load(struct sl_config *cfg, const struct sl_opt *t, const char *skip,
                              const char *path, struct sl_comm *c,
                              struct sl_err *err) SL_WARN_UNUSED;
/* The parsing part of sl_config_load, on one process: text (len bytes,
 * NUL-terminated) as the content of path. */
enum sl_status sl_config_parse(struct sl_config *cfg, const struct sl_opt *t, const char *skip,
                               const char *path, const char *text, size_t len,
                               struct sl_err *err) SL_WARN_UNUSED;
void sl_config_free(struct sl_config *cfg);

/* The current value of every option of t but skip, as a JSON object whose
 * keys are in bytewise order: flags true/false, integers exact, numbers in
 * the shortest form that reads back to the same double, choices by name,
 * strings not set null. A file that sl_config_load reads back to the same
 * values. Caller deletes it. */
cJSON *sl_config_values(const struct sl_opt *t, const char *skip);
/* The canonical text of such an object (compact, no whitespace). Caller
 * frees with cJSON_free. */
char *sl_config_print(const cJSON *values);
/* hex (65 bytes) <- the SHA-256 of s (len bytes), lowercase hex (libcrypto). */
void sl_config_digest(const char *s, size_t len, char hex[65]);

#endif
