/* fuzz_config.c - the config file reader, sl_config_parse (src/cli/config.c,
 * JSON through cJSON, YAML through libyaml), over a table with every kind of
 * option and the subcommands' ranges.
 *
 * Input: one byte (bits 0-1: the file's name, x.json, x.yaml, x or x.txt),
 * then the file's bytes.
 * Checks beyond "no crash": a parse that succeeds leaves every value in its
 * range (integers and numbers inside [min, max], numbers finite, flags 0/1,
 * choices from the table, strings non-empty and held by the config); a
 * failure is SL_ERR_ARG with one line that starts with the file's name. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config.h"
#include "fuzz_util.h"

FUZZ_QUIET_INITIALIZE

static const struct sl_choice OPTIMIZERS[] = {{"newton", 7}, {"lbfgs", 8}, {"sgd", 9}, {NULL, 0}};

static struct {
    const char *data, *run_name, *config;
    int format, optimizer, quiet, no_intercept;
    int64_t n_features, seed, max_iter;
    double l2, tol;
} v;

#define UNSET_STR ((const char *)&v) /* not a string of the config */
#define UNSET_INT (-12345)

// clang-format off
static const struct sl_opt TABLE[] = {
    {.name = "config", .kind = SL_ARG_STR, .dst = &v.config, .help = "config"},
    {.name = "data", .kind = SL_ARG_STR, .dst = &v.data, .help = "data"},
    {.name = "run-name", .kind = SL_ARG_STR, .dst = &v.run_name, .help = "name"},
    {.name = "format", .kind = SL_ARG_CHOICE, .dst = &v.format, .help = "fmt", .choices = SL_FORMAT_CHOICES},
    {.name = "optimizer", .kind = SL_ARG_CHOICE, .dst = &v.optimizer, .help = "opt", .choices = OPTIMIZERS},
    {.name = "quiet", .kind = SL_ARG_FLAG, .dst = &v.quiet, .help = "flag"},
    {.name = "no-intercept", .kind = SL_ARG_FLAG, .dst = &v.no_intercept, .help = "flag"},
    {.name = "n-features", .kind = SL_ARG_INT, .dst = &v.n_features, .min = 1, .max = 2147483647.0, .help = "int"},
    {.name = "seed", .kind = SL_ARG_INT, .dst = &v.seed, .min = 0, .max = 9.2e18, .help = "int"},
    {.name = "max-iter", .kind = SL_ARG_INT, .dst = &v.max_iter, .min = 1, .max = 1e9, .help = "int"},
    {.name = "l2", .kind = SL_ARG_F64, .dst = &v.l2, .min = 0, .max = 1e300, .help = "f64"},
    {.name = "tol", .kind = SL_ARG_F64, .dst = &v.tol, .min = 0, .max = 1, .help = "f64"},
    {.name = NULL}};
// clang-format on

static int held(const struct sl_config *cfg, const char *s) {
    for (size_t i = 0; i < cfg->n_strs; i++)
        if (cfg->strs[i] == s) return 1;
    return 0;
}

static void check_values(const struct sl_config *cfg) {
    for (const struct sl_opt *o = TABLE; o->name; o++) {
        switch (o->kind) {
        case SL_ARG_STR: {
            const char *s = *(const char **)o->dst;
            FUZZ_CHECK(s == UNSET_STR || (held(cfg, s) && *s), "%s", o->name);
            break;
        }
        case SL_ARG_INT: {
            int64_t x = *(int64_t *)o->dst;
            FUZZ_CHECK(x == UNSET_INT || ((double)x >= o->min && (double)x <= o->max), "%s %lld",
                       o->name, (long long)x);
            break;
        }
        case SL_ARG_F64: {
            double x = *(double *)o->dst;
            FUZZ_CHECK(x == UNSET_INT || (isfinite(x) && x >= o->min && x <= o->max), "%s %g",
                       o->name, x);
            break;
        }
        case SL_ARG_CHOICE: {
            int x = *(int *)o->dst, ok = x == UNSET_INT;
            for (const struct sl_choice *c = o->choices; c->name; c++)
                ok |= x == c->value;
            FUZZ_CHECK(ok, "%s %d", o->name, x);
            break;
        }
        case SL_ARG_FLAG:
            FUZZ_CHECK(*(int *)o->dst == 0 || *(int *)o->dst == 1, "%s", o->name);
            break;
        case SL_ARG_LIST: /* train has no repeatable option; the table has none */
            FUZZ_CHECK(0, "%s: a list in the table", o->name);
            break;
        }
    }
    FUZZ_CHECK(v.config == UNSET_STR, "config set from a file");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const char *const names[] = {"x.json", "x.yaml", "x", "x.txt"};
    const char *path = names[data[0] & 3];
    data++, size--;
    char *text = sl_malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';

    v.data = v.run_name = v.config = UNSET_STR;
    v.format = v.optimizer = UNSET_INT;
    v.quiet = v.no_intercept = 0;
    v.n_features = v.seed = v.max_iter = UNSET_INT;
    v.l2 = v.tol = UNSET_INT;
    struct sl_config cfg;
    struct sl_err err;
    sl_err_clear(&err);
    enum sl_status st = sl_config_parse(&cfg, TABLE, "config", path, text, size, &err);
    if (st == SL_OK)
        check_values(&cfg);
    else
        FUZZ_CHECK(st == SL_ERR_ARG && strncmp(err.msg, path, strlen(path)) == 0 &&
                       !strchr(err.msg, '\n'),
                   "status %d, message '%s'", st, err.msg);
    sl_config_free(&cfg);
    free(text);
    return 0;
}
