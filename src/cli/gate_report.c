/* gate_report.c - what `shardlearn gate` writes: the table on stdout, JUnit
 * XML for CI systems, and a Markdown summary (GitHub's step summary). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/gate.h"
#include "shardlearn/fileio.h"

enum { N_COLS = 6 };
static const char *const HEADER[N_COLS] = {"metric", "baseline", "candidate",
                                           "change", "rule",     "verdict"};

const char *gate_fmt(char *buf, size_t cap, double x) {
    if (isnan(x))
        snprintf(buf, cap, "NaN");
    else if (isinf(x))
        snprintf(buf, cap, "%sinf", x < 0 ? "-" : "");
    else
        snprintf(buf, cap, "%.6g", x);
    return buf;
}

/* The cells of a row: (N_COLS) strings of 160 bytes. */
static void cells(const struct gate_row *row, char out[N_COLS][160]) {
    char a[32], b[32];
    snprintf(out[0], 160, "%s", row->rule->metric);
    snprintf(out[1], 160, "%s", row->has_base ? gate_fmt(a, sizeof a, row->base) : "-");
    snprintf(out[2], 160, "%s", row->has_cand ? gate_fmt(a, sizeof a, row->cand) : "-");
    out[3][0] = '\0';
    if (row->has_base && row->has_cand) {
        double d = row->cand - row->base;
        gate_fmt(a, sizeof a, d);
        if (row->base != 0 && isfinite(row->base) && isfinite(d))
            snprintf(out[3], 160, "%s%s (%+.2f%%)", d >= 0 ? "+" : "", a,
                     100.0 * d / fabs(row->base));
        else
            snprintf(out[3], 160, "%s%s", d >= 0 ? "+" : "", a);
    }
    const struct gate_rule *r = row->rule;
    snprintf(out[4], 160, "%s %s%s%s%s%s", r->op == GATE_GE ? ">=" : "<=", r->tol_text,
             r->optional ? " optional" : "", row->has_base ? " (" : "",
             row->has_base ? gate_fmt(b, sizeof b, row->bound) : "", row->has_base ? ")" : "");
    static const char *const V[] = {"pass", "FAIL", "skipped"};
    snprintf(out[5], 160, "%s%s%s%s", V[row->verdict], row->note[0] ? " (" : "", row->note,
             row->note[0] ? ")" : "");
}

/* "passed" or "FAILED (k of n rules broken)". */
static void outcome(const struct gate_report *r, char *buf, size_t cap) {
    if (!r->broken)
        snprintf(buf, cap, "passed (%d rule(s), %d skipped)", r->n, r->skipped);
    else
        snprintf(buf, cap, "FAILED (%d of %d rule(s) broken)", r->broken, r->n);
}

void gate_print_table(FILE *f, const struct gate_report *r) {
    char(*c)[N_COLS][160] = sl_calloc((size_t)r->n + 1, sizeof *c);
    int w[N_COLS] = {0};
    for (int j = 0; j < N_COLS; j++)
        snprintf(c[0][j], 160, "%s", HEADER[j]);
    for (int i = 0; i < r->n; i++)
        cells(&r->rows[i], c[i + 1]);
    for (int i = 0; i <= r->n; i++)
        for (int j = 0; j < N_COLS; j++)
            if ((int)strlen(c[i][j]) > w[j]) w[j] = (int)strlen(c[i][j]);
    fprintf(f, "baseline:  %s\ncandidate: %s\n\n", r->baseline, r->candidate);
    for (int i = 0; i <= r->n; i++)
        for (int j = 0; j < N_COLS; j++)
            fprintf(f, j < N_COLS - 1 ? "%-*s  " : "%-*s\n", j < N_COLS - 1 ? w[j] : 0, c[i][j]);
    free(c);
    char o[128];
    outcome(r, o, sizeof o);
    fprintf(f, "\ngate %s\n", o);
    if (r->note[0]) fprintf(f, "%s\n", r->note);
    fflush(f);
}

/* Length of the valid UTF-8 sequence at s that XML 1.0 allows (0: not one). */
static int utf8_len(const unsigned char *s) {
    unsigned char c = s[0];
    int n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
    if (c >= 0xF5) n = 0;
    for (int k = 1; k < n; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] >= 0x90))
        return 0; /* overlong, a surrogate, or past U+10FFFF */
    if (c == 0xEF && s[1] == 0xBF && s[2] >= 0xBE) return 0; /* U+FFFE, U+FFFF */
    return n;
}

/* s as XML character data or attribute value: markup escaped, characters
 * XML cannot hold (control characters, broken UTF-8) as '?'. */
static void xml_put(FILE *f, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = *p < 0x80 ? 1 : utf8_len(p);
        if (*p == '&')
            fputs("&amp;", f);
        else if (*p == '<')
            fputs("&lt;", f);
        else if (*p == '>')
            fputs("&gt;", f);
        else if (*p == '"')
            fputs("&quot;", f);
        else if (*p == '\'')
            fputs("&apos;", f);
        else if (*p == '\n')
            fputs("&#10;", f);
        else if (*p == '\t')
            fputs("&#9;", f);
        else if (n == 0 || *p < 0x20)
            n = 1, fputc('?', f);
        else
            fwrite(p, 1, (size_t)n, f);
        p += n;
    }
}

static void junit_case(FILE *f, const struct gate_row *row) {
    fputs("    <testcase classname=\"shardlearn.gate\" name=\"", f);
    xml_put(f, row->rule->text);
    fputs("\"", f);
    if (row->verdict == GATE_PASS) {
        fputs("/>\n", f);
        return;
    }
    fputs(">\n      ", f);
    fputs(row->verdict == GATE_FAIL ? "<failure type=\"regression\" message=\""
                                    : "<skipped message=\"",
          f);
    xml_put(f, row->why);
    fputs("\"/>\n    </testcase>\n", f);
}

enum sl_status gate_write_junit(const char *path, const struct gate_report *r, struct sl_err *err) {
    struct sl_atomic_file a;
    enum sl_status st = sl_atomic_open(&a, path, err);
    if (st) return st;
    FILE *f = a.f;
    const int errors = r->error != NULL, tests = r->n + errors;
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
    fprintf(f,
            "<testsuites name=\"shardlearn gate\" tests=\"%d\" failures=\"%d\" errors=\"%d\" "
            "skipped=\"%d\">\n",
            tests, r->broken, errors, r->skipped);
    fprintf(f,
            "  <testsuite name=\"shardlearn gate\" tests=\"%d\" failures=\"%d\" errors=\"%d\" "
            "skipped=\"%d\">\n",
            tests, r->broken, errors, r->skipped);
    fputs("    <properties>\n      <property name=\"baseline\" value=\"", f);
    xml_put(f, r->baseline);
    fputs("\"/>\n      <property name=\"candidate\" value=\"", f);
    xml_put(f, r->candidate);
    fputs("\"/>\n    </properties>\n", f);
    for (int i = 0; i < r->n; i++)
        junit_case(f, &r->rows[i]);
    if (r->error) {
        fputs("    <testcase classname=\"shardlearn.gate\" name=\"gate\">\n      <error "
              "message=\"",
              f);
        xml_put(f, r->error);
        fputs("\"/>\n    </testcase>\n", f);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
    return sl_atomic_commit(&a, err);
}

/* A Markdown table cell: '|' escaped, a line break as a space. */
static void md_cell(FILE *f, const char *s) {
    fputs("| ", f);
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '\n' || *s == '\r')
            fputc(' ', f);
        else
            fputc(*s, f);
    }
    fputc(' ', f);
}

static void summary_text(FILE *f, const struct gate_report *r) {
    if (r->error) {
        fprintf(f, "### shardlearn gate: could not run\n\nBaseline: %s  \nCandidate: %s\n\n%s\n\n",
                r->baseline, r->candidate, r->error);
        return;
    }
    char o[128];
    outcome(r, o, sizeof o);
    fprintf(f, "### shardlearn gate: %s\n\n", o);
    fprintf(f, "Baseline: %s  \nCandidate: %s\n\n", r->baseline, r->candidate);
    for (int j = 0; j < N_COLS; j++)
        md_cell(f, HEADER[j]);
    fputs("|\n|---|---:|---:|---:|---|---|\n", f);
    char c[N_COLS][160];
    for (int i = 0; i < r->n; i++) {
        cells(&r->rows[i], c);
        for (int j = 0; j < N_COLS; j++)
            md_cell(f, c[j]);
        fputs("|\n", f);
    }
    if (r->note[0]) fprintf(f, "\n%s\n", r->note);
    fputc('\n', f);
}

enum sl_status gate_write_summary(const char *path, int append, const struct gate_report *r,
                                  struct sl_err *err) {
    if (!append) {
        struct sl_atomic_file a;
        enum sl_status st = sl_atomic_open(&a, path, err);
        if (st) return st;
        summary_text(a.f, r);
        return sl_atomic_commit(&a, err);
    }
    /* One write of the whole text, so steps appending side by side do not interleave. */
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
    summary_text(m, r);
    fclose(m);
    FILE *f = fopen(path, "a");
    int ok = f && fwrite(buf, 1, len, f) == len;
    ok = f && fclose(f) == 0 && ok;
    free(buf);
    return ok ? SL_OK : sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
}
