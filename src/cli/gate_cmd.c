/* gate_cmd.c - `shardlearn gate`: compares a candidate run with a baseline
 * under regression rules and exits 0 (every rule holds), 1 (a rule is
 * broken) or 2 (usage, or a side that cannot be read); on a pass it can
 * promote the candidate in the MLflow model registry. `gate --same-model A
 * B` checks that two model files agree. One process: like mlflow-sync, only
 * rank 0 works. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/gate.h"
#include "shardlearn/log.h"
#include "shardlearn/model.h"
#include "shardlearn/runs.h"

struct gate_args {
    const char *baseline, *candidate, *rules_file, *uri, *junit, *summary, *promote;
    struct sl_arg_list rules;
    double timeout, tol;
    int same_model;
    const char *pos[2];
    int npos;
};

/* Parses argv; returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, struct gate_args *a, struct sl_err *err) {
    const struct sl_opt opts[] = {
        {.name = "baseline",
         .kind = SL_ARG_STR,
         .dst = &a->baseline,
         .metavar = "SRC",
         .help = "metrics.json, runs:/RUN_ID, models:/NAME/VERSION or models:/NAME@ALIAS"},
        {.name = "candidate",
         .kind = SL_ARG_STR,
         .dst = &a->candidate,
         .metavar = "SRC",
         .help = "the same kinds of source"},
        {.name = "rule",
         .kind = SL_ARG_LIST,
         .dst = &a->rules,
         .metavar = "RULE",
         .help = "'METRIC >= TOL' or 'METRIC <= TOL[%] [optional]' (repeatable)"},
        {.name = "rules",
         .kind = SL_ARG_STR,
         .dst = &a->rules_file,
         .metavar = "FILE",
         .help = "rules, one a line ('#' comments)"},
        {.name = "tracking-uri",
         .kind = SL_ARG_STR,
         .dst = &a->uri,
         .metavar = "URI",
         .help = "MLflow server (default $MLFLOW_TRACKING_URI)"},
        {.name = "timeout",
         .kind = SL_ARG_F64,
         .dst = &a->timeout,
         .metavar = "S",
         .help = "give up on the server after S seconds (default 60)",
         .min = 0,
         .max = 1e9},
        {.name = "junit",
         .kind = SL_ARG_STR,
         .dst = &a->junit,
         .metavar = "FILE",
         .help = "write JUnit XML, one test case per rule"},
        {.name = "summary",
         .kind = SL_ARG_STR,
         .dst = &a->summary,
         .metavar = "FILE",
         .help = "write the table as Markdown (also appended to $GITHUB_STEP_SUMMARY)"},
        {.name = "promote",
         .kind = SL_ARG_STR,
         .dst = &a->promote,
         .metavar = "NAME@ALIAS",
         .help = "on a pass, register the candidate's model and point the alias at it"},
        {.name = "same-model",
         .kind = SL_ARG_FLAG,
         .dst = &a->same_model,
         .help = "gate --same-model A B: the two model files agree within --tol"},
        {.name = "tol",
         .kind = SL_ARG_F64,
         .dst = &a->tol,
         .metavar = "T",
         .help = "--same-model: |a-b| <= T max(1,|a|,|b|) (default 1e-6)",
         .min = 0,
         .max = 1e300},
        {.name = NULL}};
    int help = 0;
    enum sl_status st = sl_opts_parse(opts, argc, argv, 2, a->pos, 2, &a->npos, &help, err);
    if (help) {
        sl_opts_usage(stdout,
                      "usage: shardlearn gate --baseline SRC --candidate SRC --rule RULE... "
                      "[options]\n       shardlearn gate --same-model A B [--tol T]",
                      opts);
        return SL_EXIT_OK;
    }
    if (st) return SL_EXIT_USAGE;
    if (a->same_model) {
        if (a->npos != 2) st = sl_err_set(err, SL_ERR_ARG, "--same-model needs two model files");
    } else if (a->npos) {
        st = sl_err_set(err, SL_ERR_ARG, "unexpected argument '%s'", a->pos[0]);
    } else if (!a->baseline || !a->candidate) {
        st = sl_err_set(err, SL_ERR_ARG, "gate needs --baseline SRC and --candidate SRC");
    } else if (!a->rules.n && !a->rules_file) {
        st = sl_err_set(err, SL_ERR_ARG, "gate needs at least one --rule or --rules FILE");
    } else if (a->promote && !sl_is_mlflow_source(a->candidate)) {
        st = sl_err_set(err, SL_ERR_ARG,
                        "--promote needs the candidate to be an MLflow run or model version "
                        "(runs:/RUN_ID or models:/...), not '%s'",
                        a->candidate);
    }
    return st ? SL_EXIT_USAGE : -1;
}

/* The rules of --rule (in order) then of --rules FILE. */
static enum sl_status collect_rules(const struct gate_args *a, struct gate_rule **rules, int *n,
                                    struct sl_err *err) {
    *rules = sl_calloc((size_t)a->rules.n + 1, sizeof **rules);
    *n = 0;
    for (int i = 0; i < a->rules.n; i++) {
        struct sl_err why;
        if (gate_rule_parse(a->rules.items[i], &(*rules)[i], &why))
            return sl_err_set(err, SL_ERR_ARG, "--rule '%s': %s", a->rules.items[i], why.msg);
        (*n)++;
    }
    return a->rules_file ? gate_rules_read(a->rules_file, rules, n, err) : SL_OK;
}

/* NAME and ALIAS of --promote NAME@ALIAS. */
static enum sl_status split_promote(const char *spec, char *name, size_t cap, const char **alias,
                                    struct sl_err *err) {
    const char *at = strrchr(spec, '@');
    if (!at || at == spec || !at[1] || (size_t)(at - spec) >= cap)
        return sl_err_set(err, SL_ERR_ARG, "--promote '%s': not NAME@ALIAS", spec);
    snprintf(name, cap, "%.*s", (int)(at - spec), spec);
    *alias = at + 1;
    return SL_OK;
}

/* One side's metrics; `shown` <- the source with what it resolved to. */
static enum sl_status load_side(struct sl_mlflow *m, const char *src, struct sl_metric_set *set,
                                char *shown, size_t cap, struct sl_err *err) {
    enum sl_status st = sl_is_mlflow_source(src) ? sl_mlflow_metrics(m, src, set, err)
                                                 : sl_metrics_read_file(src, set, err);
    if (st) return st;
    if (set->version[0])
        snprintf(shown, cap, "%s (%s version %s, run %s)", src, set->model, set->version,
                 set->run_id);
    else if (set->run_id[0] && strncmp(src, "runs:/", 6) != 0)
        snprintf(shown, cap, "%s (run %s)", src, set->run_id);
    else
        snprintf(shown, cap, "%s", src);
    return SL_OK;
}

/* --same-model: every weight and the intercept agree within tol. Returns
 * the exit code. */
static int same_model(const char *pa, const char *pb, double tol) {
    struct sl_model a, b;
    struct sl_err err;
    sl_err_clear(&err);
    if (sl_model_load(&a, pa, &err)) {
        sl_error("%s", err.msg);
        return SL_EXIT_USAGE;
    }
    if (sl_model_load(&b, pb, &err)) {
        sl_error("%s", err.msg);
        sl_model_free(&a);
        return SL_EXIT_USAGE;
    }
    int code = SL_EXIT_OK;
    if (a.n_classes || b.n_classes) { /* its weights are K rows: not compared here yet */
        sl_error("--same-model compares binary and regression models; %s is multinomial",
                 a.n_classes ? pa : pb);
        sl_model_free(&a);
        sl_model_free(&b);
        return SL_EXIT_USAGE;
    }
    if (a.n_features != b.n_features || a.fit_intercept != b.fit_intercept) {
        printf("models differ: %s has %lld features%s, %s has %lld%s\n", pa,
               (long long)a.n_features, a.fit_intercept ? " and an intercept" : "", pb,
               (long long)b.n_features, b.fit_intercept ? " and an intercept" : "");
        code = SL_EXIT_FAIL;
    } else {
        /* Index n_features is the intercept. */
        int64_t worst = -1, beyond = 0;
        double worst_r = 0;
        for (int64_t j = 0; j <= a.n_features; j++) {
            double x = j < a.n_features ? a.weights[j] : a.intercept;
            double y = j < a.n_features ? b.weights[j] : b.intercept;
            double scale = fmax(1.0, fmax(fabs(x), fabs(y)));
            double r = fabs(x - y) / scale;
            beyond += r > tol;
            if (worst < 0 || r > worst_r) worst = j, worst_r = r;
        }
        char where[48];
        if (worst == a.n_features)
            snprintf(where, sizeof where, "intercept");
        else
            snprintf(where, sizeof where, "weights[%lld]", (long long)worst);
        double x = worst < a.n_features ? a.weights[worst] : a.intercept;
        double y = worst < b.n_features ? b.weights[worst] : b.intercept;
        printf("%s: %s and %s: largest difference %.3g (relative to max(1,|a|,|b|)) at %s "
               "(%.17g vs %.17g); %lld of %lld values beyond %g\n",
               beyond ? "models differ" : "same model", pa, pb, worst_r, where, x, y,
               (long long)beyond, (long long)a.n_features + 1, tol);
        code = beyond ? SL_EXIT_FAIL : SL_EXIT_OK;
    }
    sl_model_free(&a);
    sl_model_free(&b);
    return code;
}

/* Everything one comparison holds. */
struct gate_run {
    struct gate_args a;
    struct gate_rule *rules;
    int n_rules;
    struct sl_mlflow *m; /* when a side is an MLflow source, or --promote */
    struct sl_metric_set base, cand;
    char name[256]; /* --promote NAME@ALIAS */
    const char *alias;
    int had_champion; /* NAME@ALIAS existed before */
    int bootstrap;    /* the baseline is that alias, which does not exist yet */
    char base_shown[1024], cand_shown[1024];
};

/* The server, the champion, both sides. */
static enum sl_status gate_load(struct gate_run *g, struct sl_err *err) {
    const struct gate_args *a = &g->a;
    enum sl_status st = SL_OK;
    if (a->promote) st = split_promote(a->promote, g->name, sizeof g->name, &g->alias, err);
    if (!st &&
        (a->promote || sl_is_mlflow_source(a->baseline) || sl_is_mlflow_source(a->candidate)))
        st = sl_mlflow_create(&g->m, a->uri, a->timeout, err);
    if (!st && a->promote) {
        st = sl_mlflow_alias_exists(g->m, g->name, g->alias, &g->had_champion, err);
        char champion[600];
        snprintf(champion, sizeof champion, "models:/%s@%s", g->name, g->alias);
        g->bootstrap = !st && !g->had_champion && strcmp(a->baseline, champion) == 0;
    }
    if (!st && !g->bootstrap)
        st = load_side(g->m, a->baseline, &g->base, g->base_shown, sizeof g->base_shown, err);
    if (!st) st = load_side(g->m, a->candidate, &g->cand, g->cand_shown, sizeof g->cand_shown, err);
    if (g->bootstrap)
        snprintf(g->base_shown, sizeof g->base_shown, "%s (none yet: bootstrapping)", a->baseline);
    return st;
}

/* On a pass: the candidate becomes NAME@ALIAS; the note says what was done. */
static enum sl_status gate_promote(struct gate_run *g, struct gate_report *r, struct sl_err *err) {
    if (r->broken) {
        snprintf(r->note, sizeof r->note, "not promoted to %s@%s: the gate failed", g->name,
                 g->alias);
        return SL_OK;
    }
    char version[32];
    int created = 0;
    enum sl_status st =
        sl_mlflow_promote(g->m, g->cand.run_id, g->name, g->alias, "shardlearn.gate", "passed",
                          version, sizeof version, &created, err);
    if (st) {
        snprintf(r->note, sizeof r->note, "promotion to %s@%s failed: %s", g->name, g->alias,
                 err->msg);
        return st;
    }
    snprintf(r->note, sizeof r->note,
             "promoted: %s version %s (%s from run %s) is now %s@%s; the run is tagged "
             "shardlearn.gate=passed%s",
             g->name, version, created ? "registered now" : "already registered", g->cand.run_id,
             g->name, g->alias,
             g->had_champion ? "" : " (bootstrapping: there was no champion before)");
    return SL_OK;
}

/* Table, JUnit, Markdown (and $GITHUB_STEP_SUMMARY). */
static enum sl_status gate_write(const struct gate_args *a, const struct gate_report *r,
                                 struct sl_err *err) {
    if (!r->error) gate_print_table(stdout, r);
    enum sl_status st = SL_OK;
    if (a->junit) st = gate_write_junit(a->junit, r, err);
    if (!st && a->summary) st = gate_write_summary(a->summary, 0, r, err);
    const char *gh = getenv("GITHUB_STEP_SUMMARY");
    if (!st && gh && *gh) st = gate_write_summary(gh, 1, r, err);
    return st;
}

/* Compares, reports, promotes. Returns the exit code. */
static int gate_compare(struct gate_run *g, struct sl_err *err) {
    if (collect_rules(&g->a, &g->rules, &g->n_rules, err)) {
        sl_error("%s", err->msg);
        return SL_EXIT_USAGE;
    }
    if (gate_load(g, err)) {
        /* CI still shows why: the reports carry the error. */
        sl_error("%s", err->msg);
        struct gate_report r = {
            .baseline = g->a.baseline, .candidate = g->a.candidate, .error = err->msg};
        struct sl_err werr;
        if (gate_write(&g->a, &r, &werr)) sl_error("%s", werr.msg);
        return SL_EXIT_USAGE;
    }
    struct gate_row *rows = sl_calloc((size_t)g->n_rules, sizeof *rows);
    struct gate_report r = {
        .baseline = g->base_shown, .candidate = g->cand_shown, .rows = rows, .n = g->n_rules};
    for (int i = 0; i < g->n_rules; i++) {
        gate_evaluate(&g->rules[i], g->bootstrap ? NULL : &g->base, &g->cand, &rows[i]);
        r.broken += rows[i].verdict == GATE_FAIL;
        r.skipped += rows[i].verdict == GATE_SKIP;
    }
    enum sl_status promoted = g->a.promote ? gate_promote(g, &r, err) : SL_OK;
    struct sl_err werr;
    sl_err_clear(&werr);
    enum sl_status written = gate_write(&g->a, &r, &werr);
    free(rows);
    if (promoted) sl_error("%s", err->msg);
    if (written) sl_error("%s", werr.msg);
    if (promoted || written) return SL_EXIT_USAGE;
    return r.broken ? SL_EXIT_FAIL : SL_EXIT_OK;
}

int sl_cmd_gate(int argc, char **argv, struct sl_comm *c) {
    if (c->rank != 0) return SL_EXIT_OK; /* one process does it all */
    struct gate_run g = {.a = {.timeout = 60.0, .tol = 1e-6}};
    struct sl_err err;
    sl_err_clear(&err);
    int code = parse_args(argc, argv, &g.a, &err);
    if (code == SL_EXIT_USAGE) sl_error("%s (see shardlearn gate --help)", err.msg);
    if (code < 0 && g.a.same_model) code = same_model(g.a.pos[0], g.a.pos[1], g.a.tol);
    if (code < 0) code = gate_compare(&g, &err);
    sl_metric_set_free(&g.base);
    sl_metric_set_free(&g.cand);
    sl_mlflow_destroy(g.m);
    free(g.rules);
    free(g.a.rules.items);
    return code;
}
