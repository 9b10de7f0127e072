/* fuzz_options.c - the option parser, sl_opts_parse (src/cli/options.c),
 * over a table with every kind of argument and the ranges the subcommands
 * use.
 *
 * Input: one byte (bits 0-1: how many positional arguments are allowed),
 * then the arguments, separated by NUL bytes; they follow
 * "shardlearn train" as argv[2...].
 * Checks beyond "no crash": a parse that succeeds leaves every value in its
 * range (integers and numbers inside [min, max], numbers finite, flags 0/1,
 * choices from the table, strings and every value of a list non-empty
 * pieces of argv) and at most the
 * allowed positional arguments, none of them an option; a failure says why. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "fuzz_util.h"

FUZZ_QUIET_INITIALIZE

enum { OPTIMIZER_NEWTON = 7, OPTIMIZER_LBFGS = 8, OPTIMIZER_SGD = 9 };
static const struct sl_choice OPTIMIZERS[] = {
    {"newton", OPTIMIZER_NEWTON}, {"lbfgs", OPTIMIZER_LBFGS}, {"sgd", OPTIMIZER_SGD}, {NULL, 0}};

#define MAX_ARGS 64

/* Every destination, set to a marker before each parse. */
static struct {
    const char *data, *model_out, *run_name;
    int format, optimizer, zero_based, quiet;
    int64_t n_features, seed, sync_every, offset;
    double l2, tol, lr, shift;
    struct sl_arg_list rules;
} v;

#define UNSET_STR ((const char *)&v) /* not a piece of argv */
#define UNSET_INT (-12345)

/* One option a line. */
// clang-format off
static const struct sl_opt TABLE[] = {
    {.name = "data", .kind = SL_ARG_STR, .dst = &v.data, .metavar = "FILE", .help = "data"},
    {.name = "model-out", .kind = SL_ARG_STR, .dst = &v.model_out, .help = "model"},
    {.name = "run-name", .kind = SL_ARG_STR, .dst = &v.run_name, .help = "name"},
    {.name = "format", .kind = SL_ARG_CHOICE, .dst = &v.format, .help = "fmt", .choices = SL_FORMAT_CHOICES},
    {.name = "optimizer", .kind = SL_ARG_CHOICE, .dst = &v.optimizer, .help = "opt", .choices = OPTIMIZERS},
    {.name = "zero-based", .kind = SL_ARG_FLAG, .dst = &v.zero_based, .help = "flag"},
    {.name = "quiet", .kind = SL_ARG_FLAG, .dst = &v.quiet, .help = "flag"},
    {.name = "n-features", .kind = SL_ARG_INT, .dst = &v.n_features, .min = 1, .max = 2147483647.0, .help = "int"},
    {.name = "seed", .kind = SL_ARG_INT, .dst = &v.seed, .min = 0, .max = 9.2e18, .help = "int"},
    {.name = "sync-every", .kind = SL_ARG_INT, .dst = &v.sync_every, .min = 1, .max = 1e12, .help = "int"},
    {.name = "offset", .kind = SL_ARG_INT, .dst = &v.offset, .min = -5, .max = 5, .help = "int"},
    {.name = "l2", .kind = SL_ARG_F64, .dst = &v.l2, .min = 0, .max = 1e300, .help = "f64"},
    {.name = "tol", .kind = SL_ARG_F64, .dst = &v.tol, .min = 0, .max = 1, .help = "f64"},
    {.name = "lr", .kind = SL_ARG_F64, .dst = &v.lr, .min = 1e-300, .max = 1e300, .help = "f64"},
    {.name = "shift", .kind = SL_ARG_F64, .dst = &v.shift, .min = -1, .max = 1, .help = "f64"},
    {.name = "rule", .kind = SL_ARG_LIST, .dst = &v.rules, .help = "list"},
    {.name = NULL}};
// clang-format on

/* s is one of argv[2..argc). */
static int in_argv(const char *s, char **argv, int argc) {
    for (int i = 2; i < argc; i++)
        if (s >= argv[i] && s < argv[i] + strlen(argv[i]) + 1) return 1;
    return 0;
}

static void check_values(char **argv, int argc) {
    const struct sl_opt *o;
    for (o = TABLE; o->name; o++) {
        switch (o->kind) {
        case SL_ARG_STR: {
            const char *s = *(const char **)o->dst;
            FUZZ_CHECK(s == UNSET_STR || (in_argv(s, argv, argc) && *s), "--%s", o->name);
            break;
        }
        case SL_ARG_INT: {
            int64_t x = *(int64_t *)o->dst;
            FUZZ_CHECK(x == UNSET_INT || ((double)x >= o->min && (double)x <= o->max), "--%s %lld",
                       o->name, (long long)x);
            break;
        }
        case SL_ARG_F64: {
            double x = *(double *)o->dst;
            FUZZ_CHECK(x == UNSET_INT || (isfinite(x) && x >= o->min && x <= o->max), "--%s %g",
                       o->name, x);
            break;
        }
        case SL_ARG_CHOICE: {
            int x = *(int *)o->dst, ok = x == UNSET_INT;
            for (const struct sl_choice *c = o->choices; c->name; c++)
                ok |= x == c->value;
            FUZZ_CHECK(ok, "--%s %d", o->name, x);
            break;
        }
        case SL_ARG_FLAG:
            FUZZ_CHECK(*(int *)o->dst == 0 || *(int *)o->dst == 1, "--%s", o->name);
            break;
        case SL_ARG_LIST: {
            const struct sl_arg_list *l = o->dst;
            FUZZ_CHECK(l->n >= 0 && l->n <= argc - 2 && (l->n == 0) == (l->items == NULL),
                       "--%s: %d values", o->name, l->n);
            for (int i = 0; i < l->n; i++)
                FUZZ_CHECK(in_argv(l->items[i], argv, argc) && *l->items[i], "--%s value %d",
                           o->name, i);
            break;
        }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int max_pos = data[0] & 3;
    data++, size--;
    char *buf = sl_malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[MAX_ARGS + 3] = {"shardlearn", "train"};
    int argc = 2;
    for (char *p = buf; argc < MAX_ARGS + 2;) {
        argv[argc++] = p;
        char *nul = memchr(p, '\0', (size_t)(buf + size - p) + 1);
        if (nul == buf + size) break;
        p = nul + 1;
    }
    argv[argc] = NULL;

    v.data = v.model_out = v.run_name = UNSET_STR;
    v.format = v.optimizer = UNSET_INT;
    v.zero_based = v.quiet = 0;
    v.n_features = v.seed = v.sync_every = v.offset = UNSET_INT;
    v.l2 = v.tol = v.lr = v.shift = UNSET_INT;
    v.rules = (struct sl_arg_list){.items = NULL, .n = 0};
    const char *pos[4] = {NULL};
    int n_pos = -1, help = -1;
    struct sl_err err;
    sl_err_clear(&err);
    enum sl_status st = sl_opts_parse(TABLE, argc, argv, 2, pos, max_pos, &n_pos, &help, &err);
    FUZZ_CHECK(help == 0 || help == 1, "help %d", help);
    if (st == SL_OK) {
        FUZZ_CHECK(n_pos >= 0 && n_pos <= max_pos, "%d positional arguments of %d", n_pos, max_pos);
        for (int i = 0; i < n_pos; i++)
            FUZZ_CHECK(in_argv(pos[i], argv, argc) && strncmp(pos[i], "--", 2) != 0,
                       "positional '%s'", pos[i]);
        check_values(argv, argc);
    } else {
        FUZZ_CHECK(st == SL_ERR_ARG && err.msg[0] != '\0', "status %d, message '%s'", st, err.msg);
    }
    free(v.rules.items);
    free(buf);
    return 0;
}
