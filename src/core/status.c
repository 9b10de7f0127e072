/* status.c - status names and detail messages. */
#include "shardlearn/status.h"

#include <stdarg.h>
#include <stdio.h>

const char *sl_status_str(enum sl_status s) {
    switch (s) {
    case SL_OK:
        return "ok";
    case SL_ERR_ARG:
        return "bad argument";
    case SL_ERR_IO:
        return "input/output error";
    case SL_ERR_PARSE:
        return "malformed input";
    case SL_ERR_NET:
        return "tracking server error";
    case SL_ERR_INTERRUPTED:
        return "interrupted";
    }
    return "unknown status";
}

enum sl_status sl_err_set(struct sl_err *err, enum sl_status s, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return s;
}

void sl_err_clear(struct sl_err *err) {
    if (err) err->msg[0] = '\0';
}
