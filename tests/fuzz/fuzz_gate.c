/* fuzz_gate.c - what `shardlearn gate` reads and writes: a rules file
 * (gate_rules_read, src/cli/gate_rules.c) with the verdicts and the reports
 * (gate_report.c) of its rules, or a metrics.json (sl_metrics_read_file,
 * src/track/metricset.c).
 *
 * Input: one byte (bit 0: 0 a rules file, 1 a metrics.json), then the file.
 * Checks beyond "no crash":
 * - rules: a refusal names the file and a line of it; every rule read has a
 *   metric without surrounding space, '#' or a line break, a finite
 *   tolerance, and its normalised text parses back to the same rule; its
 *   verdict on made-up values is the one the README defines; the JUnit file
 *   is UTF-8 with one element a line, every '<' '>' '"' inside a value
 *   escaped and every '&' an entity; every Markdown row has its 7 bars.
 * - metrics.json: a refusal has a message; the keys read are non-empty and
 *   each appears once. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/gate.h"
#include "fuzz_util.h"
#include "shardlearn/fileio.h"
#include "track/metricset.h"

FUZZ_QUIET_INITIALIZE

static int same_bits(double a, double b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

static void check_rule(const struct gate_rule *r) {
    size_t n = strlen(r->metric);
    FUZZ_CHECK(n > 0 && r->metric[0] != ' ' && r->metric[n - 1] != ' ', "metric '%s'", r->metric);
    FUZZ_CHECK(!strpbrk(r->metric, "#\n\r"), "metric '%s'", r->metric);
    FUZZ_CHECK(isfinite(r->tol), "tolerance %g", r->tol);
    struct gate_rule again;
    struct sl_err err;
    FUZZ_CHECK(gate_rule_parse(r->text, &again, &err) == SL_OK, "'%s' does not parse back: %s",
               r->text, err.msg);
    FUZZ_CHECK(strcmp(again.metric, r->metric) == 0 && again.op == r->op &&
                   same_bits(again.tol, r->tol) && again.relative == r->relative &&
                   again.optional == r->optional,
               "'%s' parses back as another rule", r->text);
}

/* The README's definition, written out again. */
static enum gate_verdict expected(const struct gate_rule *r, double b, double c) {
    if (isnan(b) || isnan(c)) return GATE_FAIL;
    double limit = r->relative ? b + r->tol / 100.0 * fabs(b) : b + r->tol;
    if (isnan(limit)) return GATE_FAIL;
    int ok = r->op == GATE_GE ? c >= limit : c <= limit;
    return ok ? GATE_PASS : GATE_FAIL;
}

/* Every line "  <...>" with no '<' or '>' inside; entities only known ones. */
static void check_junit(const char *path) {
    size_t len = 0;
    char *x = sl_read_file(path, &len);
    FUZZ_CHECK(x != NULL, "junit file missing");
    FUZZ_CHECK(fuzz_utf8_valid((const uint8_t *)x, len), "junit is not UTF-8");
    static const char *const ENT[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#10;", "&#9;"};
    for (char *line = x, *next; *line; line = next) {
        next = strchr(line, '\n');
        FUZZ_CHECK(next != NULL, "junit: last line without a newline");
        *next++ = '\0';
        const char *p = line + strspn(line, " ");
        size_t n = strlen(p);
        FUZZ_CHECK(n >= 2 && p[0] == '<' && p[n - 1] == '>' && !strpbrk(p + 1, "<") &&
                       strchr(p + 1, '>') == p + n - 1,
                   "junit line '%s'", line);
        for (const char *a = strchr(p, '&'); a; a = strchr(a + 1, '&')) {
            int known = 0;
            for (size_t k = 0; k < sizeof ENT / sizeof *ENT; k++)
                known |= strncmp(a, ENT[k], strlen(ENT[k])) == 0;
            FUZZ_CHECK(known, "junit: a bare '&' in '%s'", line);
        }
        for (const char *c = p; *c; c++)
            FUZZ_CHECK((unsigned char)*c >= 0x20, "junit: control byte in '%s'", line);
    }
    free(x);
}

/* Rows of the table: 6 cells, so 7 bars not escaped. */
static void check_summary(const char *path, int n_rules) {
    char *md = sl_read_file(path, NULL);
    FUZZ_CHECK(md != NULL, "summary missing");
    int rows = 0;
    for (char *line = md, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        if (line[0] != '|') continue;
        rows++;
        int bars = 0;
        for (const char *c = line; *c; c++)
            bars += *c == '|' && (c == line || c[-1] != '\\');
        FUZZ_CHECK(bars == 7, "summary row with %d bars: '%s'", bars, line);
    }
    FUZZ_CHECK(rows == n_rules + 2, "summary has %d table lines for %d rules", rows, n_rules);
    free(md);
}

static void fuzz_rules(const char *path) {
    struct gate_rule *rules = NULL;
    int n = 0;
    struct sl_err err;
    sl_err_clear(&err);
    if (gate_rules_read(path, &rules, &n, &err) != SL_OK) {
        size_t plen = strlen(path);
        FUZZ_CHECK(strncmp(err.msg, path, plen) == 0 && err.msg[plen] == ':' &&
                       atoi(err.msg + plen + 1) >= 1,
                   "refusal '%s' names no line", err.msg);
        free(rules);
        return;
    }
    /* Each rule's metric on both sides, values made from its tolerance; an
     * optional rule's metric on the baseline only. */
    struct sl_metric_set base = {.n = 0}, cand = {.n = 0};
    for (int i = 0; i < n; i++) {
        check_rule(&rules[i]);
        sl_metric_set_add(&base, rules[i].metric, (double)i - 1.5);
        if (!rules[i].optional) sl_metric_set_add(&cand, rules[i].metric, rules[i].tol * 0.5);
    }
    struct gate_row *rows = sl_calloc((size_t)n + 1, sizeof *rows);
    struct gate_report rep = {.baseline = "base", .candidate = "cand\n<&\">", .rows = rows, .n = n};
    for (int i = 0; i < n; i++) {
        gate_evaluate(&rules[i], &base, &cand, &rows[i]);
        const double *b = sl_metric_set_find(&base, rules[i].metric);
        const double *c = sl_metric_set_find(&cand, rules[i].metric);
        enum gate_verdict want = !c ? GATE_SKIP : expected(&rules[i], *b, *c);
        FUZZ_CHECK(rows[i].verdict == want, "'%s': verdict %d, want %d", rules[i].text,
                   rows[i].verdict, want);
        rep.broken += rows[i].verdict == GATE_FAIL;
        rep.skipped += rows[i].verdict == GATE_SKIP;
    }
    char junit[512], md[512];
    fuzz_path(junit, sizeof junit, "gate.xml");
    fuzz_path(md, sizeof md, "gate.md");
    FUZZ_CHECK(gate_write_junit(junit, &rep, &err) == SL_OK, "junit: %s", err.msg);
    FUZZ_CHECK(gate_write_summary(md, 0, &rep, &err) == SL_OK, "summary: %s", err.msg);
    check_junit(junit);
    check_summary(md, n);
    free(rows);
    sl_metric_set_free(&base);
    sl_metric_set_free(&cand);
    free(rules);
}

static void fuzz_metrics(const char *path) {
    struct sl_metric_set s;
    struct sl_err err;
    sl_err_clear(&err);
    if (sl_metrics_read_file(path, &s, &err) != SL_OK) {
        FUZZ_CHECK(err.msg[0] != '\0' && s.n == 0, "refused without a message");
        return;
    }
    for (size_t i = 0; i < s.n; i++) {
        FUZZ_CHECK(s.keys[i][0] != '\0', "an empty key");
        FUZZ_CHECK(sl_metric_set_find(&s, s.keys[i]) == &s.values[i], "key '%s' twice", s.keys[i]);
    }
    sl_metric_set_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int metrics = data[0] & 1;
    char path[512];
    fuzz_path(path, sizeof path, metrics ? "metrics.json" : "rules.txt");
    fuzz_write_file(path, data + 1, size - 1);
    if (metrics)
        fuzz_metrics(path);
    else
        fuzz_rules(path);
    return 0;
}
