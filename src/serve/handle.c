/* handle.c - the reference-counted model a request scores with. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"

struct sl_serve_model *sl_serve_model_create(struct sl_model *m, const char *source,
                                             const char *name, const char *version,
                                             const char *run_id) {
    struct sl_serve_model *sm = sl_calloc(1, sizeof *sm);
    sm->m = *m;
    memset(m, 0, sizeof *m);
    snprintf(sm->source, sizeof sm->source, "%s", source ? source : "");
    snprintf(sm->name, sizeof sm->name, "%s", name ? name : "");
    snprintf(sm->version, sizeof sm->version, "%s", version ? version : "");
    snprintf(sm->run_id, sizeof sm->run_id, "%s", run_id ? run_id : "");
    atomic_init(&sm->refs, 1);
    return sm;
}

void sl_serve_model_retain(struct sl_serve_model *sm) {
    atomic_fetch_add(&sm->refs, 1);
}

void sl_serve_model_release(struct sl_serve_model *sm) {
    if (!sm) return;
    int before = atomic_fetch_sub(&sm->refs, 1);
    SL_ASSERT(before >= 1);
    if (before == 1) {
        sl_model_free(&sm->m);
        free(sm);
    }
}
