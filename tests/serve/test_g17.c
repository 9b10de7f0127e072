/* test_g17.c - sl_g17 writes the same bytes as snprintf's "%.17g": random
 * doubles over all of [1e-4, 1) (where it converts by itself), every double
 * within 2000 ulps of each power of ten it meets and of its bounds, short
 * binary fractions (whose 17-digit rounding can be an exact tie), and
 * numbers it hands to snprintf (0, 1, tiny, negative, inf, nan). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "serve/g17.h"

static long failures, checked;

static void check(double x) {
    char got[SL_G17_MAX], want[64];
    size_t n = sl_g17(x, got);
    snprintf(want, sizeof want, "%.17g", x);
    checked++;
    if (strcmp(got, want) != 0 || n != strlen(want)) {
        if (failures++ < 20)
            fprintf(stderr, "FAIL: %a: sl_g17 wrote \"%s\" (%zu), %%.17g \"%s\"\n", x, got, n, want);
    }
}

static uint64_t state = 0x9e3779b97f4a7c15u;
static uint64_t next(void) { /* splitmix64 */
    uint64_t z = (state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static double from_bits(uint64_t b) {
    double x;
    memcpy(&x, &b, sizeof x);
    return x;
}

static uint64_t bits_of(double x) {
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

int main(void) {
    uint64_t lo = bits_of(1e-4), hi = bits_of(1.0);
    for (int i = 0; i < 2000000; i++)
        check(from_bits(lo + next() % (hi - lo)));
    const double edges[] = {1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 0.5, 0.25, 0.125};
    for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++)
        for (int64_t d = -2000; d <= 2000; d++)
            check(from_bits((uint64_t)((int64_t)bits_of(edges[e]) + d)));
    for (int q = 1; q <= 66; q++) /* k / 2^q: exact ties at the 17th digit */
        for (int i = 0; i < 20000; i++) {
            uint64_t k = next() & ((UINT64_C(1) << (q < 53 ? q : 53)) - 1);
            check(ldexp((double)k, -q));
        }
    for (double margin = -40; margin <= 40; margin += 0.001) /* what the server writes */
        check(1.0 / (1.0 + exp(-margin)));
    const double other[] = {0.0, -0.0, 1.0, 2.0, -0.5, 1e-300, 4.9e-324, 9.99999e-5,
                            1e300, INFINITY, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        check(other[i]);
    printf("%ld numbers, %ld differ from %%.17g\n", checked, failures);
    return failures ? 1 : 0;
}
