/* convert_cmd.c - `shardlearn convert`: every rank parses its share of the
 * source and the ranks write the binary cache together (data.h). */
#include <string.h>

#include "cli/cli.h"
#include "shardlearn/clock.h"
#include "shardlearn/data.h"
#include "shardlearn/log.h"

int sl_cmd_convert(int argc, char **argv, struct sl_comm *c) {
    const char *data = NULL, *out = NULL;
    const char *categorical = NULL;
    int format = SL_FORMAT_AUTO, zero_based = 0, real_labels = 0;
    int64_t n_features = 0, hash_bits = 0, block_kib = SL_CACHE_BLOCK / 1024;
    const struct sl_opt opts[] = {
        {.name = "data",
         .kind = SL_ARG_STR,
         .dst = &data,
         .metavar = "FILE",
         .help = "the source (LIBSVM/svmlight text, CSV, TSV or Criteo TSV)"},
        {.name = "out",
         .kind = SL_ARG_STR,
         .dst = &out,
         .metavar = "DIR",
         .help = "the cache directory (replaced if it holds a cache)"},
        {.name = "format",
         .kind = SL_ARG_CHOICE,
         .dst = &format,
         .metavar = "FMT",
         .help = "libsvm|csv|tsv|criteo (default: from the extension, .csv is CSV)",
         .choices = SL_FORMAT_CHOICES},
        {.name = "categorical",
         .kind = SL_ARG_STR,
         .dst = &categorical,
         .metavar = "COLS",
         .help = "csv/tsv: hash these columns (header names or 1-based ranges like 2-5,9)"},
        {.name = "hash-bits",
         .kind = SL_ARG_INT,
         .dst = &hash_bits,
         .metavar = "B",
         .help = "hashed categorical features go to 2^B indices (default 20)",
         .min = 1,
         .max = 31},
        {.name = "real-labels",
         .kind = SL_ARG_FLAG,
         .dst = &real_labels,
         .help = "keep each label's value, for train --loss squared or multinomial (default: "
                 "1/0, +1/-1)"},
        {.name = "zero-based",
         .kind = SL_ARG_FLAG,
         .dst = &zero_based,
         .help = "LIBSVM feature indices start at 0 (default 1)"},
        {.name = "n-features",
         .kind = SL_ARG_INT,
         .dst = &n_features,
         .metavar = "D",
         .help = "fix the feature count (default: largest index seen)",
         .min = 1,
         .max = 2147483647.0},
        {.name = "block-kib",
         .kind = SL_ARG_INT,
         .dst = &block_kib,
         .metavar = "K",
         .help = "KiB each checksum covers; a rank reads whole blocks (default 1024)",
         .min = 1,
         .max = 1048576},
        {.name = NULL}};
    const char *usage = "usage: mpirun -np N shardlearn convert --data FILE --out DIR [options]";
    struct sl_err err;
    sl_err_clear(&err);
    int help = 0, npos = 0;
    enum sl_status st = sl_opts_parse(opts, argc, argv, 2, NULL, 0, &npos, &help, &err);
    if (help) {
        if (c->rank == 0) sl_opts_usage(stdout, usage, opts);
        return SL_EXIT_OK;
    }
    if (!st && (!data || !out))
        st = sl_err_set(&err, SL_ERR_ARG, "convert needs --data FILE and --out DIR");
    if (st) {
        if (c->rank == 0) sl_error("%s (see shardlearn convert --help)", err.msg);
        return SL_EXIT_USAGE;
    }
    const double t0 = sl_wtime();
    struct sl_hash_spec *hash = NULL; /* the same hashing as train's (cli/hash_opts.c) */
    st = sl_cli_hash_spec(c, format, data, categorical, hash_bits, &hash, &err);
    if (!st && hash && n_features) { /* the same on every rank */
        st = SL_ERR_ARG;
        if (c->rank == 0)
            sl_err_set(&err, st,
                       "--n-features: not with hashed columns (d is 2^B plus the "
                       "numeric columns)");
    }
    const struct sl_load_opts lo = {.format = (enum sl_format)format,
                                    .zero_based = zero_based,
                                    .n_features = n_features,
                                    .hash = hash,
                                    .real_labels = real_labels,
                                    .row_keys = 1};
    struct sl_shard s;
    if (!st) st = sl_shard_load(&s, data, &lo, c, &err);
    if (!st) {
        st = sl_cache_write(&s, data, &lo, out, block_kib * 1024, c, &err);
        if (!st)
            sl_info("convert %s -> %s: %lld rows, %lld features, %lld values in %.3fs", data, out,
                    (long long)s.n_rows_global, (long long)s.n_features, (long long)s.nnz_global,
                    sl_wtime() - t0);
        sl_shard_free(&s);
    }
    sl_cli_hash_spec_destroy(hash);
    if (err.msg[0]) sl_error("%s", err.msg);
    return st == SL_OK ? SL_EXIT_OK : SL_EXIT_FAIL;
}
