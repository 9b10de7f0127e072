/* log.c - rank-aware logging: progress from rank 0, errors from any rank. */
#include "shardlearn/log.h"

#include <stdarg.h>
#include <stdio.h>

static int g_rank = 0; /* set once at start-up, before any thread exists */

void sl_log_init(int rank) { g_rank = rank; }

int sl_log_rank(void) { return g_rank; }

void sl_info(const char *fmt, ...) {
    if (g_rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static void vprint_err(const char *kind, const char *fmt, va_list ap) {
    /* One fprintf per line so lines from different ranks do not interleave. */
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    if (g_rank != 0)
        fprintf(stderr, "[rank %d] shardlearn: %s: %s\n", g_rank, kind, line);
    else
        fprintf(stderr, "shardlearn: %s: %s\n", kind, line);
    fflush(stderr);
}

void sl_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint_err("error", fmt, ap);
    va_end(ap);
}

void sl_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint_err("warning", fmt, ap);
    va_end(ap);
}
