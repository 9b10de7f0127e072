/* chunk_pool.c - the read buffer of sl_range_open (SL_READ_CHUNK + 1 bytes)
 * from one block that is reused, in the targets that open ranges
 * (fuzz_libsvm, fuzz_csv, fuzz_range). Linked with
 *   -Wl,--wrap=sl_malloc_check,--wrap=sl_realloc_check,--wrap=free
 * so the engine's own calls come here; nothing in the engine changes.
 *
 * Why: ASan maps every allocation that large afresh and writes its 512 KiB
 * of shadow memory on map, allocation and free, about 1 ms an open against
 * microseconds for the rest: fuzz_range, which opens 10 ranges an input,
 * would run at ~100 inputs a second.
 * What ASan still sees: the block is a real heap block of exactly the size
 * asked for, so its redzone still catches an overrun; while it is free its
 * first 64 KiB (more than any input of these targets, whose -max_len is 4096,
 * can fill) are poisoned, so a use after sl_range_close is reported
 * (use-after-poison), and a second free is a failed check. */
#include <sanitizer/asan_interface.h>
#include <string.h>

#include "data/reader.h"
#include "fuzz_util.h"

void *__real_sl_malloc_check(size_t n, const char *file, int line);
void *__real_sl_realloc_check(void *p, size_t n, const char *file, int line);
void __real_free(void *p);
void *__wrap_sl_malloc_check(size_t n, const char *file, int line);
void *__wrap_sl_realloc_check(void *p, size_t n, const char *file, int line);
void __wrap_free(void *p);

#define BLOCK (SL_READ_CHUNK + 1)
#define POISONED ((size_t)64 << 10)

static char *g_block; /* allocated once, reachable to the end: not a leak */
static int g_busy;

void *__wrap_sl_malloc_check(size_t n, const char *file, int line) {
    if (n != BLOCK || g_busy) return __real_sl_malloc_check(n, file, line);
    if (!g_block) g_block = __real_sl_malloc_check(n, file, line);
    ASAN_UNPOISON_MEMORY_REGION(g_block, POISONED);
    g_busy = 1;
    return g_block;
}

void __wrap_free(void *p) {
    if (!p || p != g_block) {
        __real_free(p);
        return;
    }
    FUZZ_CHECK(g_busy, "the read buffer is freed twice");
    g_busy = 0;
    ASAN_POISON_MEMORY_REGION(g_block, POISONED);
}

void *__wrap_sl_realloc_check(void *p, size_t n, const char *file, int line) {
    if (!p || p != g_block) return __real_sl_realloc_check(p, n, file, line);
    FUZZ_CHECK(g_busy, "the read buffer is resized after it was freed");
    void *q = __real_sl_malloc_check(n, file, line);
    memcpy(q, p, n < BLOCK ? n : BLOCK);
    __wrap_free(p);
    return q;
}
