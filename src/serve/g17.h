/* g17.h - a double as printf's "%.17g" writes it, faster for probabilities. */
#ifndef SHARDLEARN_SERVE_G17_H
#define SHARDLEARN_SERVE_G17_H

#include <stddef.h>

/* Writes x into buf (at least SL_G17_MAX bytes, NUL-terminated) exactly as
 * snprintf(buf, n, "%.17g", x) would, and returns its length. */
#define SL_G17_MAX 32
size_t sl_g17(double x, char *buf);

#endif
