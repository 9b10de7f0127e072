/* test_data.c - the readers on good and bad input, on however many ranks
 * mpirun starts: values land where they should, every bad case is reported
 * once as "file:line: ..." with the same line whatever rank holds it, and
 * sl_parse_double agrees with strtod to the bit. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/reader.h"
#include "shardlearn/data.h"
#include "test_util.h"

static char tmpdir[256];

/* Rank 0 writes the file; everyone waits for it. */
static void write_file(const char *name, const char *text, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", tmpdir, name);
    if (sl_log_rank() == 0) {
        FILE *f = fopen(path, "wb");
        fputs(text, f);
        fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

/* Expected rows of a good file, in order. */
struct row {
    double y;
    int n;
    int idx[4];
    double val[4];
};

static void check_rows(const struct sl_shard *s, const struct row *want, int n_want, int dense,
                       const char *what) {
    CHECK(s->n_rows_global == n_want, "%s: %lld rows, want %d", what, (long long)s->n_rows_global,
          n_want);
    for (int64_t r = 0; r < s->n_rows; r++) {
        int64_t g = s->row_begin + r;
        if (g >= n_want) break;
        const struct row *w = &want[g];
        CHECK(s->y[r] == w->y, "%s: row %lld label %g want %g", what, (long long)g, s->y[r], w->y);
        if (dense) {
            for (int k = 0; k < w->n; k++)
                CHECK(s->values[r * s->n_features + w->idx[k]] == w->val[k], "%s: row %lld col %d",
                      what, (long long)g, w->idx[k]);
        } else {
            int64_t n = s->indptr[r + 1] - s->indptr[r];
            CHECK(n == w->n, "%s: row %lld has %lld values, want %d", what, (long long)g,
                  (long long)n, w->n);
            for (int k = 0; k < w->n && k < n; k++) {
                CHECK(s->indices[s->indptr[r] + k] == w->idx[k], "%s: row %lld index", what,
                      (long long)g);
                CHECK(s->values[s->indptr[r] + k] == w->val[k], "%s: row %lld value", what,
                      (long long)g);
            }
        }
    }
}

static void good_cases(struct sl_comm *c) {
    char path[512];
    struct sl_shard s;
    struct sl_err err;
    struct sl_load_opts o = {.format = SL_FORMAT_AUTO};

    static const char good[] = "# a comment line\n"
                               "+1 1:0.5 3:-2e-3 # trailing comment\n"
                               "\n"
                               "-1 qid:7 2:1.25\r\n"
                               "1 1:1 2:2 3:3 4:4\n"
                               "-1\n"
                               "+1 4:1e2"; /* no newline at the end */
    write_file("good.svm", good, path, sizeof path);
    const struct row want[] = {{1, 2, {0, 2}, {0.5, -2e-3}},
                               {-1, 1, {1}, {1.25}},
                               {1, 4, {0, 1, 2, 3}, {1, 2, 3, 4}},
                               {-1, 0, {0}, {0}},
                               {1, 1, {3}, {100}}};
    CHECK(sl_shard_load(&s, path, &o, c, &err) == SL_OK, "good.svm: %s", err.msg);
    CHECK(s.n_features == 4 && s.nnz_global == 8 && !s.labels01 && !s.dense, "good.svm shape");
    check_rows(&s, want, 5, 0, "good.svm");
    /* The digest: the whole file's CRC-32 from the ranks' pieces, whatever their number. */
    const uLong crc = crc32(0L, (const Bytef *)good, (uInt)strlen(good));
    CHECK(s.file_crc32 == (uint32_t)crc && s.file_bytes == (int64_t)strlen(good),
          "good.svm digest on %d rank(s): %08x/%lld, want %08lx/%zu", c->size,
          (unsigned)s.file_crc32, (long long)s.file_bytes, crc, strlen(good));
    sl_shard_free(&s);

    write_file("zero.svm", "1 0:1 5:2\n0 1:3\n", path, sizeof path);
    o.zero_based = 1;
    const struct row wz[] = {{1, 2, {0, 5}, {1, 2}}, {-1, 1, {1}, {3}}};
    CHECK(sl_shard_load(&s, path, &o, c, &err) == SL_OK, "zero.svm: %s", err.msg);
    CHECK(s.n_features == 6 && s.labels01, "zero.svm: d %lld labels01 %d", (long long)s.n_features,
          s.labels01);
    check_rows(&s, wz, 2, 0, "zero.svm");
    sl_shard_free(&s);
    o.zero_based = 0;

    o.n_features = 10;
    write_file("fixed.svm", "1 2:1\n-1 3:1\n", path, sizeof path);
    CHECK(sl_shard_load(&s, path, &o, c, &err) == SL_OK && s.n_features == 10, "fixed d");
    sl_shard_free(&s);
    o.n_features = 0;

    write_file("head.csv", "label,a,b,c\n1,0.5,0,2\n0,1,-1,3e1\n1, 2 ,3,4\n", path, sizeof path);
    const struct row wc[] = {{1, 3, {0, 1, 2}, {0.5, 0, 2}},
                             {-1, 3, {0, 1, 2}, {1, -1, 30}},
                             {1, 3, {0, 1, 2}, {2, 3, 4}}};
    CHECK(sl_shard_load(&s, path, &o, c, &err) == SL_OK, "head.csv: %s", err.msg);
    CHECK(s.dense && s.n_features == 3 && s.labels01, "head.csv shape");
    check_rows(&s, wc, 3, 1, "head.csv");
    sl_shard_free(&s);

    write_file("nohead.csv", "-1,1,2\n1,3,4\n", path, sizeof path);
    CHECK(sl_shard_load(&s, path, &o, c, &err) == SL_OK && s.n_rows_global == 2 &&
              s.n_features == 2,
          "nohead.csv");
    sl_shard_free(&s);
}

struct bad {
    const char *name, *text;
    int line;         /* 0: no line in the message */
    const char *says; /* a part of the message */
};

static void bad_cases(struct sl_comm *c) {
    static const struct bad cases[] = {
        {"repeat.svm", "1 1:1\n-1 2:1\n1 3:1 3:2\n", 3, "repeated"},
        {"order.svm", "1 1:1\n-1 4:1 2:1\n", 2, "out of order"},
        {"zeroidx.svm", "1 1:1\n1 0:1\n", 2, "index 0"},
        {"label.svm", "1 1:1\n-1 1:1\n1 1:1\n-1 1:1\n2 1:1\n", 5, "bad label"},
        {"label2.svm", "1 1:1\nyes 1:1\n", 2, "bad label"},
        {"nonnum.svm", "1 1:1\n1 1:abc\n", 2, "non-numeric"},
        {"nan.svm", "1 1:1\n1 1:1\n1 2:nan\n", 3, "non-finite"},
        {"inf.svm", "1 1:1\n1 2:1e999\n", 2, "non-finite"},
        {"colon.svm", "1 1:1\n1 7\n", 2, "index:value"},
        {"negidx.svm", "1 1:1\n1 -3:1\n", 2, "index:value"},
        {"ragged.csv", "y,a,b\n1,1,2\n0,1,2\n1,1\n", 4, "ragged"},
        {"ragged2.csv", "1,1,2\n0,1,2,3\n", 2, "ragged"},
        {"csvnum.csv", "1,1,2\n0,x,2\n", 2, "non-numeric"},
        {"empty.svm", "", 0, "no data rows"},
        {"comments.svm", "# only\n\n", 0, "no data rows"},
    };
    struct sl_load_opts o = {.format = SL_FORMAT_AUTO};
    char path[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct bad *b = &cases[i];
        write_file(b->name, b->text, path, sizeof path);
        struct sl_shard s;
        struct sl_err err;
        enum sl_status st = sl_shard_load(&s, path, &o, c, &err);
        CHECK(st == SL_ERR_PARSE, "%s: status %d", b->name, st);
        /* Exactly one rank says it, and says file:line. */
        int says = err.msg[0] != '\0', total = 0;
        MPI_Allreduce(&says, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        CHECK(total == 1, "%s: %d ranks reported", b->name, total);
        if (says) {
            char head[600];
            if (b->line)
                snprintf(head, sizeof head, "%s:%d: ", path, b->line);
            else
                snprintf(head, sizeof head, "%s: ", path);
            CHECK(strncmp(err.msg, head, strlen(head)) == 0, "%s: message '%s', want '%s...'",
                  b->name, err.msg, head);
            CHECK(strstr(err.msg, b->says) != NULL, "%s: message '%s' lacks '%s'", b->name, err.msg,
                  b->says);
        }
        CHECK(s.n_rows == 0 && s.y == NULL, "%s: shard not left empty", b->name);
    }
    /* A fixed --n-features below an index, and a missing file. */
    o.n_features = 2;
    write_file("beyond.svm", "1 1:1\n1 3:1\n", path, sizeof path);
    struct sl_shard s;
    struct sl_err err;
    CHECK(sl_shard_load(&s, path, &o, c, &err) == SL_ERR_PARSE, "beyond n_features");
    if (err.msg[0]) CHECK(strstr(err.msg, ":2: ") != NULL, "beyond: '%s'", err.msg);
    o.n_features = 0;
    snprintf(path, sizeof path, "%s/missing.svm", tmpdir);
    CHECK(sl_shard_load(&s, path, &o, c, &err) == SL_ERR_IO, "missing file status");
    if (c->rank == 0) CHECK(strstr(err.msg, "No such file") != NULL, "missing: '%s'", err.msg);
}

/* Numbers at the edges of the fast path, and things that are not numbers. */
// clang-format off
static const char *const EDGE[] = {
    "0", "-0", "+0.0", "1", "-1", "0.1", "0.3", "1e22", "1e23", "1e-22", "1e-23",
    "9007199254740992", "9007199254740993", "9007199254740993.0", "123456789012345678",
    "1234567890123456789", "12345678901234567890", "0.000000000000000000000000001", "4.9e-324",
    "2.2250738585072014e-308", "1.7976931348623157e308", "1e308", "1e-400", "1e400", ".5", "5.",
    "-.25e+2", "1E5", "3.14159265358979323846264338327950288", "0.1e-5", "100000000000000000000000",
    "7.2057594037927933e16", "nan", "inf", "-inf", "0x1p3", "1e", "1e+", "-", ".", "+", "1.2.3",
    "00012", "1_000"};
// clang-format on

/* sl_parse_double agrees with strtod to the bit, and stops where it does. */
static void parse_double_edges(void) {
    for (size_t i = 0; i < sizeof EDGE / sizeof EDGE[0]; i++) {
        const char *t = EDGE[i];
        char *e1;
        double want = strtod(t, &e1);
        double got = 0;
        const char *e2 = sl_parse_double(t, t + strlen(t), &got);
        if (e1 == t) {
            CHECK(e2 == NULL, "'%s' parsed but strtod says no number", t);
            continue;
        }
        CHECK(e2 == e1, "'%s': stopped at %td, strtod at %td", t, e2 ? e2 - t : -1, e1 - t);
        CHECK(memcmp(&got, &want, sizeof got) == 0 || (isnan(got) && isnan(want)),
              "'%s': %.17g vs strtod %.17g", t, got, want);
    }
}

/* Random decimals of every shape the writers of data files produce. */
static void parse_double_random(void) {
    unsigned long long x = 0x9E3779B97F4A7C15ull;
    char buf[64];
    for (int i = 0; i < 300000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double mag = pow(10.0, (double)((int)(x % 60) - 30));
        double v = ((double)(x >> 11) * 0x1.0p-53 - 0.3) * mag;
        int prec = 1 + (int)((x >> 5) % 18);
        switch (i % 3) {
        case 0:
            snprintf(buf, sizeof buf, "%.*g", prec, v);
            break;
        case 1:
            snprintf(buf, sizeof buf, "%.*f", prec % 10, v);
            break;
        default:
            snprintf(buf, sizeof buf, "%.*e", prec, v);
            break;
        }
        char *e1;
        double want = strtod(buf, &e1), got = 0;
        const char *e2 = sl_parse_double(buf, buf + strlen(buf), &got);
        if (e2 != e1 || memcmp(&got, &want, sizeof got) != 0) {
            CHECK(0, "'%s': %.17g vs strtod %.17g", buf, got, want);
            break;
        }
    }
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    struct sl_comm c;
    sl_comm_init(&c, MPI_COMM_WORLD);
    if (c.rank == 0) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/sl-test-data-XXXXXX");
        if (!mkdtemp(tmpdir)) return 2;
    }
    MPI_Bcast(tmpdir, sizeof tmpdir, MPI_CHAR, 0, MPI_COMM_WORLD);
    good_cases(&c);
    bad_cases(&c);
    if (c.rank == 0) {
        parse_double_edges();
        parse_double_random();
    }
    if (c.rank == 0) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    sl_comm_free(&c); /* its reduction buffers (comm.h) */
    return test_finish(c.rank);
}
