/* auth.c - Google's Application Default Credentials for Cloud Storage, in
 * the order Google's client libraries use:
 *   STORAGE_EMULATOR_HOST set       -> no credentials (an emulator);
 *   GOOGLE_APPLICATION_CREDENTIALS  -> a key file: a service account's
 *       (a JWT signed RS256 with its private key, exchanged at its
 *       token_uri) or a user's from `gcloud auth application-default login`
 *       (its refresh token, exchanged at the same endpoint);
 *   ~/.config/gcloud/application_default_credentials.json, if present;
 *   the Compute Engine metadata server (GCE_METADATA_HOST, else
 *       metadata.google.internal).
 * A token is kept until five minutes before it expires. No key, assertion
 * or token ever goes into a message. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "io/remote.h"
#include "shardlearn/fileio.h"

#define SCOPE "https://www.googleapis.com/auth/devstorage.read_write"
#define TOKEN_URI "https://oauth2.googleapis.com/token"
#define REFRESH_MARGIN_S 300

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char cached[4096]; /* the access token */
static time_t cached_until;

/* base64url without padding (RFC 7515); out must hold 4 * (n + 2) / 3 + 1. */
static void b64url(const unsigned char *in, size_t n, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n) v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        if (i + 1 < n) out[o++] = t[(v >> 6) & 63];
        if (i + 2 < n) out[o++] = t[v & 63];
    }
    out[o] = '\0';
}

static char *b64url_str(const char *s) {
    size_t n = strlen(s);
    char *out = sl_malloc(4 * (n + 2) / 3 + 1);
    b64url((const unsigned char *)s, n, out);
    return out;
}

/* RS256 over msg with a PEM private key; the base64url signature, or NULL. */
static char *sign_rs256(const char *pem, const char *msg) {
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char sig[1024];
    size_t len = sizeof sig;
    char *out = NULL;
    if (key && md && EVP_PKEY_get_size(key) <= (int)sizeof sig &&
        EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
        EVP_DigestSign(md, sig, &len, (const unsigned char *)msg, strlen(msg)) == 1) {
        out = sl_malloc(4 * (len + 2) / 3 + 1);
        b64url(sig, len, out);
    }
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    BIO_free(bio);
    return out;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* POSTs a form to a token endpoint (or GETs the metadata server when form
 * is NULL) and caches the access_token it answers. */
static enum sl_status fetch_token(const char *url, const char *form, const char *shown,
                                  struct sl_err *err) {
    struct curl_slist *h = NULL;
    if (form)
        h = curl_slist_append(h, "Content-Type: application/x-www-form-urlencoded");
    else
        h = curl_slist_append(h, "Metadata-Flavor: Google");
    /* Off Compute Engine the metadata server does not answer: a few quick
     * tries, not a minute of them. */
    struct sl_net_req rq = {.method = form ? "POST" : "GET",
                            .url = url,
                            .shown = shown,
                            .headers = h,
                            .body = form,
                            .len = form ? strlen(form) : 0,
                            .tries = form ? 0 : 3};
    struct sl_net_resp r = {0};
    enum sl_status st = sl_net_request(&rq, &r, err);
    curl_slist_free_all(h);
    if (st) return st;
    if (r.code != 200) {
        st = sl_net_fail(&r, "getting an access token", shown, err);
        sl_net_resp_free(&r);
        return st;
    }
    cJSON *j = cJSON_Parse(r.body);
    const char *tok = jstr(j, "access_token");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
    if (!tok || strlen(tok) >= sizeof cached) {
        st = sl_err_set(err, SL_ERR_IO, "%s: the answer holds no access_token", shown);
    } else {
        snprintf(cached, sizeof cached, "%s", tok);
        double s = cJSON_IsNumber(exp) ? exp->valuedouble : 3600;
        cached_until = time(NULL) + (time_t)s;
    }
    cJSON_Delete(j);
    sl_net_resp_free(&r);
    return st;
}

static char *form_escape(const char *s) {
    CURL *c = curl_easy_init();
    char *e = c ? curl_easy_escape(c, s, 0) : NULL;
    char *out = e ? strdup(e) : NULL;
    curl_free(e);
    curl_easy_cleanup(c);
    return out;
}

/* Posts form, the grant (a secret: wiped and freed here), to the key's
 * token_uri and keeps the token. */
static enum sl_status exchange(const char *uri, const char *path, char *form, struct sl_err *err) {
    char shown[600];
    snprintf(shown, sizeof shown, "%s (token_uri of %s)", uri, path);
    enum sl_status st = fetch_token(uri, form, shown, err);
    OPENSSL_cleanse(form, strlen(form));
    free(form);
    return st;
}

static enum sl_status service_account(const cJSON *key, const char *path, struct sl_err *err) {
    const char *email = jstr(key, "client_email"), *pem = jstr(key, "private_key");
    const char *uri = jstr(key, "token_uri"), *kid = jstr(key, "private_key_id");
    if (!email || !pem)
        return sl_err_set(err, SL_ERR_IO,
                          "%s: a service-account key needs client_email and private_key", path);
    if (!uri) uri = TOKEN_URI;
    char head[512], claims[2048];
    snprintf(head, sizeof head, "{\"alg\":\"RS256\",\"typ\":\"JWT\"%s%.200s%s}",
             kid ? ",\"kid\":\"" : "", kid ? kid : "", kid ? "\"" : "");
    long now = (long)time(NULL);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%.500s\",\"scope\":\"%s\",\"aud\":\"%.1000s\",\"iat\":%ld,\"exp\":%ld}",
             email, SCOPE, uri, now, now + 3600);
    char *h64 = b64url_str(head), *c64 = b64url_str(claims);
    size_t n = strlen(h64) + strlen(c64) + 2;
    char *unsigned_jwt = sl_malloc(n);
    snprintf(unsigned_jwt, n, "%s.%s", h64, c64);
    char *sig = sign_rs256(pem, unsigned_jwt);
    enum sl_status st;
    if (!sig) {
        st = sl_err_set(err, SL_ERR_IO,
                        "%s: cannot sign with private_key (not an RSA key in PEM form?)", path);
    } else {
        size_t fn = n + strlen(sig) + 128;
        char *form = sl_malloc(fn);
        snprintf(
            form, fn,
            "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-bearer&assertion=%s.%s",
            unsigned_jwt, sig);
        st = exchange(uri, path, form, err);
        free(sig);
    }
    free(h64);
    free(c64);
    free(unsigned_jwt);
    return st;
}

static enum sl_status authorized_user(const cJSON *key, const char *path, struct sl_err *err) {
    const char *id = jstr(key, "client_id"), *secret = jstr(key, "client_secret");
    const char *refresh = jstr(key, "refresh_token"), *uri = jstr(key, "token_uri");
    if (!id || !secret || !refresh)
        return sl_err_set(err, SL_ERR_IO,
                          "%s: user credentials need client_id, client_secret and refresh_token",
                          path);
    if (!uri) uri = TOKEN_URI;
    char *eid = form_escape(id), *esec = form_escape(secret), *eref = form_escape(refresh);
    enum sl_status st = SL_OK;
    if (!eid || !esec || !eref) {
        st = sl_err_set(err, SL_ERR_IO, "%s: cannot encode the credentials", path);
    } else {
        size_t fn = strlen(eid) + strlen(esec) + strlen(eref) + 128;
        char *form = sl_malloc(fn);
        snprintf(form, fn,
                 "grant_type=refresh_token&client_id=%s&client_secret=%s&refresh_token=%s", eid,
                 esec, eref);
        st = exchange(uri, path, form, err);
    }
    free(eid);
    free(esec);
    free(eref);
    return st;
}

static enum sl_status from_key_file(const char *path, struct sl_err *err) {
    size_t len = 0;
    char *text = sl_read_file(path, &len);
    if (!text) return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
    cJSON *key = cJSON_Parse(text);
    OPENSSL_cleanse(text, len);
    free(text);
    const char *type = jstr(key, "type");
    enum sl_status st;
    if (!key)
        st = sl_err_set(err, SL_ERR_IO, "%s: not a JSON credentials file", path);
    else if (type && strcmp(type, "service_account") == 0)
        st = service_account(key, path, err);
    else if (type && strcmp(type, "authorized_user") == 0)
        st = authorized_user(key, path, err);
    else
        st = sl_err_set(err, SL_ERR_IO,
                        "%s: credentials of type \"%.60s\" are not supported (service_account or "
                        "authorized_user)",
                        path, type ? type : "?");
    cJSON_Delete(key);
    return st;
}

static enum sl_status from_metadata(struct sl_err *err) {
    const char *host = getenv("GCE_METADATA_HOST");
    if (!host || !*host) host = "metadata.google.internal";
    char url[1024];
    snprintf(url, sizeof url,
             "http://%.200s/computeMetadata/v1/instance/service-accounts/default/token", host);
    struct sl_err why = {{0}};
    enum sl_status st = fetch_token(url, NULL, url, &why);
    if (st)
        sl_err_set(err, st,
                   "no Google credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, and the "
                   "metadata server failed (%.600s)",
                   why.msg);
    return st;
}

static enum sl_status refresh(struct sl_err *err) {
    const char *path = getenv("GOOGLE_APPLICATION_CREDENTIALS");
    if (path && *path) return from_key_file(path, err);
    const char *home = getenv("HOME");
    char wk[4096];
    snprintf(wk, sizeof wk, "%s/.config/gcloud/application_default_credentials.json",
             home ? home : "");
    FILE *f = home && *home ? fopen(wk, "r") : NULL;
    if (f) {
        fclose(f);
        return from_key_file(wk, err);
    }
    return from_metadata(err);
}

enum sl_status sl_gcs_auth_header(const char *shown, char *hdr, size_t cap, struct sl_err *err) {
    const char *emu = getenv("STORAGE_EMULATOR_HOST");
    if (emu && *emu) {
        hdr[0] = '\0';
        return SL_OK;
    }
    enum sl_status st = SL_OK;
    pthread_mutex_lock(&lock);
    if (!cached[0] || time(NULL) + REFRESH_MARGIN_S >= cached_until) {
        st = refresh(err);
        /* A refresh that fails early, while the old token still holds,
         * costs nothing yet: the next request tries again. */
        if (st && cached[0] && time(NULL) + 30 < cached_until) {
            sl_err_clear(err);
            st = SL_OK;
        }
    }
    if (!st) snprintf(hdr, cap, "Authorization: Bearer %s", cached);
    pthread_mutex_unlock(&lock);
    if (st) {
        struct sl_err why = *err;
        sl_err_set(err, st, "%.300s: %.700s", shown, why.msg);
    }
    return st;
}

void sl_gcs_auth_forget(void) {
    pthread_mutex_lock(&lock);
    OPENSSL_cleanse(cached, sizeof cached);
    cached_until = 0;
    pthread_mutex_unlock(&lock);
}
