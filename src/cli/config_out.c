/* config_out.c - the resolved options of a run as canonical JSON, and its
 * SHA-256 (libcrypto): the run's config.json and the tag
 * shardlearn.config_digest. Canonical: the same options give the same bytes,
 * whether they came from the command line, a JSON or a YAML file. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config.h"

static int by_name(const void *a, const void *b) {
    const struct sl_opt *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* x as a JSON number that reads back to the same double: an integer below
 * 1e15 as one, else the shortest "%.*g". */
static void shortest(double x, char *buf, size_t cap) {
    if (x > -1e15 && x < 1e15 && x == (double)(int64_t)x) {
        snprintf(buf, cap, "%.0f", x);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) return;
    }
}

static cJSON *value_of(const struct sl_opt *o) {
    char num[40];
    switch (o->kind) {
    case SL_ARG_FLAG:
        return cJSON_CreateBool(*(const int *)o->dst != 0);
    case SL_ARG_STR: {
        const char *s = *(const char *const *)o->dst;
        return s ? cJSON_CreateString(s) : cJSON_CreateNull();
    }
    case SL_ARG_INT: { /* raw: a double would round integers beyond 2^53 */
        const int64_t x = *(const int64_t *)o->dst;
        /* outside the range: a default that means "not set" (n-features 0) */
        if ((double)x < o->min || (double)x > o->max) return cJSON_CreateNull();
        snprintf(num, sizeof num, "%lld", (long long)x);
        return cJSON_CreateRaw(num);
    }
    case SL_ARG_F64: /* outside the range: "not given" (checkpoint-every without a directory) */
        if (!(*(const double *)o->dst >= o->min && *(const double *)o->dst <= o->max))
            return cJSON_CreateNull();
        shortest(*(const double *)o->dst, num, sizeof num);
        return cJSON_CreateRaw(num);
    case SL_ARG_LIST: { /* a repeatable option: its values in the order given */
        const struct sl_arg_list *l = o->dst;
        cJSON *a = cJSON_CreateArray();
        for (int i = 0; a && i < l->n; i++)
            cJSON_AddItemToArray(a, cJSON_CreateString(l->items[i]));
        return a;
    }
    case SL_ARG_CHOICE:
        for (const struct sl_choice *ch = o->choices; ch->name; ch++)
            if (ch->value == *(const int *)o->dst) return cJSON_CreateString(ch->name);
        return cJSON_CreateNull();
    }
    return cJSON_CreateNull();
}

cJSON *sl_config_values(const struct sl_opt *t, const char *skip) {
    size_t n = 0;
    while (t[n].name)
        n++;
    const struct sl_opt **rows = sl_malloc((n + 1) * sizeof *rows);
    for (size_t i = 0; i < n; i++)
        rows[i] = &t[i];
    qsort(rows, n, sizeof *rows, by_name);
    cJSON *obj = cJSON_CreateObject();
    SL_ASSERT(obj != NULL);
    for (size_t i = 0; i < n; i++) {
        if (skip && strcmp(rows[i]->name, skip) == 0) continue;
        cJSON *v = value_of(rows[i]);
        SL_ASSERT(v != NULL);
        cJSON_AddItemToObject(obj, rows[i]->name, v);
    }
    free(rows);
    return obj;
}

char *sl_config_print(const cJSON *values) {
    char *s = cJSON_PrintUnformatted(values);
    SL_ASSERT(s != NULL);
    return s;
}

void sl_config_digest(const char *s, size_t len, char hex[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    SL_ASSERT(EVP_Digest(s, len, md, &n, EVP_sha256(), NULL) == 1 && n == 32);
    for (unsigned int i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}
