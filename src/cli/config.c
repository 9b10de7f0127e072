/* config.c - `train --config FILE`: reads a JSON (cJSON) or YAML (libyaml)
 * file of options into the option table, through the same checks as the
 * command line (sl_opt_set).
 *
 * Rank 0 reads the file and broadcasts its bytes; every rank then parses
 * the same bytes, so the ranks agree on every value and every error without
 * another collective, and the file need only exist where rank 0 runs.
 * Values are typed strictly, the same way in both formats: a YAML scalar is
 * typed by YAML 1.2's core schema (plain 0.1 is a number, "0.1" a string),
 * a JSON number keeps its literal text, so an integer is exact. */
#include "cli/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

enum vkind { V_NULL, V_BOOL, V_NUM, V_STR, V_LIST, V_MAP };

/* One value of the file, before it meets its option. */
struct value {
    enum vkind kind;
    const char *text; /* BOOL: "true"/"false"; NUM: the literal; STR: the string */
    size_t len;
    int line; /* of its key, from 1; 0: unknown */
};

struct loader {
    const struct sl_opt *t;
    const char *skip, *path;
    struct sl_config *cfg;
    int *seen; /* per row of t: the line it was set on, or -1 */
    struct sl_err *err;
};

static enum sl_status fail(struct loader *L, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "path:line: message" (or "path: message" when the line is unknown). */
static enum sl_status fail(struct loader *L, int line, const char *fmt, ...) {
    char msg[sizeof L->err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *q = msg; *q; q++) /* keys and values may hold line breaks: one line */
        if ((unsigned char)*q < 32) *q = '?';
    if (line > 0) return sl_err_set(L->err, SL_ERR_ARG, "%s:%d: %s", L->path, line, msg);
    return sl_err_set(L->err, SL_ERR_ARG, "%s: %s", L->path, msg);
}

static const char *kind_name(enum vkind k) {
    static const char *const names[] = {"null",     "a boolean", "a number",
                                        "a string", "a list",    "a mapping"};
    return names[k];
}

/* A key that is no option: the option it most likely meant, if any. */
static enum sl_status unknown_key(struct loader *L, const char *key, int line) {
    char alt[128];
    snprintf(alt, sizeof alt, "%s", key + (strncmp(key, "--", 2) == 0 ? 2 : 0));
    for (char *p = alt; *p; p++)
        if (*p == '_') *p = '-';
    if (strcmp(alt, key) != 0 && sl_opt_find(L->t, alt) && strcmp(alt, L->skip) != 0)
        return fail(L, line, "unknown option '%.64s' (did you mean '%s'?)", key, alt);
    return fail(L, line, "unknown option '%.64s'", key);
}

/* Sets the option called key from v. */
static enum sl_status apply(struct loader *L, const char *key, const struct value *v) {
    const struct sl_opt *o = sl_opt_find(L->t, key);
    if (o && strcmp(key, L->skip) == 0)
        return fail(L, v->line, "'%s' cannot be set in a config file", key);
    if (!o) return unknown_key(L, key, v->line);
    const size_t row = (size_t)(o - L->t);
    if (L->seen[row] >= 0)
        return fail(L, v->line, "%s: given twice (also on line %d)", key, L->seen[row]);
    L->seen[row] = v->line;
    if (v->kind == V_NULL) return SL_OK; /* not set: the command line or the default decides */
    const int number = o->kind == SL_ARG_INT || o->kind == SL_ARG_F64;
    const enum vkind want = o->kind == SL_ARG_FLAG ? V_BOOL : number ? V_NUM : V_STR;
    /* A string option takes a number as its text too (l2: 1e-4, or a list "1e-3,1e-4"). */
    if (v->kind != want && !(want == V_STR && v->kind == V_NUM)) {
        const int scalar = v->kind != V_LIST && v->kind != V_MAP;
        return fail(L, v->line, "%s: must be %s, not %s%s%.*s%s%s", key,
                    want == V_BOOL ? "true or false" : kind_name(want), kind_name(v->kind),
                    scalar ? " '" : "", scalar ? (int)(v->len < 40 ? v->len : 40) : 0, v->text,
                    scalar ? "'" : "", want == V_STR && scalar ? " (quote it)" : "");
    }
    if (memchr(v->text, '\0', v->len))
        return fail(L, v->line, "%s: the value holds a NUL byte", key);
    char *s = sl_malloc(v->len + 1);
    memcpy(s, v->text, v->len);
    s[v->len] = '\0';
    struct sl_config *cfg = L->cfg;
    cfg->strs = sl_realloc(cfg->strs, (cfg->n_strs + 1) * sizeof *cfg->strs);
    cfg->strs[cfg->n_strs++] = s; /* STR options keep pointing into it */
    struct sl_err e;
    sl_err_clear(&e);
    if (sl_opt_set(o, s, key, &e) != SL_OK) return fail(L, v->line, "%s", e.msg);
    return SL_OK;
}

/* ---- JSON --------------------------------------------------------------- */

/* cJSON keeps no positions and turns numbers into doubles, so the text that
 * cJSON accepted is walked again for each top-level member's line and its
 * value's literal text. Whitespace is what cJSON skips: any byte <= 32. */
struct jwalk {
    const char *p, *end;
    int line;
};

static void jw_ws(struct jwalk *w) {
    for (; w->p < w->end && (unsigned char)*w->p <= 32; w->p++)
        w->line += *w->p == '\n';
}

static void jw_string(struct jwalk *w) { /* at the opening quote */
    for (w->p++; w->p < w->end && *w->p != '"'; w->p++) {
        if (*w->p == '\\' && w->p + 1 < w->end) w->p++;
        w->line += *w->p == '\n';
    }
    if (w->p < w->end) w->p++;
}

static void jw_value(struct jwalk *w) {
    if (w->p < w->end && (*w->p == '{' || *w->p == '[')) {
        int depth = 0;
        do {
            if (*w->p == '"') {
                jw_string(w);
                continue;
            }
            depth += (*w->p == '{' || *w->p == '[') - (*w->p == '}' || *w->p == ']');
            w->line += *w->p == '\n';
            w->p++;
        } while (depth > 0 && w->p < w->end);
    } else if (w->p < w->end && *w->p == '"') {
        jw_string(w);
    } else {
        while (w->p < w->end && (unsigned char)*w->p > 32 && !strchr(",}]", *w->p))
            w->p++;
    }
}

/* The next member: its key's line and its value's text; -1 when none is left. */
static int jw_member(struct jwalk *w, int *line, const char **val, size_t *val_len) {
    jw_ws(w);
    if (w->p < w->end && (*w->p == '{' || *w->p == ',')) w->p++;
    jw_ws(w);
    if (w->p >= w->end || *w->p != '"') return -1;
    *line = w->line;
    jw_string(w);
    jw_ws(w);
    if (w->p >= w->end || *w->p != ':') return -1;
    w->p++;
    jw_ws(w);
    *val = w->p;
    jw_value(w);
    *val_len = (size_t)(w->p - *val);
    return 0;
}

static int line_of(const char *text, size_t off) {
    int line = 1;
    for (size_t i = 0; i < off; i++)
        line += text[i] == '\n';
    return line;
}

static struct value json_value(const cJSON *it, const char *raw, size_t raw_len, int line) {
    struct value v = {.kind = V_NULL, .text = "", .len = 0, .line = line};
    if (cJSON_IsBool(it)) {
        v.kind = V_BOOL;
        v.text = cJSON_IsTrue(it) ? "true" : "false";
    } else if (cJSON_IsNumber(it)) {
        v.kind = V_NUM;
        v.text = raw;
    } else if (cJSON_IsString(it)) {
        v.kind = V_STR;
        v.text = it->valuestring;
    } else if (cJSON_IsArray(it)) {
        v.kind = V_LIST;
    } else if (cJSON_IsObject(it)) {
        v.kind = V_MAP;
    }
    v.len = v.kind == V_NUM ? raw_len : strlen(v.text);
    return v;
}

static enum sl_status load_json(struct loader *L, const char *text, size_t len) {
    const char *stop = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len + 1, &stop, 1);
    if (!root) {
        const size_t off = stop && stop >= text && stop <= text + len ? (size_t)(stop - text) : 0;
        const char *bol = off ? text + off : text;
        while (bol > text && bol[-1] != '\n')
            bol--;
        return fail(L, line_of(text, off), "not valid JSON (column %d)",
                    (int)(text + off - bol) + 1);
    }
    enum sl_status st = SL_OK;
    struct jwalk w = {.p = text, .end = text + len, .line = 1};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) w.p += 3;
    if (!cJSON_IsObject(root)) {
        jw_ws(&w);
        st = fail(L, w.line, "the top level must be an object of option names and values");
    }
    for (const cJSON *it = cJSON_IsObject(root) ? root->child : NULL; it && !st; it = it->next) {
        int line = 0;
        const char *raw = "";
        size_t raw_len = 0;
        if (jw_member(&w, &line, &raw, &raw_len) != 0) w.p = w.end; /* lines unknown from here */
        if (cJSON_IsNumber(it) && !raw_len) {
            st = fail(L, 0, "%s: cannot find the number's text", it->string);
            break;
        }
        const struct value v = json_value(it, raw, raw_len, line);
        st = apply(L, it->string, &v);
    }
    cJSON_Delete(root);
    return st;
}

/* ---- YAML --------------------------------------------------------------- */

static int one_of(const char *s, const char *const *set) {
    for (; *set; set++)
        if (strcmp(s, *set) == 0) return 1;
    return 0;
}

static size_t digits(const char *s) {
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    return n;
}

/* YAML 1.2 core schema: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?,
 * 0x.. and 0o.. integers, .inf and .nan. */
static int core_number(const char *s) {
    static const char *const special[] = {".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf",
                                          "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
                                          ".NaN",  ".NAN",  NULL};
    if (one_of(s, special)) return 1;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o') && s[2]) {
        const char *ok = s[1] == 'x' ? "0123456789abcdefABCDEF" : "01234567";
        return strspn(s + 2, ok) == strlen(s + 2);
    }
    if (*s == '-' || *s == '+') s++;
    size_t n = digits(s);
    s += n;
    if (*s == '.') {
        size_t f = digits(s + 1);
        if (!n && !f) return 0;
        s += 1 + f;
    } else if (!n) {
        return 0;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+') s++;
        n = digits(s);
        if (!n) return 0;
        s += n;
    }
    return *s == '\0';
}

/* A plain (unquoted) scalar's type under the core schema. */
static enum vkind core_kind(const char *s, const char **bool_text) {
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    if (one_of(s, nulls)) return V_NULL;
    if (one_of(s, trues) || one_of(s, falses)) {
        *bool_text = one_of(s, trues) ? "true" : "false";
        return V_BOOL;
    }
    return core_number(s) ? V_NUM : V_STR;
}

/* The value event e as a value; -1 for what no option takes (alias, tag). */
static int yaml_value(const yaml_event_t *e, struct value *v, const char **why) {
    *why = NULL;
    if (e->type == YAML_SEQUENCE_START_EVENT || e->type == YAML_MAPPING_START_EVENT) {
        v->kind = e->type == YAML_SEQUENCE_START_EVENT ? V_LIST : V_MAP;
        return 0;
    }
    if (e->type != YAML_SCALAR_EVENT) {
        *why = "an alias (*name) is not supported here";
        return -1;
    }
    const char *s = (const char *)e->data.scalar.value, *tag = (const char *)e->data.scalar.tag;
    v->text = s;
    v->len = e->data.scalar.length;
    const char *b = "false";
    if (tag && strcmp(tag, "!") != 0) {
        static const char *const tags[] = {"tag:yaml.org,2002:null", "tag:yaml.org,2002:bool",
                                           "tag:yaml.org,2002:int",  "tag:yaml.org,2002:float",
                                           "tag:yaml.org,2002:str",  NULL};
        const enum vkind kinds[] = {V_NULL, V_BOOL, V_NUM, V_NUM, V_STR};
        int i = 0;
        while (tags[i] && strcmp(tags[i], tag) != 0)
            i++;
        if (!tags[i]) {
            *why = "a value with this tag is not supported";
            return -1;
        }
        v->kind = kinds[i];
        if (v->kind == V_BOOL && core_kind(s, &b) != V_BOOL) {
            *why = "a !!bool must be true or false";
            return -1;
        }
    } else {
        v->kind = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? core_kind(s, &b) : V_STR;
    }
    if (v->kind == V_BOOL) {
        v->text = b;
        v->len = strlen(b);
    }
    return 0;
}

static enum sl_status yaml_error(struct loader *L, const yaml_parser_t *p) {
    char ctx[160] = "";
    if (p->context)
        snprintf(ctx, sizeof ctx, "%s (from line %d): ", p->context, (int)p->context_mark.line + 1);
    return fail(L, (int)p->problem_mark.line + 1, "not valid YAML: %s%s (column %d)", ctx,
                p->problem ? p->problem : "error", (int)p->problem_mark.column + 1);
}

/* The pairs of the top-level mapping, up to its end. */
static enum sl_status yaml_pairs(struct loader *L, yaml_parser_t *p) {
    for (;;) {
        yaml_event_t k, e;
        if (!yaml_parser_parse(p, &k)) return yaml_error(L, p);
        const int line = (int)k.start_mark.line + 1;
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&k);
            return SL_OK;
        }
        if (k.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&k);
            return fail(L, line, "a key must be an option name");
        }
        if (!yaml_parser_parse(p, &e)) {
            yaml_event_delete(&k);
            return yaml_error(L, p);
        }
        struct value v = {.line = line, .text = ""};
        const char *why = NULL, *key = (const char *)k.data.scalar.value;
        enum sl_status st =
            yaml_value(&e, &v, &why) == 0 ? apply(L, key, &v) : fail(L, line, "%s: %s", key, why);
        yaml_event_delete(&e);
        yaml_event_delete(&k);
        if (st) return st;
    }
}

/* stream-start, then nothing, or one document holding a mapping (or null). */
static enum sl_status yaml_stream(struct loader *L, yaml_parser_t *p) {
    yaml_event_t e;
    enum sl_status st = SL_OK;
    int stage = 0, done = 0;
    while (!st && !done) {
        if (!yaml_parser_parse(p, &e)) return yaml_error(L, p);
        const int line = (int)e.start_mark.line + 1;
        const char *b;
        if (stage == 0 || e.type == YAML_DOCUMENT_END_EVENT) {
            /* stream-start, then document-start; after the mapping, document-end */
        } else if (e.type == YAML_STREAM_END_EVENT) {
            done = 1;
        } else if (stage > 2) {
            st = fail(L, line, "only one YAML document is allowed");
        } else if (e.type == YAML_MAPPING_START_EVENT && stage == 2) {
            st = yaml_pairs(L, p);
        } else if (e.type == YAML_SCALAR_EVENT && stage == 2 &&
                   e.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                   core_kind((const char *)e.data.scalar.value, &b) == V_NULL) {
            /* an empty document: no options */
        } else if (stage == 2) {
            st = fail(L, line, "the top level must be a mapping of option names to values");
        }
        yaml_event_delete(&e);
        stage++;
    }
    return st;
}

static enum sl_status load_yaml(struct loader *L, const char *text, size_t len) {
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return fail(L, 0, "cannot start the YAML parser");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    enum sl_status st = yaml_stream(L, &p);
    yaml_parser_delete(&p);
    return st;
}

/* ---- the file ----------------------------------------------------------- */

/* Rank 0's read: the whole file, NUL-terminated. */
static enum sl_status read_config(const char *path, char **out, size_t *len, struct sl_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return sl_err_set(err, SL_ERR_IO, "--config %s: %s", path, strerror(errno));
    char *buf = sl_malloc((size_t)SL_CONFIG_MAX + 2);
    const size_t n = fread(buf, 1, (size_t)SL_CONFIG_MAX + 1, f);
    const int bad = ferror(f), e = errno;
    fclose(f);
    enum sl_status st = SL_OK;
    if (bad)
        st = sl_err_set(err, SL_ERR_IO, "--config %s: %s", path, strerror(e));
    else if (n > SL_CONFIG_MAX)
        st = sl_err_set(err, SL_ERR_IO, "--config %s: larger than %d bytes, not a config file",
                        path, SL_CONFIG_MAX);
    if (st) {
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return SL_OK;
}

/* Collective: every rank gets rank 0's bytes of the file, or its error. */
static enum sl_status fetch(const char *path, struct sl_comm *c, char **text, size_t *len,
                            struct sl_err *err) {
    int64_t n = -1;
    *text = NULL;
    if (c->rank == 0 && read_config(path, text, len, err) == SL_OK) n = (int64_t)*len;
    sl_comm_bcast(c, &n, sizeof n, 0);
    if (n < 0) {
        sl_comm_bcast(c, err->msg, sizeof err->msg, 0);
        return SL_ERR_IO;
    }
    if (c->rank != 0) *text = sl_malloc((size_t)n + 1);
    *len = (size_t)n;
    sl_comm_bcast(c, *text, (size_t)n + 1, 0);
    return SL_OK;
}

/* 1 for JSON, 0 for YAML, -1 (err set) for an extension of neither. */
static int is_json(const char *path, const char *text, struct sl_err *err) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    if (dot && dot != base) {
        if (strcasecmp(dot, ".json") == 0) return 1;
        if (strcasecmp(dot, ".yaml") == 0 || strcasecmp(dot, ".yml") == 0) return 0;
        sl_err_set(err, SL_ERR_ARG,
                   "%s: unknown file type '%.16s' (a config file is .json, .yaml or .yml, or "
                   "has no extension)",
                   path, dot);
        return -1;
    }
    if (strncmp(text, "\xEF\xBB\xBF", 3) == 0) text += 3;
    text += strspn(text, " \t\r\n");
    return *text == '{';
}

enum sl_status sl_config_parse(struct sl_config *cfg, const struct sl_opt *t, const char *skip,
                               const char *path, const char *text, size_t len, struct sl_err *err) {
    *cfg = (struct sl_config){.strs = NULL, .n_strs = 0};
    size_t rows = 0;
    while (t[rows].name)
        rows++;
    struct loader L = {.t = t,
                       .skip = skip ? skip : "",
                       .path = path,
                       .cfg = cfg,
                       .seen = sl_malloc((rows + 1) * sizeof(int)),
                       .err = err};
    for (size_t i = 0; i < rows; i++)
        L.seen[i] = -1;
    enum sl_status st;
    const int json = is_json(path, text, err);
    if (json < 0)
        st = SL_ERR_ARG;
    else if (memchr(text, '\0', len))
        st = fail(&L, line_of(text, strlen(text)), "holds a NUL byte: not a text file");
    else
        st = json ? load_json(&L, text, len) : load_yaml(&L, text, len);
    free(L.seen);
    return st;
}

enum sl_status sl_config_load(struct sl_config *cfg, const struct sl_opt *t, const char *skip,
                              const char *path, struct sl_comm *c, struct sl_err *err) {
    *cfg = (struct sl_config){.strs = NULL, .n_strs = 0};
    char *text = NULL;
    size_t len = 0;
    enum sl_status st = fetch(path, c, &text, &len, err);
    if (!st) st = sl_config_parse(cfg, t, skip, path, text, len, err);
    free(text);
    return st;
}

void sl_config_free(struct sl_config *cfg) {
    for (size_t i = 0; i < cfg->n_strs; i++)
        free(cfg->strs[i]);
    free(cfg->strs);
    cfg->strs = NULL;
    cfg->n_strs = 0;
}
