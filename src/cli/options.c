/* options.c - a small table-driven long-option parser with strict values. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "shardlearn/data.h"

volatile sig_atomic_t sl_stop_signal = 0;

static void on_signal(int sig) {
    sl_stop_signal = sig;
}

int sl_interrupted_code(void) {
    if (sl_stop_signal == SIGINT) return SL_EXIT_INT;
    if (sl_stop_signal == SIGUSR1) return SL_EXIT_USR1;
    return SL_EXIT_TERM;
}

const struct sl_choice SL_FORMAT_CHOICES[] = {
    {"auto", SL_FORMAT_AUTO}, {"libsvm", SL_FORMAT_LIBSVM}, {"csv", SL_FORMAT_CSV},
    {"tsv", SL_FORMAT_TSV},   {"criteo", SL_FORMAT_CRITEO}, {NULL, 0}};

void sl_share_error(struct sl_comm *c, struct sl_err *err) {
    int who = sl_comm_first_error(c, err->msg[0] != '\0', c->rank);
    if (who >= 0) sl_comm_bcast(c, err->msg, sizeof err->msg, who);
}

void sl_install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void sl_install_usr1_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
}

static const struct sl_opt *find(const struct sl_opt *t, const char *name, size_t len) {
    for (; t->name; t++)
        if (strlen(t->name) == len && strncmp(t->name, name, len) == 0) return t;
    return NULL;
}

static const struct sl_choice *find_choice(const struct sl_choice *c, const char *v) {
    for (; c->name; c++)
        if (strcmp(c->name, v) == 0) return c;
    return NULL;
}

/* "a|b|c" of a choice table, for messages and help. */
static void choice_list(const struct sl_choice *c, char *out, size_t cap) {
    out[0] = '\0';
    for (const struct sl_choice *p = c; p->name; p++) {
        if (p != c) strncat(out, "|", cap - strlen(out) - 1);
        strncat(out, p->name, cap - strlen(out) - 1);
    }
}

/* label: how the option is named in messages ("--l2" on the command line,
 * "l2" in a config file). */
enum sl_status sl_opt_set(const struct sl_opt *o, const char *v, const char *label,
                          struct sl_err *err) {
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case SL_ARG_STR:
        if (!*v) return sl_err_set(err, SL_ERR_ARG, "%s: empty value", label);
        *(const char **)o->dst = v;
        return SL_OK;
    case SL_ARG_LIST: {
        if (!*v) return sl_err_set(err, SL_ERR_ARG, "--%s: empty value", o->name);
        struct sl_arg_list *l = o->dst;
        l->items = sl_realloc(l->items, (size_t)(l->n + 1) * sizeof *l->items);
        l->items[l->n++] = v;
        return SL_OK;
    }
    case SL_ARG_INT: {
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno || (double)x < o->min || (double)x > o->max)
            return sl_err_set(err, SL_ERR_ARG, "%s: '%s' is not an integer in [%.0f, %.0f]", label,
                              v, o->min, o->max);
        *(int64_t *)o->dst = (int64_t)x;
        return SL_OK;
    }
    case SL_ARG_F64: {
        double x = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x) || x < o->min || x > o->max)
            return sl_err_set(err, SL_ERR_ARG, "%s: '%s' is not a number in [%g, %g]", label, v,
                              o->min, o->max);
        *(double *)o->dst = x;
        return SL_OK;
    }
    case SL_ARG_CHOICE: {
        const struct sl_choice *ch = find_choice(o->choices, v);
        if (!ch) {
            char list[256];
            choice_list(o->choices, list, sizeof list);
            return sl_err_set(err, SL_ERR_ARG, "%s: '%s' is not one of %s", label, v, list);
        }
        *(int *)o->dst = ch->value;
        return SL_OK;
    }
    case SL_ARG_FLAG:
        /* Written out, so that a command line can turn off what a config
         * file turned on. */
        if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
            *(int *)o->dst = v[0] == 't';
            return SL_OK;
        }
        return sl_err_set(err, SL_ERR_ARG, "%s: '%s' is not true or false", label, v);
    }
    return sl_err_set(err, SL_ERR_ARG, "%s: unknown kind of option", label);
}

const struct sl_opt *sl_opt_find(const struct sl_opt *t, const char *name) {
    return find(t, name, strlen(name));
}

enum sl_status sl_opts_parse(const struct sl_opt *t, int argc, char **argv, int first,
                             const char **positional, int max_pos, int *n_pos, int *help,
                             struct sl_err *err) {
    *help = 0;
    *n_pos = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = 1;
            return SL_OK;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (*n_pos >= max_pos)
                return sl_err_set(err, SL_ERR_ARG, "unexpected argument '%s'", a);
            positional[(*n_pos)++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct sl_opt *o = find(t, name, len);
        if (!o) return sl_err_set(err, SL_ERR_ARG, "unknown option '%.*s'", (int)len + 2, a);
        const char *v = eq ? eq + 1 : NULL;
        if (o->kind == SL_ARG_FLAG && !v) {
            *(int *)o->dst = 1;
            continue;
        }
        if (!v) {
            if (i + 1 >= argc) return sl_err_set(err, SL_ERR_ARG, "--%s needs a value", o->name);
            v = argv[++i];
        }
        char label[80];
        snprintf(label, sizeof label, "--%s", o->name);
        enum sl_status st = sl_opt_set(o, v, label, err);
        if (st) return st;
    }
    return SL_OK;
}

void sl_opts_usage(FILE *f, const char *usage, const struct sl_opt *t) {
    fprintf(f, "%s\n\nOptions:\n", usage);
    for (; t->name; t++) {
        char left[64];
        if (t->kind == SL_ARG_FLAG)
            snprintf(left, sizeof left, "--%s[=false]", t->name);
        else
            snprintf(left, sizeof left, "--%s %s", t->name, t->metavar ? t->metavar : "X");
        fprintf(f, "  %-28s %s\n", left, t->help);
    }
    fprintf(f, "  %-28s %s\n", "--help", "show this help");
}
