/* preempt.h - private to the CLI: `--watch-preemption`, rank 0's watcher of
 * Compute Engine's metadata server (README: Checkpoints and stop signals).
 *
 * A thread long-polls
 *   http://$GCE_METADATA_HOST/computeMetadata/v1/instance/preempted
 *        ?wait_for_change=true&timeout_sec=T[&last_etag=E]
 * (header Metadata-Flavor: Google; host metadata.google.internal when the
 * variable is unset) and, when the answer is TRUE, sets the stop flag that a
 * signal would set; the ranks then agree on the stop as for a signal. No MPI
 * from the thread. A metadata server that never answers (not on GCE) gives
 * one warning and the thread ends; training goes on. */
#ifndef SHARDLEARN_CLI_PREEMPT_H
#define SHARDLEARN_CLI_PREEMPT_H

#include <signal.h>

struct sl_preempt_watch;

/* Starts the watcher; on a notice it logs one line and stores `value` in
 * *flag. NULL (with a warning) if the thread cannot be started. Caller owns
 * the result: sl_preempt_watch_stop. */
struct sl_preempt_watch *sl_preempt_watch_start(volatile sig_atomic_t *flag, int value);

/* 1 once the metadata server has said TRUE. */
int sl_preempt_noticed(const struct sl_preempt_watch *w);

/* Ends the long poll at once (curl_multi_wakeup), joins the thread and frees
 * w. NULL is a no-op. */
void sl_preempt_watch_stop(struct sl_preempt_watch *w);

#endif
