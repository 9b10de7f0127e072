/* gate_rules.c - `shardlearn gate` rules: parsing one ("val_auc >= -0.002",
 * "val_logloss <= +1% optional"), reading a rules file, and a rule's verdict
 * on a baseline and a candidate. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/gate.h"
#include "shardlearn/fileio.h"

/* [s, e) without surrounding white space. */
static void trim(const char **s, const char **e) {
    while (*s < *e && isspace((unsigned char)**s))
        (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

/* The first ">=" or "<=" in text (NULL when none). */
static const char *find_op(const char *text) {
    const char *ge = strstr(text, ">="), *le = strstr(text, "<=");
    if (!ge) return le;
    if (!le) return ge;
    return ge < le ? ge : le;
}

/* "TOL[%] [optional]" after the operator. */
static enum sl_status parse_tolerance(const char *s, struct gate_rule *r, struct sl_err *err) {
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    if (!*p) return sl_err_set(err, SL_ERR_ARG, "no tolerance after the operator");
    char *end = NULL;
    errno = 0;
    r->tol = strtod(p, &end);
    if (end == p || errno || !isfinite(r->tol) || isalpha((unsigned char)*p))
        return sl_err_set(err, SL_ERR_ARG,
                          "'%.40s' is not a tolerance (a number, or a %% like +1%%)", p);
    r->relative = *end == '%';
    if (r->relative) end++;
    if ((size_t)(end - p) >= sizeof r->tol_text)
        return sl_err_set(err, SL_ERR_ARG, "the tolerance is longer than %zu characters",
                          sizeof r->tol_text - 1);
    snprintf(r->tol_text, sizeof r->tol_text, "%.*s", (int)(end - p), p);
    while (isspace((unsigned char)*end))
        end++;
    const char *word = end;
    while (*end && !isspace((unsigned char)*end))
        end++;
    r->optional = end - word == 8 && strncmp(word, "optional", 8) == 0;
    if (end > word && !r->optional)
        return sl_err_set(err, SL_ERR_ARG,
                          "'%.*s' after the tolerance (only 'optional' may follow)",
                          (int)(end - word > 40 ? 40 : end - word), word);
    while (isspace((unsigned char)*end))
        end++;
    if (*end)
        return sl_err_set(err, SL_ERR_ARG, "'%.40s' after '%s' (nothing may follow)", end,
                          r->optional ? "optional" : r->tol_text);
    return SL_OK;
}

enum sl_status gate_rule_parse(const char *text, struct gate_rule *r, struct sl_err *err) {
    memset(r, 0, sizeof *r);
    const char *op = find_op(text);
    if (!op)
        return sl_err_set(
            err, SL_ERR_ARG,
            "no >= or <= in the rule (METRIC >= TOL or METRIC <= TOL[%%] [optional])");
    const char *s = text, *e = op;
    trim(&s, &e);
    if (s == e) return sl_err_set(err, SL_ERR_ARG, "no metric before '%.2s'", op);
    if ((size_t)(e - s) >= sizeof r->metric)
        return sl_err_set(err, SL_ERR_ARG, "the metric name is longer than %zu characters",
                          sizeof r->metric - 1);
    for (const char *p = s; p < e; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return sl_err_set(err, SL_ERR_ARG, "a control character in the metric name");
    snprintf(r->metric, sizeof r->metric, "%.*s", (int)(e - s), s);
    r->op = op[0] == '>' ? GATE_GE : GATE_LE;
    enum sl_status st = parse_tolerance(op + 2, r, err);
    if (st) return st;
    snprintf(r->text, sizeof r->text, "%s %s %s%s", r->metric,
             r->op == GATE_GE ? ">=" : "<=", r->tol_text, r->optional ? " optional" : "");
    return SL_OK;
}

enum sl_status gate_rules_read(const char *path, struct gate_rule **rules, int *n,
                               struct sl_err *err) {
    char *text = sl_read_file(path, NULL);
    if (!text) return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
    enum sl_status st = SL_OK;
    int line = 0;
    for (char *p = text, *next; !st && p && *p; p = next) {
        line++;
        next = strchr(p, '\n');
        if (next) *next++ = '\0';
        char *hash = strchr(p, '#');
        if (hash) *hash = '\0';
        const char *s = p, *e = p + strlen(p);
        trim(&s, &e);
        if (s == e) continue;
        struct gate_rule r;
        struct sl_err why;
        if (gate_rule_parse(p, &r, &why)) {
            st = sl_err_set(err, SL_ERR_ARG, "%s:%d: %s", path, line, why.msg);
            break;
        }
        *rules = sl_realloc(*rules, (size_t)(*n + 1) * sizeof **rules);
        (*rules)[(*n)++] = r;
    }
    free(text);
    return st;
}

/* The limit the candidate is held to: the baseline moved by the tolerance,
 * a relative one taken of |baseline| (so the sign of TOL alone says which
 * way the limit moves, whatever the baseline's sign). */
static double bound_of(const struct gate_rule *r, double base) {
    return r->relative ? base + r->tol / 100.0 * fabs(base) : base + r->tol;
}

static void verdict_missing(const struct gate_rule *r, struct gate_row *row) {
    const char *side = !row->has_base && !row->has_cand ? "both sides"
                       : !row->has_base                 ? "the baseline"
                                                        : "the candidate";
    row->verdict = r->optional ? GATE_SKIP : GATE_FAIL;
    snprintf(row->note, sizeof row->note, "missing on %s", side);
    snprintf(row->why, sizeof row->why, "%s is missing on %s%s", r->metric, side,
             r->optional ? " (the rule is optional)" : "");
}

void gate_evaluate(const struct gate_rule *r, const struct sl_metric_set *base,
                   const struct sl_metric_set *cand, struct gate_row *row) {
    memset(row, 0, sizeof *row);
    row->rule = r;
    const double *b = base ? sl_metric_set_find(base, r->metric) : NULL;
    const double *c = sl_metric_set_find(cand, r->metric);
    row->has_base = b != NULL;
    row->has_cand = c != NULL;
    row->base = b ? *b : (double)NAN;
    row->cand = c ? *c : (double)NAN;
    row->bound = b ? bound_of(r, *b) : (double)NAN;
    if (!base) {
        row->verdict = GATE_SKIP;
        snprintf(row->note, sizeof row->note, "no baseline");
        snprintf(row->why, sizeof row->why, "no baseline yet (bootstrapping)");
        return;
    }
    if (!b || !c) {
        verdict_missing(r, row);
        return;
    }
    char bs[32], cs[32], ls[32];
    gate_fmt(bs, sizeof bs, row->base);
    gate_fmt(cs, sizeof cs, row->cand);
    gate_fmt(ls, sizeof ls, row->bound);
    if (isnan(row->base) || isnan(row->cand)) {
        row->verdict = GATE_FAIL;
        snprintf(row->note, sizeof row->note, "NaN");
        snprintf(row->why, sizeof row->why, "%s is NaN on %s", r->metric,
                 isnan(row->cand) ? "the candidate" : "the baseline");
        return;
    }
    const int ge = r->op == GATE_GE;
    /* A NaN limit (an infinite baseline less an infinite share) holds nothing: broken. */
    const int ok = ge ? row->cand >= row->bound : row->cand <= row->bound;
    row->verdict = ok ? GATE_PASS : GATE_FAIL;
    if (isnan(row->bound)) snprintf(row->note, sizeof row->note, "no limit");
    snprintf(row->why, sizeof row->why, "%s: candidate %s %s %s (baseline %s %s)", r->metric, cs,
             ok ? (ge ? ">=" : "<=") : (ge ? "<" : ">"), ls, bs, r->tol_text);
}
