/* gcs.c - gs://bucket/path through the Cloud Storage JSON API: objects.get
 * and objects.list to list (sizes and generations), the media URL pinned to
 * a generation to read, and a single-request upload to write. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "io/remote.h"

void sl_gcs_base(char *buf, size_t cap) {
    const char *emu = getenv("STORAGE_EMULATOR_HOST");
    /* gcloud's override names the JSON API's root (.../storage/v1/); the
     * upload and download paths hang off the same host. */
    const char *over = getenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE");
    if (emu && *emu)
        snprintf(buf, cap, "%s%s", strstr(emu, "://") ? "" : "http://", emu);
    else if (over && *over)
        snprintf(buf, cap, "%s", over);
    else
        snprintf(buf, cap, "https://storage.googleapis.com");
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '/')
        buf[--n] = '\0';
    const char *api = "/storage/v1";
    if (n >= strlen(api) && strcmp(buf + n - strlen(api), api) == 0) buf[n - strlen(api)] = '\0';
}

int sl_gcs_split(const char *spec, char *bucket, size_t bcap, char *path, size_t pcap) {
    if (strncmp(spec, "gs://", 5) != 0) return 0;
    const char *b = spec + 5, *slash = strchr(b, '/');
    size_t bn = slash ? (size_t)(slash - b) : strlen(b);
    if (bn == 0 || bn >= bcap) return 0;
    memcpy(bucket, b, bn);
    bucket[bn] = '\0';
    snprintf(path, pcap, "%s", slash ? slash + 1 : "");
    return 1;
}

/* Percent-encodes s (an object name: '/' too, as the API wants); caller
 * frees with curl_free. */
static char *enc(const char *s) {
    CURL *c = curl_easy_init();
    char *e = c ? curl_easy_escape(c, s, 0) : NULL;
    curl_easy_cleanup(c);
    return e;
}

/* The API's base, then head, the encoded bucket, mid and the encoded name
 * (none when NULL); the caller frees. */
static char *api_url(const char *head, const char *bucket, const char *mid, const char *name) {
    char base[512];
    sl_gcs_base(base, sizeof base);
    char *eb = enc(bucket), *en = name ? enc(name) : NULL;
    size_t cap = strlen(base) + strlen(head) + strlen(eb) + strlen(mid) + (en ? strlen(en) : 0) + 1;
    char *url = sl_malloc(cap);
    snprintf(url, cap, "%s%s%s%s%s", base, head, eb, mid, en ? en : "");
    curl_free(eb);
    curl_free(en);
    return url;
}

void sl_gcs_media_url(const struct sl_io_object *o, char *url, size_t cap) {
    char bucket[256], path[SL_IO_NAME], base[512];
    sl_gcs_split(o->name, bucket, sizeof bucket, path, sizeof path);
    sl_gcs_base(base, sizeof base);
    char *eb = enc(bucket), *ep = enc(path);
    /* ifGenerationMatch: GCS answers 412 once the object was replaced. */
    snprintf(url, cap, "%s/storage/v1/b/%s/o/%s?alt=media&ifGenerationMatch=%lld", base,
             eb ? eb : "", ep ? ep : "", (long long)o->version);
    curl_free(eb);
    curl_free(ep);
}

static enum sl_codec codec_of(const char *name) {
    size_t n = strlen(name);
    if (n > 3 && strcmp(name + n - 3, ".gz") == 0) return SL_CODEC_GZIP;
    if (n > 4 && strcmp(name + n - 4, ".zst") == 0) return SL_CODEC_ZSTD;
    return SL_CODEC_NONE;
}

/* One request with the credentials' header; the answer in r. */
static enum sl_status api_call(const char *method, const char *url, const char *shown,
                               const char *content_type, const void *body, size_t len,
                               struct sl_net_resp *r, struct sl_err *err) {
    char auth[4200];
    enum sl_status st = sl_gcs_auth_header(shown, auth, sizeof auth, err);
    if (st) return st;
    struct curl_slist *h = NULL;
    if (auth[0]) h = curl_slist_append(h, auth);
    char ct[300];
    if (content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %.250s", content_type);
        h = curl_slist_append(h, ct);
    }
    struct sl_net_req rq = {
        .method = method, .url = url, .shown = shown, .headers = h, .body = body, .len = len};
    st = sl_net_request(&rq, r, err);
    curl_slist_free_all(h);
    if (!st && r->code == 401) sl_gcs_auth_forget();
    return st;
}

static int64_t jnum_str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsString(v)) return strtoll(v->valuestring, NULL, 10);
    if (cJSON_IsNumber(v)) return (int64_t)v->valuedouble;
    return -1;
}

/* Fills o from an object resource; 0 when it lacks name, size or generation
 * or its URL does not fit. */
static int from_resource(struct sl_io_object *o, const char *bucket, const cJSON *res) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(res, "name");
    if (!cJSON_IsString(name)) return 0;
    memset(o, 0, sizeof *o);
    int n = snprintf(o->name, sizeof o->name, "gs://%s/%s", bucket, name->valuestring);
    if (n < 0 || (size_t)n >= sizeof o->name) return 0;
    o->kind = SL_IO_GCS;
    o->codec = codec_of(name->valuestring);
    o->size = jnum_str(res, "size");
    o->version = jnum_str(res, "generation");
    return o->size >= 0 && o->version > 0;
}

struct listing {
    struct sl_io_list *out;
    int64_t cap;
    const char *bucket, *dir, *pattern; /* pattern: the glob in the last component, or NULL */
};

/* Adds the items of one page that are data (not hidden, not markers, not
 * empty, matching the glob). */
static enum sl_status add_page(struct listing *ls, const cJSON *page, const char *spec,
                               struct sl_err *err) {
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(page, "items")) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
        if (!cJSON_IsString(name) || strncmp(name->valuestring, ls->dir, strlen(ls->dir)) != 0)
            continue;
        const char *rel = name->valuestring + strlen(ls->dir);
        if (!*rel || strchr(rel, '/') || rel[0] == '.' || rel[0] == '_') continue;
        if (ls->pattern && fnmatch(ls->pattern, rel, FNM_PERIOD) != 0) continue;
        if (jnum_str(item, "size") == 0) continue;
        if (ls->out->n == ls->cap) {
            ls->cap = ls->cap ? 2 * ls->cap : 16;
            ls->out->obj = sl_realloc(ls->out->obj, (size_t)ls->cap * sizeof *ls->out->obj);
        }
        if (!from_resource(&ls->out->obj[ls->out->n], ls->bucket, item))
            return sl_err_set(err, SL_ERR_IO,
                              "%s: the listing of %.200s is malformed or its name too long", spec,
                              name->valuestring);
        ls->out->n++;
    }
    return SL_OK;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const struct sl_io_object *)a)->name, ((const struct sl_io_object *)b)->name);
}

/* objects.list under prefix, one level deep (delimiter "/"), every page. */
static enum sl_status list_prefix(struct listing *ls, const char *prefix, const char *spec,
                                  struct sl_err *err) {
    char base[512], *token = NULL;
    sl_gcs_base(base, sizeof base);
    char *eb = enc(ls->bucket), *ep = enc(prefix);
    enum sl_status st = SL_OK;
    do {
        char *et = token ? enc(token) : NULL;
        size_t cap = strlen(base) + strlen(eb) + strlen(ep) + (et ? strlen(et) : 0) + 128;
        char *url = sl_malloc(cap);
        snprintf(url, cap, "%s/storage/v1/b/%s/o?prefix=%s&delimiter=%%2F&maxResults=1000%s%s",
                 base, eb, ep, et ? "&pageToken=" : "", et ? et : "");
        curl_free(et);
        struct sl_net_resp r = {0};
        st = api_call("GET", url, spec, NULL, NULL, 0, &r, err);
        free(url);
        free(token);
        token = NULL;
        if (!st && r.code != 200) st = sl_net_fail(&r, "listing", spec, err);
        cJSON *page = st ? NULL : cJSON_Parse(r.body);
        if (!st && !page) st = sl_err_set(err, SL_ERR_IO, "%s: the listing is not JSON", spec);
        if (!st) st = add_page(ls, page, spec, err);
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(page, "nextPageToken");
        if (!st && cJSON_IsString(next) && *next->valuestring) token = strdup(next->valuestring);
        cJSON_Delete(page);
        sl_net_resp_free(&r);
    } while (!st && token);
    free(token);
    curl_free(eb);
    curl_free(ep);
    return st;
}

/* objects.get of path: SL_OK with *found = 1 and out holding it, or
 * *found = 0 when there is no such object. */
static enum sl_status get_object(struct sl_io_list *out, const char *bucket, const char *path,
                                 const char *spec, int *found, struct sl_err *err) {
    char *url = api_url("/storage/v1/b/", bucket, "/o/", path);
    struct sl_net_resp r = {0};
    enum sl_status st = api_call("GET", url, spec, NULL, NULL, 0, &r, err);
    free(url);
    *found = 0;
    if (!st && r.code == 200) {
        cJSON *res = cJSON_Parse(r.body);
        out->obj = sl_calloc(1, sizeof *out->obj);
        if (!res || !from_resource(&out->obj[0], bucket, res))
            st = sl_err_set(err, SL_ERR_IO, "%s: the object's metadata is malformed", spec);
        else
            out->n = *found = 1;
        cJSON_Delete(res);
    } else if (!st && r.code != 404) {
        st = sl_net_fail(&r, "reading the metadata", spec, err);
    }
    sl_net_resp_free(&r);
    return st;
}

enum sl_status sl_gcs_list(struct sl_io_list *out, const char *spec, struct sl_err *err) {
    char bucket[256], path[SL_IO_NAME];
    *out = (struct sl_io_list){0};
    if (!sl_gcs_split(spec, bucket, sizeof bucket, path, sizeof path))
        return sl_err_set(err, SL_ERR_ARG, "%s: not a gs://bucket/path URL", spec);
    const char *last = strrchr(path, '/');
    last = last ? last + 1 : path;
    if (strpbrk(path, "*?[") && strpbrk(path, "*?[") < last)
        return sl_err_set(err, SL_ERR_ARG, "%s: a glob may only be in the last component", spec);
    const int glob = strpbrk(last, "*?[") != NULL;
    enum sl_status st;
    if (*last && !glob) {
        int found = 0;
        st = get_object(out, bucket, path, spec, &found, err);
        if (st || found) return st;
    }
    /* dir: the "folder" listed, with its '/'; prefix: what objects.list
     * narrows to (dir plus the glob's literal start). */
    char dir[SL_IO_NAME], prefix[SL_IO_NAME];
    if (glob) {
        snprintf(dir, sizeof dir, "%.*s", (int)(last - path), path);
        snprintf(prefix, sizeof prefix, "%s%.*s", dir, (int)strcspn(last, "*?[\\"), last);
    } else {
        snprintf(dir, sizeof dir, "%s%s", path, *path && !*last ? "" : (*path ? "/" : ""));
        snprintf(prefix, sizeof prefix, "%s", dir);
    }
    struct listing ls = {.out = out, .bucket = bucket, .dir = dir, .pattern = glob ? last : NULL};
    st = list_prefix(&ls, prefix, spec, err);
    if (!st && out->n == 0)
        st = sl_err_set(err, SL_ERR_IO, "%s: no such object, and no data objects %s", spec,
                        glob ? "match the glob" : "under it");
    if (st) {
        free(out->obj);
        *out = (struct sl_io_list){0};
        return st;
    }
    qsort(out->obj, (size_t)out->n, sizeof *out->obj, by_name);
    return SL_OK;
}

/* An output's bucket and object name. */
static enum sl_status split_dest(const char *dest, char *bucket, char *path, struct sl_err *err) {
    if (!sl_gcs_split(dest, bucket, 256, path, SL_IO_NAME) || !*path ||
        path[strlen(path) - 1] == '/')
        return sl_err_set(err, SL_ERR_ARG, "%s: an output needs gs://bucket/object", dest);
    return SL_OK;
}

/* GET base/storage/v1/b/BUCKET + tail; the answer in r. */
static enum sl_status bucket_call(const char *bucket, const char *tail, const char *shown,
                                  struct sl_net_resp *r, struct sl_err *err) {
    char *url = api_url("/storage/v1/b/", bucket, tail, NULL);
    enum sl_status st = api_call("GET", url, shown, NULL, NULL, 0, r, err);
    free(url);
    return st;
}

/* Whether the permissions object of a testPermissions answer holds p. */
static int holds(const char *body, const char *p) {
    cJSON *res = cJSON_Parse(body);
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(res, "permissions"), *e;
    int yes = 0;
    cJSON_ArrayForEach(e, ps) yes |= cJSON_IsString(e) && strcmp(e->valuestring, p) == 0;
    cJSON_Delete(res);
    return yes;
}

/* buckets.testIamPermissions needs no permission of its own, so it answers
 * for the credentials whatever their roles. A server without it (an
 * emulator) gets buckets.get instead, which tells only that the bucket
 * exists; a 403 there (no storage.buckets.get, which object roles lack) is
 * no reason to refuse. */
enum sl_status sl_gcs_check_dest(const char *dest, struct sl_err *err) {
    char bucket[256], path[SL_IO_NAME];
    enum sl_status st = split_dest(dest, bucket, path, err);
    if (st) return st;
    static const char CREATE[] = "storage.objects.create";
    struct sl_net_resp r = {0};
    st = bucket_call(bucket, "/iam/testPermissions?permissions=storage.objects.create", dest, &r,
                     err);
    if (!st && r.code == 200 && !holds(r.body, CREATE))
        st = sl_err_set(err, SL_ERR_IO,
                        "%s: these credentials may not create objects in bucket %s (%s)", dest,
                        bucket, CREATE);
    else if (!st && r.code == 401)
        st = sl_net_fail(&r, "checking the bucket", dest, err);
    else if (!st && r.code != 200) {
        sl_net_resp_free(&r);
        r = (struct sl_net_resp){0};
        st = bucket_call(bucket, "", dest, &r, err);
        if (!st && r.code == 404)
            st = sl_err_set(err, SL_ERR_IO, "%s: there is no bucket %s", dest, bucket);
        else if (!st && r.code == 401)
            st = sl_net_fail(&r, "checking the bucket", dest, err);
    }
    sl_net_resp_free(&r);
    return st;
}

enum sl_status sl_gcs_put(const char *dest, const void *data, size_t len, const char *content_type,
                          struct sl_err *err) {
    char bucket[256], path[SL_IO_NAME];
    enum sl_status st = split_dest(dest, bucket, path, err);
    if (st) return st;
    /* One request: GCS makes the object visible only once all of it is
     * stored, so a failed upload leaves what was there before. */
    char *url = api_url("/upload/storage/v1/b/", bucket, "/o?uploadType=media&name=", path);
    struct sl_net_resp r = {0};
    st = api_call("POST", url, dest, content_type ? content_type : "application/octet-stream", data,
                  len, &r, err);
    free(url);
    if (!st && r.code != 200) st = sl_net_fail(&r, "upload", dest, err);
    sl_net_resp_free(&r);
    return st;
}
