/* g17.c - "%.17g" without printf for the numbers an answer is made of.
 *
 * An answer of 100 probabilities spent a sixth of the request's CPU in
 * printf (glibc converts through its multi-precision code every time). A
 * probability in [1e-4, 1) has a mantissa m < 2^53 and a binary exponent
 * such that x = m / 2^q with 53 <= q <= 66; x * 10^s for s <= 20 is then
 * the integer m * 10^s (below 2^120) shifted right by q bits, exact in 128
 * bits, and the remainder rounds it to nearest, ties to even, as glibc does
 * in the default rounding mode. Everything else (0, 1, tiny values written
 * with an exponent, a rounding that carries into another digit) is left to
 * snprintf. tests/serve/test_g17.c holds the two to the same bytes. */
#include "serve/g17.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128;

size_t sl_g17(double x, char *buf) {
    if (x >= 1e-4 && x < 1.0) { /* x >= the double nearest 1e-4 > 10^-4: fixed notation */
        uint64_t bits;
        memcpy(&bits, &x, sizeof bits);
        uint64_t m = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
        int q = 1075 - (int)((bits >> 52) & 0x7ff); /* x = m / 2^q */
        const u128 lo = (u128)UINT64_C(10000000000000000), hi = lo * 10; /* 10^16, 10^17 */
        u128 p10 = hi;                                                       /* 10^s */
        for (int s = 17; s <= 20; s++, p10 *= 10) {
            u128 t = (u128)m * p10, n = t >> q;
            if (n < lo) continue; /* x < 10^(16-s): one more digit of zeros */
            u128 rem = t & (((u128)1 << q) - 1), half = (u128)1 << (q - 1);
            if (rem > half || (rem == half && (n & 1))) n++;
            if (n >= hi) break; /* rounds up to the next power of ten */
            char digits[17];
            uint64_t v = (uint64_t)n; /* < 10^17 */
            for (int i = 16; i >= 0; i--) {
                digits[i] = (char)('0' + (int)(v % 10));
                v /= 10;
            }
            int nd = 17;
            while (digits[nd - 1] == '0')
                nd--; /* %g drops trailing zeros */
            size_t len = 0;
            buf[len++] = '0';
            buf[len++] = '.';
            for (int z = 17; z < s; z++)
                buf[len++] = '0';
            memcpy(buf + len, digits, (size_t)nd);
            len += (size_t)nd;
            buf[len] = '\0';
            return len;
        }
    }
    return (size_t)snprintf(buf, SL_G17_MAX, "%.17g", x);
}
