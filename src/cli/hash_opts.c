/* hash_opts.c - --format csv|tsv|criteo with --categorical and --hash-bits:
 * the hashing spec the readers are given (hashing.h), agreed over the ranks. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "shardlearn/data.h"
#include "shardlearn/hashing.h"

enum sl_status sl_cli_hash_spec(struct sl_comm *c, int format, const char *path,
                                const char *categorical, int64_t hash_bits,
                                struct sl_hash_spec **out, struct sl_err *err) {
    *out = NULL;
    const enum sl_format fmt =
        format == SL_FORMAT_AUTO ? sl_format_of_source(path) : (enum sl_format)format;
    const char *name = fmt == SL_FORMAT_TSV      ? "tsv"
                       : fmt == SL_FORMAT_CRITEO ? "criteo"
                       : fmt == SL_FORMAT_CSV    ? "csv"
                                                 : NULL;
    const int hashed = fmt == SL_FORMAT_TSV || fmt == SL_FORMAT_CRITEO || categorical;
    enum sl_status st = SL_OK;
    if (!hashed && hash_bits)
        st = sl_err_set(err, SL_ERR_ARG,
                        "--hash-bits: only with --categorical or "
                        "--format tsv|criteo");
    else if (hashed && !name)
        st = sl_err_set(err, SL_ERR_ARG, "--categorical: only with --format csv|tsv|criteo");
    if (st && c->rank != 0) err->msg[0] = '\0'; /* the same on every rank: printed once */
    if (st || !hashed) return st;
    /* Every rank reads the file's first line itself: the same answer
     * everywhere unless the file changes, which the reader then reports. */
    struct sl_hash_spec *sp = sl_calloc(1, sizeof *sp);
    const struct sl_hash_request rq = {
        .format = name, .categorical = categorical, .hash_bits = (int)hash_bits};
    st = sl_hash_spec_resolve(sp, &rq, path, err);
    int who = sl_comm_first_error(c, st != SL_OK, c->rank);
    if (who < 0) {
        *out = sp;
        return SL_OK;
    }
    if (st == SL_OK) sl_hash_spec_free(sp);
    free(sp);
    int64_t code = st;
    sl_comm_bcast(c, &code, sizeof code, who);
    sl_comm_bcast(c, err->msg, sizeof err->msg, who);
    if (c->rank != 0) err->msg[0] = '\0'; /* printed once, by rank 0 */
    return (enum sl_status)code;
}

void sl_cli_hash_spec_destroy(struct sl_hash_spec *sp) {
    if (!sp) return;
    sl_hash_spec_free(sp);
    free(sp);
}

enum sl_status sl_cli_cache_hash(struct sl_comm *c, int format, const char *categorical,
                                 int64_t hash_bits, const char *dir, struct sl_shard *s,
                                 struct sl_hash_spec **out, struct sl_err *err) {
    const struct sl_hash_spec *sp = s->cache_hash; /* the same on every rank */
    const char *name = format == SL_FORMAT_TSV      ? "tsv"
                       : format == SL_FORMAT_CRITEO ? "criteo"
                       : format == SL_FORMAT_CSV    ? "csv"
                                                    : NULL;
    const int asked =
        categorical || hash_bits || format == SL_FORMAT_TSV || format == SL_FORMAT_CRITEO;
    enum sl_status st = SL_OK;
    if (asked && !sp)
        st = sl_err_set(err, SL_ERR_ARG,
                        "%s: the cache holds no hashed columns; convert the source with "
                        "--categorical or --format tsv|criteo",
                        dir);
    else if (sp && hash_bits && hash_bits != sp->hash_bits)
        st = sl_err_set(err, SL_ERR_ARG,
                        "--hash-bits %lld: the cache %s was hashed with %d bits; convert the "
                        "source again with --hash-bits %lld",
                        (long long)hash_bits, dir, sp->hash_bits, (long long)hash_bits);
    else if (sp && asked && name && strcmp(name, sp->format) != 0)
        st = sl_err_set(err, SL_ERR_ARG, "--format %s: the cache %s holds --format %s rows", name,
                        dir, sp->format);
    if (st) {
        if (c->rank != 0) err->msg[0] = '\0'; /* printed once */
        return st;
    }
    *out = s->cache_hash;
    s->cache_hash = NULL;
    return SL_OK;
}
