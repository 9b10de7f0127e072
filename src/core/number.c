/* number.c - exact, fast decimal-to-double for the readers and the server. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/number.h"
#include "shardlearn/status.h" /* sl_malloc */

/* Exact powers of ten representable in a double. */
static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_num_char(char ch) {
    return (ch >= '0' && ch <= '9') || ch == '.' || ch == 'e' || ch == 'E' || ch == '+' ||
           ch == '-' || ch == 'x' || ch == 'X' || (ch >= 'a' && ch <= 'f') ||
           (ch >= 'A' && ch <= 'F') || ch == 'n' || ch == 'N' || ch == 'i' || ch == 'I' ||
           ch == 't' || ch == 'T' || ch == 'y' || ch == 'Y' || ch == 'p' || ch == 'P';
}

static const char *slow_parse(const char *p, const char *end, double *out) {
    /* strtod needs a terminated copy. A number may be longer than the stack
     * buffer (a valid decimal can have any number of digits): a heap copy. */
    char small[128];
    size_t n = 0;
    while (p + n < end && is_num_char(p[n]))
        n++;
    if (n == 0) return NULL;
    char *tmp = n < sizeof small ? small : sl_malloc(n + 1);
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    char *e = NULL;
    errno = 0;
    double v = strtod(tmp, &e);
    size_t used = (size_t)(e - tmp);
    if (tmp != small) free(tmp);
    if (used == 0) return NULL;
    *out = v; /* overflow gives +-HUGE_VAL: the caller rejects non-finite values */
    return p + used;
}

const char *sl_parse_double(const char *p, const char *end, double *out) {
    /* Clinger's fast path: at most 19 significant digits in a uint64, and
     * when the mantissa is below 2^53 and the decimal exponent is within
     * +-22 the result of one multiply or divide by an exact power of ten is
     * correctly rounded, hence identical to strtod. Anything else goes to
     * strtod. */
    const char *s = p;
    int neg = 0;
    if (s < end && (*s == '-' || *s == '+')) neg = *s++ == '-';
    uint64_t mant = 0;
    int digits = 0, frac = 0, any = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        if (digits < 19) {
            mant = mant * 10 + (uint64_t)(*s - '0');
            if (mant) digits++;
        } else {
            return slow_parse(p, end, out);
        }
        any = 1;
        s++;
    }
    if (s < end && *s == '.') {
        s++;
        while (s < end && *s >= '0' && *s <= '9') {
            if (digits < 19) {
                mant = mant * 10 + (uint64_t)(*s - '0');
                if (mant) digits++;
                frac++;
            } else {
                return slow_parse(p, end, out);
            }
            any = 1;
            s++;
        }
    }
    if (!any) return slow_parse(p, end, out); /* "inf", "nan", ".", "-" ... */
    int exp10 = 0;
    if (s < end && (*s == 'e' || *s == 'E')) {
        const char *t = s + 1;
        int eneg = 0;
        if (t < end && (*t == '-' || *t == '+')) eneg = *t++ == '-';
        if (!(t < end && *t >= '0' && *t <= '9')) return slow_parse(p, end, out);
        int e = 0;
        while (t < end && *t >= '0' && *t <= '9') {
            if (e < 100000) e = e * 10 + (*t - '0');
            t++;
        }
        exp10 = eneg ? -e : e;
        s = t;
    }
    if (s < end && (*s == 'x' || *s == 'X' || *s == 'p' || *s == 'P'))
        return slow_parse(p, end, out); /* hex float: strtod's business */
    int e = exp10 - frac;
    if (mant > (UINT64_C(1) << 53) || e < -22 || e > 22) return slow_parse(p, end, out);
    double v = (double)mant;
    v = e < 0 ? v / POW10[-e] : v * POW10[e];
    *out = neg ? -v : v;
    return s;
}
