/* hash_index.c - prints sl_hash_index of each string in a file, for the
 * hashing test (tests/hashing/test_hashing.py), which compares the indices
 * with scikit-learn's FeatureHasher. The strings are NUL-separated (any
 * UTF-8, newlines included); one line of output per string: its index for
 * each bit count given.
 *   hash_index FILE BITS...  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/fileio.h"
#include "shardlearn/hashing.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: hash_index FILE BITS...\n");
        return 2;
    }
    size_t len = 0;
    char *text = sl_read_file(argv[1], &len);
    if (!text) {
        perror(argv[1]);
        return 1;
    }
    for (size_t at = 0; at < len;) {
        const char *s = text + at;
        const char *nul = memchr(s, '\0', len - at);
        size_t n = nul ? (size_t)(nul - s) : len - at;
        for (int k = 2; k < argc; k++)
            printf(k > 2 ? " %d" : "%d", (int)sl_hash_index(s, n, atoi(argv[k])));
        putchar('\n');
        at += n + 1;
    }
    free(text);
    return 0;
}
