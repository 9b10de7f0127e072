/* fuzz_state.c - the state.json reader: sl_state_load on the input as
 * run_dir/state.json.
 *
 * Checks beyond "no crash": the strings are terminated inside their fields;
 * a state that loads, saved again (sl_state_save) and loaded back, is the
 * same state. */
#include <math.h>
#include <string.h>

#include "fuzz_util.h"
#include "track/state.h"

FUZZ_QUIET_INITIALIZE

/* a saved and read back is b. cJSON prints 15 significant digits when they
 * read back within a relative epsilon, so numbers from 10^15 on may come
 * back rounded: offsets and times in milliseconds stay far below. */
static int same(int64_t a, int64_t b) {
    const double x = (double)a, y = (double)b;
    return a == b || (fabs(x) >= 1e15 && fabs(x - y) <= fabs(x) * 1e-14);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = fuzz_dir();
    char path[512];
    fuzz_path(path, sizeof path, SL_STATE_FILE);
    fuzz_write_file(path, data, size);
    struct sl_sync_state st;
    enum sl_status s = sl_state_load(dir, &st);
    FUZZ_CHECK(s == SL_OK || s == SL_ERR_PARSE, "status %d", s);
    FUZZ_CHECK(memchr(st.experiment_id, 0, sizeof st.experiment_id) &&
                   memchr(st.run_id, 0, sizeof st.run_id) &&
                   memchr(st.artifact_uri, 0, sizeof st.artifact_uri),
               "an unterminated string");
    if (s != SL_OK) return 0;
    FUZZ_CHECK(sl_state_save(dir, &st) == SL_OK, "save");
    struct sl_sync_state st2;
    FUZZ_CHECK(sl_state_load(dir, &st2) == SL_OK, "reload");
    FUZZ_CHECK(!strcmp(st2.experiment_id, st.experiment_id) && !strcmp(st2.run_id, st.run_id) &&
                   !strcmp(st2.artifact_uri, st.artifact_uri),
               "strings changed on reload");
    FUZZ_CHECK(same(st2.acked, st.acked) && same(st2.pending_from, st.pending_from) &&
                   same(st2.pending_to, st.pending_to) && st2.finished_sent == st.finished_sent &&
                   same(st2.unsettled_until_ms, st.unsettled_until_ms),
               "numbers changed on reload: acked %lld -> %lld, pending [%lld, %lld) -> [%lld, "
               "%lld), unsettled %lld -> %lld",
               (long long)st.acked, (long long)st2.acked, (long long)st.pending_from,
               (long long)st.pending_to, (long long)st2.pending_from, (long long)st2.pending_to,
               (long long)st.unsettled_until_ms, (long long)st2.unsettled_until_ms);
    return 0;
}
