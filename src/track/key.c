/* key.c - MLflow's keys and artifact paths (key.h). */
#include "track/key.h"

#include <string.h>

#define MAX_KEY 250

static int key_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || ch == '.' || ch == ' ' || ch == ':' || ch == '/';
}

/* 1 when the segment [p, p + n) is "." or "..". */
static int dot_segment(const char *p, size_t n) {
    return (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.');
}

void sl_mlflow_key(const char *in, char *out, size_t cap) {
    size_t n = 0;
    for (; in[n] && n < MAX_KEY && n + 1 < cap; n++)
        out[n] = key_char(in[n]) ? in[n] : '_';
    out[n] = '\0';
    if (n == 0 && cap > 1) {
        out[0] = '_';
        out[1] = '\0';
        return;
    }
    /* As MLflow reads it, a key is a path that must be its own normal form
     * (posixpath.normpath): no leading, trailing or doubled '/', ... */
    for (size_t i = 0; i < n; i++)
        if (out[i] == '/' && (i == 0 || i == n - 1 || out[i - 1] == '/')) out[i] = '_';
    for (size_t s = 0; s < n;) { /* ... and no "." or ".." segment */
        size_t e = s;
        while (e < n && out[e] != '/')
            e++;
        if (dot_segment(out + s, e - s)) memset(out + s, '_', e - s);
        s = e + 1;
    }
    if (out[0] == '.' && out[1] == '.') out[0] = '_'; /* MLflow refuses "...", "..a" too */
}

int sl_artifact_path_ok(const char *path) {
    if (!path || !*path || path[0] == '/') return 0;
    for (const char *s = path;;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || dot_segment(s, n)) return 0;
        if (!e) return 1;
        s = e + 1;
    }
}
