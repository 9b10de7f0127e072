/* cache_use.c - a cache or its source: --data DIR reads a cache when DIR
 * holds one (sl_data_load), and train --cache reuses a cache while it was
 * built from the source as it is now with the same options, the hashing
 * spec and the labels' kind included, else rebuilds it (sl_cache_use). */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/cache_fmt.h"

int sl_cache_is(const char *path, struct sl_comm *c) {
    int64_t is = 0;
    if (c->rank == 0) {
        char head[PATH_MAX];
        struct stat st;
        snprintf(head, sizeof head, "%s/%s", path, SL_CACHE_HEADER);
        is = stat(path, &st) == 0 && S_ISDIR(st.st_mode) && stat(head, &st) == 0;
    }
    sl_comm_bcast(c, &is, sizeof is, 0);
    return (int)is;
}

enum sl_status sl_data_load(struct sl_shard *s, const char *path, const struct sl_load_opts *o,
                            struct sl_comm *c, struct sl_err *err) {
    if (sl_cache_is(path, c)) return sl_cache_load(s, path, o, c, err);
    return sl_shard_load(s, path, o, c, err);
}

/* Rank 0: 1 when dir holds a cache of src as it is now, parsed with o; 0
 * when it holds another (why says what differs), -1 when it holds none. */
static int cache_fresh(const char *dir, const char *src, const struct sl_load_opts *o, char *why,
                       size_t cap) {
    struct sl_err e;
    struct cache_head h;
    char head[PATH_MAX];
    snprintf(head, sizeof head, "%s/%s", dir, SL_CACHE_HEADER);
    if (access(head, F_OK) != 0) {
        snprintf(why, cap, "no cache yet");
        return -1;
    }
    if (cache_read_head(dir, &h, &e) != SL_OK) {
        snprintf(why, cap, "%s", e.msg);
        return 0;
    }
    struct cache_src *now = NULL;
    int64_t n = 0;
    const enum sl_format fmt = o->format == SL_FORMAT_AUTO ? sl_format_from_path(src) : o->format;
    int fresh = 0;
    if (cache_source_id(src, &now, &n, &e) != SL_OK) {
        snprintf(why, cap, "%s", e.msg);
    } else if (h.f.n_src != n) {
        snprintf(why, cap, "%s now lists %lld file(s), the cache was built from %lld", src,
                 (long long)n, (long long)h.f.n_src);
    } else if (h.f.format != (int32_t)fmt || h.f.zero_based != (o->zero_based != 0) ||
               h.f.opt_n_features != o->n_features) {
        snprintf(why, cap, "it was built with other --format/--zero-based/--n-features");
    } else if (h.f.real_labels != (o->real_labels != 0)) {
        snprintf(why, cap, "it keeps labels as %s, this run reads them as %s",
                 h.f.real_labels ? "values" : "-1/+1", o->real_labels ? "values" : "-1/+1");
    } else if (!cache_spec_same(h.spec, o->hash)) {
        snprintf(why, cap, "it was hashed with other --categorical/--hash-bits");
    } else {
        fresh = 1;
        for (int64_t i = 0; i < n && fresh; i++) {
            const struct cache_src *a = &h.src[i], *b = &now[i];
            if (strcmp(a->name, b->name) != 0)
                snprintf(why, cap, "it was built from %s, not %s", a->name, b->name);
            else if (a->size != b->size || a->version != b->version || strcmp(a->tag, b->tag))
                snprintf(why, cap, "%s changed (size or modification time)", b->name);
            fresh = why[0] == '\0';
        }
    }
    free(now);
    free(h.buf);
    return fresh;
}

enum sl_status sl_cache_use(struct sl_shard *s, const char *src, const char *dir,
                            const struct sl_load_opts *o, struct sl_comm *c,
                            struct sl_cache_use *use, struct sl_err *err) {
    memset(use, 0, sizeof *use);
    int64_t fresh = 0;
    if (c->rank == 0) fresh = cache_fresh(dir, src, o, use->why, sizeof use->why);
    sl_comm_bcast(c, &fresh, sizeof fresh, 0);
    sl_comm_bcast(c, use->why, sizeof use->why, 0);
    use->stale = fresh == 0;
    if (fresh == 1) {
        use->reused = 1;
        return sl_cache_load(s, dir, o, c, err);
    }
    struct sl_load_opts ko = *o;
    ko.row_keys = 1;
    enum sl_status st = sl_shard_load(s, src, &ko, c, err);
    if (st) return st;
    st = sl_cache_write(s, src, &ko, dir, 0, c, err);
    free(s->row_key); /* the shard is as sl_shard_load gives it without keys */
    s->row_key = NULL;
    if (st) sl_shard_free(s);
    return st;
}
