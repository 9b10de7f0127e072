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

enum sl_opt_kind { SL_OPT_FLAG, SL_OPT_STR, SL_OPT_INT, SL_OPT_F64, SL_OPT_CHOICE };

struct sl_opt {
    const char *name;    /* without the leading "--" */
    enum sl_opt_kind kind;
    void *dst;           /* int* (FLAG, CHOICE), const char** (STR), int64_t* (INT), double* (F64) */
    const char *metavar;
    const char *help;
    double min, max;     /* INT/F64: accepted range (inclusive) */
    const char *choices; /* CHOICE: "a|b|c"; the index is stored */
};

/* Parses argv[first..argc). Returns SL_OK, or SL_ERR_ARG with a message;
 * *help is set when --help was given. Positional arguments go to
 * positional[] (at most max_pos). */
enum sl_status sl_opts_parse(const struct sl_opt *t, int argc, char **argv, int first,
                             const char **positional, int max_pos, int *n_pos, int *help,
                             struct sl_err *err) SL_WARN_UNUSED;
void sl_opts_usage(FILE *f, const char *usage, const struct sl_opt *t);

/* Set by SIGINT/SIGTERM on every rank; read at iteration boundaries. */
extern volatile sig_atomic_t sl_stop_signal;
void sl_install_signal_handlers(void);

/* Every rank ends with the message of the rank that holds one (the lowest
 * such rank), so a collective failure can be reported in one place. */
void sl_share_error(struct sl_comm *c, struct sl_err *err);

int sl_cmd_train(int argc, char **argv, struct sl_comm *c);
int sl_cmd_predict(int argc, char **argv, struct sl_comm *c, int eval);

#endif
