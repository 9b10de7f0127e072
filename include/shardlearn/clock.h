/* clock.h - the two clocks the engine reads. */
#ifndef SHARDLEARN_CLOCK_H
#define SHARDLEARN_CLOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds on a monotonic clock: for durations. */
double sl_wtime(void);
/* Wall-clock milliseconds since the Unix epoch: for timestamps. */
int64_t sl_now_ms(void);

#ifdef __cplusplus
}
#endif

#endif
