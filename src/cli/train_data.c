/* train_data.c - the data sets of a training run as MLflow shows them
 * (Datasets panel: name, source, digest, schema, profile) and as
 * metrics.json records them. The digest is the source's CRC-32 that the
 * ranks computed while parsing (sl_shard.file_crc32: of a directory's files
 * as stored, concatenated in name order) and its size: the same for any
 * rank count, different when one byte changes. */
/* realpath is XSI: glibc declares it only under _XOPEN_SOURCE. */
#define _XOPEN_SOURCE 700
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/train.h"

void train_data_digest(const struct sl_shard *s, char out[TRAIN_DIGEST_LEN]) {
    /* 8 + 1 + at most 19 characters: within MLflow's 36 for a digest. */
    snprintf(out, TRAIN_DIGEST_LEN, "%08x-%lld", (unsigned)s->file_crc32, (long long)s->file_bytes);
}

/* JSON text of o, which is deleted. Caller frees with cJSON_free. */
static char *json_text(cJSON *o) {
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return t;
}

const char *train_format_name(const struct train_args *a, const struct sl_shard *s) {
    const enum sl_format f =
        a->format == SL_FORMAT_AUTO ? sl_format_of_source(a->data) : (enum sl_format)a->format;
    if (f == SL_FORMAT_TSV) return "tsv";
    if (f == SL_FORMAT_CRITEO) return "criteo";
    return s->dense || a->categorical ? "csv" : "libsvm";
}

static void log_one(struct sl_tracker *tr, const char *path, const struct sl_shard *s,
                    const char *format, const char *context) {
    char digest[TRAIN_DIGEST_LEN], abs[PATH_MAX], crc[16];
    train_data_digest(s, digest);
    snprintf(crc, sizeof crc, "%08x", (unsigned)s->file_crc32);
    /* A file or a directory by its absolute path; a glob or a URL as given. */
    const char *uri = realpath(path, abs) ? abs : path;
    /* The name: the last component ("parts" of "data/parts/"). */
    char name[256];
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t at = n;
    while (at > 0 && path[at - 1] != '/')
        at--;
    snprintf(name, sizeof name, "%.*s", (int)(n - at), path + at);
    cJSON *src = cJSON_CreateObject(), *schema = cJSON_CreateObject(),
          *profile = cJSON_CreateObject();
    cJSON_AddStringToObject(src, "uri", uri);
    cJSON_AddStringToObject(schema, "format", format);
    cJSON_AddNumberToObject(schema, "rows", (double)s->n_rows_global);
    cJSON_AddNumberToObject(schema, "features", (double)s->n_features);
    cJSON_AddNumberToObject(schema, "nnz", (double)s->nnz_global);
    cJSON_AddNumberToObject(profile, "num_rows", (double)s->n_rows_global);
    cJSON_AddNumberToObject(profile, "num_elements", (double)s->nnz_global);
    cJSON_AddNumberToObject(profile, "bytes", (double)s->file_bytes);
    cJSON_AddStringToObject(profile, "crc32", crc);
    char *src_s = json_text(src), *schema_s = json_text(schema), *profile_s = json_text(profile);
    const struct sl_track_dataset d = {.name = name,
                                       .digest = digest,
                                       .source_type = "local",
                                       .source = src_s,
                                       .schema = schema_s,
                                       .profile = profile_s,
                                       .context = context};
    sl_tracker_dataset(tr, &d);
    cJSON_free(src_s);
    cJSON_free(schema_s);
    cJSON_free(profile_s);
}

void train_log_datasets(struct sl_tracker *tr, const struct train_args *a,
                        const struct sl_shard *shard, const struct sl_shard *val) {
    if (!tr) return;
    const char *format = train_format_name(a, shard);
    log_one(tr, a->data, shard, format, "training");
    if (a->validation) log_one(tr, a->validation, val, format, "validation");
}

void train_write_datasets(FILE *f, const struct train_args *a, const struct sl_shard *shard,
                          const struct sl_shard *val) {
    char digest[TRAIN_DIGEST_LEN];
    train_data_digest(shard, digest);
    fprintf(f, " \"data\": {\"digest\": \"%s\", \"crc32\": \"%08x\", \"bytes\": %lld}", digest,
            (unsigned)shard->file_crc32, (long long)shard->file_bytes);
    if (a->validation) {
        train_data_digest(val, digest);
        fprintf(f,
                ", \"validation_data\": {\"digest\": \"%s\", \"crc32\": \"%08x\", \"bytes\": %lld}",
                digest, (unsigned)val->file_crc32, (long long)val->file_bytes);
    }
    fputs(",\n", f);
}
