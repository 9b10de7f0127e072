/* log.c - rank-aware messages through a replaceable handler. */
#include "shardlearn/log.h"

#include <stdarg.h>
#include <stdio.h>

/* Set once at start-up, before any thread exists. */
static int g_rank = 0;
static sl_log_fn g_fn = NULL;
static void *g_ctx = NULL;

void sl_log_init(int rank) {
    g_rank = rank;
}

int sl_log_rank(void) {
    return g_rank;
}

void sl_log_set_handler(sl_log_fn fn, void *ctx) {
    g_fn = fn;
    g_ctx = ctx;
}

static void default_handler(enum sl_log_level level, int rank, const char *line) {
    if (level == SL_LOG_INFO) {
        fprintf(stdout, "%s\n", line);
        fflush(stdout);
        return;
    }
    const char *kind = level == SL_LOG_WARN ? "warning" : "error";
    /* One fprintf per line so lines from different ranks do not interleave. */
    if (rank != 0)
        fprintf(stderr, "[rank %d] shardlearn: %s: %s\n", rank, kind, line);
    else
        fprintf(stderr, "shardlearn: %s: %s\n", kind, line);
    fflush(stderr);
}

static void vlog(enum sl_log_level level, const char *fmt, va_list ap) {
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    if (g_fn)
        g_fn(level, g_rank, line, g_ctx);
    else
        default_handler(level, g_rank, line);
}

void sl_info(const char *fmt, ...) {
    if (g_rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(SL_LOG_INFO, fmt, ap);
    va_end(ap);
}

void sl_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(SL_LOG_WARN, fmt, ap);
    va_end(ap);
}

void sl_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(SL_LOG_ERROR, fmt, ap);
    va_end(ap);
}
