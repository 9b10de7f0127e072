/* log.h - rank-aware logging. Rank 0 prints progress to stdout; any rank may
 * print an error to stderr, prefixed "[rank N] " on ranks other than 0. The
 * library never prints progress on its own: callers decide what to say. */
#ifndef SHARDLEARN_LOG_H
#define SHARDLEARN_LOG_H

void sl_log_init(int rank);
int sl_log_rank(void);

/* Rank 0 only; other ranks return silently. One line, newline added. */
void sl_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Any rank, stderr, "shardlearn: error: " prefix. Newline added. */
void sl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Any rank, stderr, "shardlearn: warning: " prefix. Newline added. */
void sl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
