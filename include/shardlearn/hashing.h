/* hashing.h - delimited text with categorical columns, hashed: the column
 * layout of a file (its hashing spec) and the rule that turns a row's raw
 * values into sparse features, shared by the file reader, the model file and
 * the prediction server so that all three hash alike.
 *
 * The rule, the one of scikit-learn's FeatureHasher(n_features=2**B,
 * input_type="string", alternate_sign=False):
 *   categorical column "name", value "v"  -> feature h("name=v") mod 2^B, value 1,
 *     h = MurmurHash3 x86_32 (seed 0) of the UTF-8 bytes, taken as a signed
 *     32-bit number, then abs() (and -2^31 handled as FeatureHasher does);
 *     two fields of a row at one index add up;
 *   the k-th numeric column (0-based, in file order, the label left out)
 *     -> feature 2^B + k with its value (2^B is 0 when no column is
 *     categorical);
 *   an empty field is a missing value and adds no feature; a numeric 0 adds
 *   none either (sparse rows). */
#ifndef SHARDLEARN_HASHING_H
#define SHARDLEARN_HASHING_H

#include <stddef.h>
#include <stdint.h>

#include "shardlearn/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum sl_col_kind { SL_COL_LABEL = 0, SL_COL_NUMERIC, SL_COL_CATEGORICAL };

struct sl_hash_spec {
    char format[8];      /* "csv", "tsv" or "criteo": how it was asked for */
    char delim;          /* ',' or '\t' */
    int header;          /* 1: the file's first line names the columns */
    int hash_bits;       /* B */
    int n_cols;          /* columns in a row, the label's included */
    char **names;        /* (n_cols) header names, or "C<k>" (k 1-based) without one */
    unsigned char *kind; /* (n_cols) enum sl_col_kind; column 0 is the label */
};

/* What the command line asks for, before the file is looked at. */
struct sl_hash_request {
    const char *format;      /* "csv", "tsv" or "criteo" */
    const char *categorical; /* "name,2-5,9" or NULL */
    int hash_bits;           /* 0: the default, 20 (FeatureHasher's 2^20) */
};

#define SL_HASH_BITS_DEFAULT 20

/* Not collective. Fills sp from rq and, for csv/tsv, the first line of the
 * file at path (a header when its first field is not a number, as for CSV).
 * On failure sp is left empty and err says "path:1: ..." or "--option: ...".
 * Free with sl_hash_spec_free. */
enum sl_status sl_hash_spec_resolve(struct sl_hash_spec *sp, const struct sl_hash_request *rq,
                                    const char *path, struct sl_err *err) SL_WARN_UNUSED;
/* The criteo preset: label, I1..I13 numeric, C1..C26 categorical, tabs. */
void sl_hash_spec_criteo(struct sl_hash_spec *sp, int hash_bits);
/* Checks the fields of a spec read back from somewhere (a model file):
 * NULL when sound, else what is wrong. */
const char *sl_hash_spec_check(const struct sl_hash_spec *sp);
/* dst <- a deep copy of src. */
void sl_hash_spec_copy(struct sl_hash_spec *dst, const struct sl_hash_spec *src);
void sl_hash_spec_free(struct sl_hash_spec *sp);

/* The spec as JSON (the model file's "hashing" object, also kept in a binary
 * cache's header): a new object, the caller deletes it with cJSON_Delete. */
struct cJSON;
struct cJSON *sl_hash_spec_json(const struct sl_hash_spec *sp);
/* The same as compact JSON text; the caller frees it with free(). Two specs
 * are the same spec exactly when their texts are equal. */
char *sl_hash_spec_text(const struct sl_hash_spec *sp);
/* sp <- the spec in h (sl_hash_spec_json's form), checked
 * (sl_hash_spec_check). NULL when sound; else what is wrong, and sp is left
 * empty. Free with sl_hash_spec_free. */
const char *sl_hash_spec_from_json(struct sl_hash_spec *sp, const struct cJSON *h);

/* 2^B when a column is categorical, else 0: where numeric features start. */
int64_t sl_hash_range(const struct sl_hash_spec *sp);
/* d: the hashed range plus one feature per numeric column. */
int64_t sl_hash_n_features(const struct sl_hash_spec *sp);

/* FeatureHasher's index of the string s (n bytes) among 2^bits. */
int32_t sl_hash_index(const char *s, size_t n, int bits);

/* One raw field: text [s, s + n); n == 0 (or s NULL) is missing. */
struct sl_field {
    const char *s;
    size_t n;
};

/* Splits the line [p, end) at delim into at most max fields f (spaces
 * around a field dropped) and returns how many fields the line has (it may
 * be more than max), or -1 when a quoted field does not end. With ',' a
 * field may be quoted as in RFC 4180 ("a,b" is a,b; "" inside is one "),
 * within the line; a tab-separated field is taken as it is. Unquoted text
 * goes to *buf (*cap bytes, grown here; free it when done), so f points
 * into the line or into *buf. */
int sl_hash_split(char delim, const char *p, const char *end, struct sl_field *f, int max,
                  char **buf, size_t *cap);

/* Scratch space for sl_hash_row; zero-initialise, free with
 * sl_hash_scratch_free. */
struct sl_hash_scratch {
    char *key; /* "name=value" */
    size_t key_cap;
};
void sl_hash_scratch_free(struct sl_hash_scratch *sc);

/* The features of one row. f: (sp->n_cols) fields, f[0] (the label) is not
 * looked at. idx, val: room for n_cols entries; *nnz <- entries written,
 * indices strictly increasing. Returns 0, or -1 with msg (cap bytes) saying
 * which column is bad (a numeric column that is not a finite number). */
int sl_hash_row(const struct sl_hash_spec *sp, const struct sl_field *f, struct sl_hash_scratch *sc,
                int32_t *idx, double *val, int *nnz, char *msg, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
