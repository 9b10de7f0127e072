/* test_log.c - messages go through the handler an embedding program sets:
 * info lines only from rank 0, warnings and errors from any rank with the
 * rank they came from; NULL restores the default (stdout/stderr). */
#include <mpi.h>
#include <string.h>

#include "shardlearn/comm.h"
#include "test_util.h"

struct seen {
    int n;
    enum sl_log_level level[8];
    int rank[8];
    char line[8][64];
};

static void capture(enum sl_log_level level, int rank, const char *line, void *ctx) {
    struct seen *s = ctx;
    if (s->n == 8) return;
    s->level[s->n] = level;
    s->rank[s->n] = rank;
    snprintf(s->line[s->n], sizeof s->line[0], "%s", line);
    s->n++;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    struct sl_comm c;
    sl_comm_init(&c, MPI_COMM_WORLD);
    CHECK(sl_log_rank() == c.rank, "sl_comm_init sets the log's rank: %d, want %d", sl_log_rank(),
          c.rank);
    struct seen s = {0};
    sl_log_set_handler(capture, &s);
    sl_info("progress %d", 7);
    sl_warn("careful %s", "now");
    sl_error("broken at line %d", 3);
    sl_log_set_handler(NULL, NULL);
    sl_warn("this one goes to stderr, not to the handler");
    const int want = c.rank == 0 ? 3 : 2;
    CHECK(s.n == want, "%d messages reached the handler, want %d", s.n, want);
    int k = 0;
    if (c.rank == 0) {
        CHECK(s.level[k] == SL_LOG_INFO && strcmp(s.line[k], "progress 7") == 0, "info '%s'",
              s.line[k]);
        k++;
    }
    CHECK(s.level[k] == SL_LOG_WARN && strcmp(s.line[k], "careful now") == 0, "warn '%s'",
          s.line[k]);
    CHECK(s.level[k + 1] == SL_LOG_ERROR && strcmp(s.line[k + 1], "broken at line 3") == 0,
          "error '%s'", s.line[k + 1]);
    for (int i = 0; i < s.n; i++) CHECK(s.rank[i] == c.rank, "message %d from rank %d", i, s.rank[i]);
    sl_comm_free(&c); /* its reduction buffers (comm.h) */
    return test_finish(c.rank);
}
