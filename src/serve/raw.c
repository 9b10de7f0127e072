/* raw.c - raw records for models with a hashing spec: JSON values (or CSV
 * fields) to the text fields a file row would have, then sl_hash_row, the
 * training reader's own rule, so a record scores as its line in a file. */
#include "serve/raw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/hashing.h"

/* The fields of one record; text of non-string values lives in num. */
struct record {
    const struct sl_hash_spec *sp;
    struct sl_field *f; /* (n_cols) */
    char (*num)[32];    /* (n_cols) a number's text */
};

static int column(const struct sl_hash_spec *sp, const char *name, size_t n) {
    for (int j = 0; j < sp->n_cols; j++)
        if (strlen(sp->names[j]) == n && memcmp(sp->names[j], name, n) == 0) return j;
    return -1;
}

/* Spaces around a value are dropped, as the file reader drops them. */
static struct sl_field trimmed(const char *s, size_t n) {
    while (n && (*s == ' ' || *s == '\t' || *s == '\r'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    return (struct sl_field){.s = s, .n = n};
}

static int set_json(struct record *r, int j, const cJSON *v, const char *name, char *msg,
                    size_t cap) {
    if (cJSON_IsNull(v)) return 0;
    if (cJSON_IsString(v)) {
        r->f[j] = trimmed(v->valuestring, strlen(v->valuestring));
        return 0;
    }
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
        double x = v->valuedouble;
        /* As a file would hold it: an integer without a point. */
        if (x == floor(x) && fabs(x) < 1e15)
            snprintf(r->num[j], sizeof r->num[j], "%.0f", x);
        else
            snprintf(r->num[j], sizeof r->num[j], "%.17g", x);
        r->f[j] = (struct sl_field){.s = r->num[j], .n = strlen(r->num[j])};
        return 0;
    }
    snprintf(msg, cap, "column '%s': not a string, a finite number or null", name);
    return -1;
}

static int score(const struct sl_model *m, struct record *r, double *margin, char *msg,
                 size_t cap) {
    const struct sl_hash_spec *sp = m->hash;
    int32_t *idx = sl_calloc((size_t)sp->n_cols, sizeof *idx);
    double *val = sl_calloc((size_t)sp->n_cols, sizeof *val);
    struct sl_hash_scratch sc = {.key = NULL};
    int nnz = 0;
    int rc = sl_hash_row(sp, r->f, &sc, idx, val, &nnz, msg, cap);
    if (rc == 0 && m->n_classes) { /* K margins, each from 0 then b_k, as predict's CSR rows */
        const int64_t K = m->n_classes, d = m->n_features;
        memset(margin, 0, sizeof(double) * (size_t)K);
        for (int q = 0; q < nnz; q++)
            if (idx[q] < d)
                for (int64_t k = 0; k < K; k++)
                    margin[k] += m->weights[k * d + idx[q]] * val[q];
        for (int64_t k = 0; k < K; k++)
            margin[k] += m->intercepts[k];
    } else if (rc == 0) {
        double acc = m->intercept; /* summed as shardlearn predict sums a CSR row */
        for (int k = 0; k < nnz; k++)
            if (idx[k] < m->n_features) acc += m->weights[idx[k]] * val[k];
        *margin = acc;
    }
    sl_hash_scratch_free(&sc);
    free(idx);
    free(val);
    return rc;
}

static void record_init(struct record *r, const struct sl_hash_spec *sp) {
    r->sp = sp;
    r->f = sl_calloc((size_t)sp->n_cols, sizeof *r->f);
    r->num = sl_calloc((size_t)sp->n_cols, sizeof *r->num);
}

static void record_free(struct record *r) {
    free(r->f);
    free(r->num);
}

int sl_serve_raw_margin(const struct sl_model *m, const cJSON *names, const cJSON *values,
                        double *margin, char *msg, size_t cap) {
    const struct sl_hash_spec *sp = m->hash;
    struct record r;
    record_init(&r, sp);
    int rc = 0;
    if (names && cJSON_GetArraySize(names) != cJSON_GetArraySize(values)) {
        snprintf(msg, cap, "%d values for %d columns", cJSON_GetArraySize(values),
                 cJSON_GetArraySize(names));
        rc = -1;
    }
    const cJSON *v = values->child, *nm = names ? names->child : NULL;
    for (; v && !rc; v = v->next, nm = nm ? nm->next : NULL) {
        const char *name = names ? (cJSON_IsString(nm) ? nm->valuestring : NULL) : v->string;
        if (!name) {
            snprintf(msg, cap, "a column name is not a string");
            rc = -1;
            break;
        }
        int j = column(sp, name, strlen(name));
        if (j < 0) {
            snprintf(msg, cap, "the model has no column '%.64s'", name);
            rc = -1;
        } else if (j > 0 && r.f[j].s) {
            snprintf(msg, cap, "column '%.64s' is given twice", name);
            rc = -1;
        } else if (j > 0) {
            rc = set_json(&r, j, v, name, msg, cap);
        }
    }
    if (!rc) rc = score(m, &r, margin, msg, cap);
    record_free(&r);
    return rc;
}

int sl_serve_raw_csv(const struct sl_model *m, const char *h, const char *he, const char *p,
                     const char *e, double *margin, char *msg, size_t cap) {
    const struct sl_hash_spec *sp = m->hash;
    struct record r;
    record_init(&r, sp);
    /* The header's fields and the line's, each through the file reader's
     * splitter (quotes as pandas reads them). */
    char *hbuf = NULL, *lbuf = NULL;
    size_t hcap = 0, lcap = 0;
    int nh = sl_hash_split(',', h, he, NULL, 0, &hbuf, &hcap);
    int nl = sl_hash_split(',', p, e, NULL, 0, &lbuf, &lcap);
    int rc = 0;
    if (nh < 0 || nl < 0) {
        snprintf(msg, cap, "a quoted field does not end on its line");
        rc = -1;
    } else if (nh != nl) {
        snprintf(msg, cap, "%d values for the header's %d columns", nl, nh);
        rc = -1;
    }
    struct sl_field *names = NULL, *vals = NULL;
    if (!rc) {
        names = sl_calloc((size_t)nh, sizeof *names);
        vals = sl_calloc((size_t)nh, sizeof *vals);
        sl_hash_split(',', h, he, names, nh, &hbuf, &hcap);
        sl_hash_split(',', p, e, vals, nl, &lbuf, &lcap);
    }
    for (int k = 0; !rc && k < nh; k++) {
        int j = column(sp, names[k].s, names[k].n);
        if (j < 0) {
            snprintf(msg, cap, "the model has no column '%.*s'",
                     (int)(names[k].n > 64 ? 64 : names[k].n), names[k].s);
            rc = -1;
        } else if (j > 0) {
            r.f[j] = vals[k];
        }
    }
    if (!rc) rc = score(m, &r, margin, msg, cap);
    free(names);
    free(vals);
    free(hbuf);
    free(lbuf);
    record_free(&r);
    return rc;
}
