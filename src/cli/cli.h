/* cli.h - private to the shardlearn executable: option tables and the
 * subcommands. cli/ is the only place that decides to exit. */
#ifndef SHARDLEARN_CLI_H
#define SHARDLEARN_CLI_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "shardlearn/comm.h"
#include "shardlearn/status.h"

/* Exit codes. */
#define SL_EXIT_OK 0
#define SL_EXIT_FAIL 1
#define SL_EXIT_USAGE 2
#define SL_EXIT_INT 130  /* SIGINT */
#define SL_EXIT_TERM 143 /* SIGTERM */
#define SL_EXIT_USR1 138 /* SIGUSR1, without a checkpoint */
/* Stopped by a signal after writing a checkpoint: run the same command
 * again to continue (EX_TEMPFAIL of sysexits.h, "try again later"). */
#define SL_EXIT_CHECKPOINTED 75

enum sl_arg_kind { SL_ARG_FLAG, SL_ARG_STR, SL_ARG_INT, SL_ARG_F64, SL_ARG_CHOICE, SL_ARG_LIST };

/* A LIST option's values, in the order given (an option that may repeat,
 * such as gate --rule). Points into argv; the caller frees items. */
struct sl_arg_list {
    const char **items;
    int n;
};

/* One accepted value of a CHOICE option and what it stores. */
struct sl_choice {
    const char *name;
    int value;
};

struct sl_opt {
    const char *name; /* without the leading "--"; NULL ends a table */
    enum sl_arg_kind kind;
    void *dst; /* int* (FLAG, CHOICE), const char** (STR), int64_t* (INT), double* (F64),
                  struct sl_arg_list* (LIST) */
    const char *metavar;
    const char *help;
    double min, max;                 /* INT/F64: accepted range (inclusive) */
    const struct sl_choice *choices; /* CHOICE: ends with a NULL name */
};

/* Parses argv[first..argc). Returns SL_OK, or SL_ERR_ARG with a message;
 * *help is set when --help was given. Positional arguments go to
 * positional[] (at most max_pos). A flag is --name (true) or
 * --name=true|false. */
enum sl_status sl_opts_parse(const struct sl_opt *t, int argc, char **argv, int first,
                             const char **positional, int max_pos, int *n_pos, int *help,
                             struct sl_err *err) SL_WARN_UNUSED;
void sl_opts_usage(FILE *f, const char *usage, const struct sl_opt *t);
/* The option of t called name (without dashes); NULL when there is none. */
const struct sl_opt *sl_opt_find(const struct sl_opt *t, const char *name);
/* Sets o from the text v, with o's range and choice checks: the one place
 * a value is checked, for the command line and config files alike. A FLAG
 * takes "true" or "false". STR keeps the pointer v. label names the option
 * in the message ("--l2", or "l2" in a config file). */
enum sl_status sl_opt_set(const struct sl_opt *o, const char *v, const char *label,
                          struct sl_err *err) SL_WARN_UNUSED;

/* The input formats, by name, for --format. */
extern const struct sl_choice SL_FORMAT_CHOICES[];

/* Collective. *out <- the hashing spec of the data at path when format
 * (enum sl_format; AUTO: from the extension) is tsv or criteo or categorical
 * is given, else NULL. hash_bits 0: the default. On failure every rank
 * returns the status and rank 0 holds the message. Free *out with
 * sl_cli_hash_spec_destroy. */
struct sl_hash_spec;
enum sl_status sl_cli_hash_spec(struct sl_comm *c, int format, const char *path,
                                const char *categorical, int64_t hash_bits,
                                struct sl_hash_spec **out, struct sl_err *err) SL_WARN_UNUSED;
void sl_cli_hash_spec_destroy(struct sl_hash_spec *sp);
/* Collective. s: loaded from the cache at dir. *out <- the hashing spec the
 * cache's rows were hashed with (taken from s->cache_hash), or NULL. The
 * hashing options given (format, categorical, hash_bits: 0 when not) must
 * agree with the cache: a cache of other hashing is an error, as is one not
 * hashed at all when they ask for hashing. */
struct sl_shard;
enum sl_status sl_cli_cache_hash(struct sl_comm *c, int format, const char *categorical,
                                 int64_t hash_bits, const char *dir, struct sl_shard *s,
                                 struct sl_hash_spec **out, struct sl_err *err) SL_WARN_UNUSED;

/* Set by SIGINT/SIGTERM/SIGUSR1 on every rank; read at each evaluation
 * (and between CG steps) and agreed over the ranks. */
extern volatile sig_atomic_t sl_stop_signal;
void sl_install_signal_handlers(void);
/* SIGUSR1 too, for train: the graceful stop that mpirun forwards at once
 * (README: Checkpoints and stop signals). Other commands keep its default. */
void sl_install_usr1_handler(void);
/* The exit status for the signal that stopped the job. */
int sl_interrupted_code(void);

/* Every rank ends with the message of the rank that holds one (the lowest
 * such rank), so a collective failure can be reported in one place. */
void sl_share_error(struct sl_comm *c, struct sl_err *err);

int sl_cmd_train(int argc, char **argv, struct sl_comm *c);
int sl_cmd_predict(int argc, char **argv, struct sl_comm *c, int eval);
int sl_cmd_sync(int argc, char **argv, struct sl_comm *c);
int sl_cmd_convert(int argc, char **argv, struct sl_comm *c);
int sl_cmd_gate(int argc, char **argv, struct sl_comm *c);
int sl_cmd_serve(int argc, char **argv, struct sl_comm *c);

#endif
