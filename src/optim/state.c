/* state.c - a solver's state as named sections (optim.h), and what the
 * solvers share to offer it for a checkpoint. */
#include <string.h>

#include "optim/solvers.h"

void sl_state_add(struct sl_optim_state *s, const char *name, enum sl_state_kind kind, int elem,
                  int64_t rows, int64_t n, const void *data) {
    SL_ASSERT(s->n < SL_STATE_MAX && strlen(name) < SL_STATE_NAME);
    struct sl_state_sec *x = &s->sec[s->n++];
    memset(x, 0, sizeof *x);
    strcpy(x->name, name);
    x->kind = (int)kind;
    x->elem = elem;
    x->rows = rows;
    x->n = n;
    x->data = (void *)(uintptr_t)data; /* read only by the saver */
}

const struct sl_state_sec *sl_state_find(const struct sl_optim_state *s, const char *name) {
    for (int i = 0; s && i < s->n; i++)
        if (strcmp(s->sec[i].name, name) == 0) return &s->sec[i];
    return NULL;
}

int sl_state_get(const struct sl_optim_state *s, const char *name, int elem, int64_t n, void *dst) {
    const struct sl_state_sec *x = sl_state_find(s, name);
    if (!x || x->elem != elem || x->n != n) return -1;
    if (n > 0) memcpy(dst, x->data, (size_t)n * (size_t)elem);
    return 0;
}

void sl_info_pack(const struct sl_fg_info *in, double out[4]) {
    out[0] = in->objective;
    out[1] = in->logloss;
    out[2] = in->accuracy;
    out[3] = in->grad_norm;
}

void sl_info_unpack(const double in[4], struct sl_fg_info *out) {
    *out = (struct sl_fg_info){
        .objective = in[0], .logloss = in[1], .accuracy = in[2], .grad_norm = in[3]};
}

void sl_ckpt_offer(const struct sl_optim_ckpt *ck, struct sl_optim_state *s, int stopping) {
    if (ck && ck->save) ck->save(s, stopping, ck->ctx);
}
