/* json.h - reading fields of parsed JSON: journal records and the tracking
 * server's answers. Lowest layer of src/track (includes only cJSON). */
#ifndef SHARDLEARN_TRACK_JSON_H
#define SHARDLEARN_TRACK_JSON_H

#include <cjson/cJSON.h>

/* o[k] when it is a string, else NULL (o may be NULL). Owned by o. */
const char *sl_jstr(const cJSON *o, const char *k);
/* o[k] when it is a number, else dflt (o may be NULL). */
double sl_jnum(const cJSON *o, const char *k, double dflt);

#endif
