/* fault.h - private: failures injected on purpose, so that tests can make
 * one chosen rank fail at one chosen place and check that every rank ends,
 * with one message and no partial output.
 *
 * SL_FAULT="site[@rank][,site[@rank]...]" makes sl_fault(site) true on that
 * rank (on every rank without @rank). Unset, it costs one getenv per site
 * and process. The sites: data.open, data.read, model.load, output.write,
 * journal.write, oom (the next checked allocation fails). */
#ifndef SHARDLEARN_CORE_FAULT_H
#define SHARDLEARN_CORE_FAULT_H

/* 1 when SL_FAULT names site for this rank (log.h's rank). */
int sl_fault(const char *site);

#endif
