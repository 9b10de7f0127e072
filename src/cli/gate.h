/* gate.h - private to `shardlearn gate`: regression rules, their verdicts on
 * a baseline and a candidate, and the reports (table, JUnit XML, Markdown). */
#ifndef SHARDLEARN_CLI_GATE_H
#define SHARDLEARN_CLI_GATE_H

#include <stdio.h>

#include "shardlearn/runs.h"
#include "shardlearn/status.h"

enum gate_op { GATE_GE, GATE_LE };

/* "METRIC >= TOL [optional]", "METRIC <= TOL% [optional]" (README: Regression
 * runs in CI). */
struct gate_rule {
    char metric[256];
    enum gate_op op;
    double tol;     /* absolute, or percent of |baseline| when relative */
    int relative;   /* TOL ended in '%' */
    int optional;   /* a metric missing on either side skips the rule */
    char text[352]; /* the rule, normalised: "val_auc >= -0.002 optional" (fits metric, tol) */
    char tol_text[64];
};

enum gate_verdict { GATE_PASS, GATE_FAIL, GATE_SKIP };

struct gate_row {
    const struct gate_rule *rule;
    int has_base, has_cand;
    double base, cand, bound;
    enum gate_verdict verdict;
    char note[64]; /* short reason for the table ("missing on the candidate"), may be "" */
    char why[512]; /* one sentence: why the rule broke or was skipped, or how it passed */
};

/* Parses one rule; err says what is wrong (without a location). */
enum sl_status gate_rule_parse(const char *text, struct gate_rule *r,
                               struct sl_err *err) SL_WARN_UNUSED;
/* Appends the rules of the file at path (one a line, '#' starts a comment,
 * blank lines skipped) to *rules (*n of them; caller frees *rules). A bad
 * line is "path:line: ...". */
enum sl_status gate_rules_read(const char *path, struct gate_rule **rules, int *n,
                               struct sl_err *err) SL_WARN_UNUSED;
/* The verdict of r on a baseline (NULL: there is none, bootstrapping) and a
 * candidate. */
void gate_evaluate(const struct gate_rule *r, const struct sl_metric_set *base,
                   const struct sl_metric_set *cand, struct gate_row *row);

struct gate_report {
    const char *baseline, *candidate; /* the sources as given, with what they resolved to */
    const struct gate_row *rows;
    int n, broken, skipped;
    char note[1024];   /* promotion, bootstrapping: a line after the table, may be "" */
    const char *error; /* the gate could not run (exit 2): why; rows are not used */
};

/* x as the reports show it: %.6g, NaN, inf; cap >= 32. */
const char *gate_fmt(char *buf, size_t cap, double x);
/* The plain-text table and the verdict line. */
void gate_print_table(FILE *f, const struct gate_report *r);
/* JUnit XML: one test case per rule (or one errored case when the gate
 * could not run), written atomically. */
enum sl_status gate_write_junit(const char *path, const struct gate_report *r,
                                struct sl_err *err) SL_WARN_UNUSED;
/* The Markdown summary to path (atomically), or appended to it. */
enum sl_status gate_write_summary(const char *path, int append, const struct gate_report *r,
                                  struct sl_err *err) SL_WARN_UNUSED;

#endif
