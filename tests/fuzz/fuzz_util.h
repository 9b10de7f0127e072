/* fuzz_util.h - what the libFuzzer targets share: a private scratch
 * directory (on tmpfs when there is one), writing an input to a file there,
 * a silent log handler, and a check that aborts with a message (so that
 * libFuzzer reports a correctness failure like a crash and saves the input).
 *
 * Every target is one rank: none calls MPI_Init. Functions that take a
 * struct sl_comm only read its rank and size (sl_range_open), so the targets
 * fill those two fields by hand. */
#ifndef SHARDLEARN_FUZZ_UTIL_H
#define SHARDLEARN_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Aborts with "fuzz check failed: ..." when cond is false; kept in every build. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                            \
    } while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A directory of this process, created on first use and removed at exit
 * (libFuzzer ends some runs with _Exit, which skips that: scripts/fuzz.sh
 * points SL_FUZZ_TMPDIR at a folder of its own and removes it):
 * sl-fuzz-XXXXXX in $SL_FUZZ_TMPDIR, else /dev/shm when it is usable, else
 * $TMPDIR or /tmp. tmpfs matters: the track code fsyncs state.json after
 * every acknowledged request. Static storage. */
const char *fuzz_dir(void);

/* out (cap bytes) <- fuzz_dir()/name. Returns out. */
char *fuzz_path(char *out, size_t cap, const char *name);

/* Replaces the file at path with n bytes of data (aborts on failure). */
void fuzz_write_file(const char *path, const void *data, size_t n);

/* Routes the library's log lines to a handler that drops them (they are
 * still formatted, so a bad format argument is still exercised). */
void fuzz_quiet_log(void);

/* libFuzzer's entry points. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* The initialiser of a target that needs nothing but a silent log. */
#define FUZZ_QUIET_INITIALIZE                                                                      \
    int LLVMFuzzerInitialize(int *argc, char ***argv) {                                            \
        (void)argc, (void)argv;                                                                    \
        fuzz_quiet_log();                                                                          \
        return 0;                                                                                  \
    }

/* Differential check of sl_parse_double against strtod on the first n bytes
 * of p (at most 511, up to the first NUL): when the parser accepts a number
 * it must stop where strtod stops and give the same bits; when it refuses,
 * strtod must find no number either. */
void fuzz_check_number(const uint8_t *p, size_t n);

/* 1 when SL_FUZZ_SKIP_KNOWN=1: the targets then step around the bugs that
 * docs/fuzzing.md lists as found and not fixed yet (each skip names its
 * bug), so that a fuzzing run goes on to find new ones. scripts/fuzz.sh sets
 * it while fuzzing; a replay of a known-* regression input runs without it. */
int fuzz_skip_known(void);

/* 1 when [p, p + n) is valid UTF-8 (no overlong forms, no surrogates). */
int fuzz_utf8_valid(const uint8_t *p, size_t n);

/* Lines of a file of n bytes as sl_range_next returns them: one per '\n',
 * plus a last one without a newline when the file does not end in one. */
int64_t fuzz_count_lines(const uint8_t *d, size_t n);

struct sl_range;
struct sl_shard;
struct sl_load_opts;
struct sl_load_state;
/* Lines of the file that hold a row: not blank, and (comments) not starting
 * with '#'. */
int64_t fuzz_row_lines(const uint8_t *d, size_t n, int comments);
/* What both line parsers share: writes the file (name in fuzz_dir()),
 * parses it on one rank with parse through a read buffer of cap bytes (0:
 * as sl_range_open leaves it), and checks what both promise: no read error,
 * every line counted, and a failure that names a line of the file and has a
 * message. *s and *ls hold the result; free s with fuzz_shard_free. */
typedef void (*fuzz_parse_fn)(struct sl_range *r, struct sl_shard *s, const struct sl_load_opts *o,
                              struct sl_load_state *ls);
void fuzz_parse_file(const uint8_t *data, size_t size, const char *name, size_t cap,
                     fuzz_parse_fn parse, const struct sl_load_opts *o, struct sl_shard *s,
                     struct sl_load_state *ls);
void fuzz_shard_free(struct sl_shard *s);
/* Replaces r's read buffer (SL_READ_CHUNK bytes after sl_range_open) with
 * one of cap bytes, so that small inputs take the paths that a file larger
 * than the buffer takes: lines cut by a refill, the buffer grown for a long
 * line. cap 0 keeps the buffer. */
void fuzz_range_small_buffer(struct sl_range *r, size_t cap);

#endif
