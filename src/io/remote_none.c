/* remote_none.c - the remote entry points when the gs:// / http(s):// backend
 * (io/remote.c) is not part of the build: a clear error instead of a link
 * failure. Removed when the real backend is merged. */
#include "io/backend.h"

static const char NEED[] = "gs:// and http(s):// sources need the remote backend (not built)";

enum sl_status sl_remote_list(struct sl_io_list *out, const char *spec, struct sl_err *err) {
    out->n = 0;
    out->obj = NULL;
    return sl_err_set(err, SL_ERR_ARG, "%s: %s", spec, NEED);
}

enum sl_status sl_remote_open_range(struct sl_io_stream **out, const struct sl_io_object *o,
                                    int64_t begin, int64_t end, struct sl_err *err) {
    (void)begin;
    (void)end;
    *out = NULL;
    return sl_err_set(err, SL_ERR_ARG, "%s: %s", o->name, NEED);
}

enum sl_status sl_remote_put(const char *dest, const void *data, size_t len,
                             const char *content_type, struct sl_err *err) {
    (void)data;
    (void)len;
    (void)content_type;
    return sl_err_set(err, SL_ERR_ARG, "%s: %s", dest, NEED);
}
