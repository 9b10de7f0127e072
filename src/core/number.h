/* number.h - private to the library: exact, fast decimal-to-double, shared
 * by the data readers and the prediction server's request scanner. */
#ifndef SHARDLEARN_CORE_NUMBER_H
#define SHARDLEARN_CORE_NUMBER_H

/* Parses [p, end) up to the first character that cannot continue a number,
 * returns the pointer after it, or NULL when no number starts at p.
 * Correctly rounded (fast path when exact, strtod otherwise), so the result
 * is strtod's to the bit; "nan"/"inf" spellings are accepted so the caller
 * can reject them as non-finite with a clear message. */
const char *sl_parse_double(const char *p, const char *end, double *out);

#endif
