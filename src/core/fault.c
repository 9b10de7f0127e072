/* fault.c - SL_FAULT, failures injected for tests (fault.h). */
#include "core/fault.h"

#include <stdlib.h>
#include <string.h>

#include "shardlearn/log.h"

int sl_fault(const char *site) {
    const char *spec = getenv("SL_FAULT");
    if (!spec || !*spec) return 0;
    const size_t n = strlen(site);
    for (const char *p = spec; *p;) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        if ((size_t)(end - p) >= n && strncmp(p, site, n) == 0) {
            const char *q = p + n;
            if (q == end) return 1;
            if (*q == '@' && atoi(q + 1) == sl_log_rank()) return 1;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}
