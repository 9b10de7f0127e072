/* log.h - rank-aware messages with a callback.
 *
 * The library never prints on its own: every message goes through the
 * handler, which an embedding program sets with sl_log_set_handler. The
 * default handler prints info lines from rank 0 to stdout, and warnings and
 * errors from any rank to stderr, as "shardlearn: error: ..." (prefixed
 * "[rank N] " on ranks other than 0), one write per line. */
#ifndef SHARDLEARN_LOG_H
#define SHARDLEARN_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

enum sl_log_level { SL_LOG_INFO = 0, SL_LOG_WARN, SL_LOG_ERROR };

/* line: one line without its newline, valid during the call. Info lines
 * reach the handler on rank 0 only. The handler may be called from the
 * tracker's background thread (warnings), so it must be thread-safe. */
typedef void (*sl_log_fn)(enum sl_log_level level, int rank, const char *line, void *ctx);

/* Not thread-safe: call once at start-up, before any thread exists.
 * fn NULL restores the default handler. */
void sl_log_set_handler(sl_log_fn fn, void *ctx);
/* The rank that prefixes messages; sl_comm_init sets it. */
void sl_log_init(int rank);
int sl_log_rank(void);

void sl_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif

#endif
