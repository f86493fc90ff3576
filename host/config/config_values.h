// config_values.h: typed reading of one configuration key's text (config_values.c): integers,
// batches, yes/no, choices, lists and paths resolved against the configuration's folder, with the
// one-line messages that name the key, its origin and the expected values.
#ifndef PC_CONFIG_VALUES_H
#define PC_CONFIG_VALUES_H

#include <stddef.h>

#include "config.h"

// One line "<origin>: bad value '<v>' for [section] key (expected <expected>)"; returns -1.
int cfg_bad_value(PcConfig *cfg, int k, const char *expected, PcError *err);
int cfg_parse_long(const char *s, long lo, long hi, long *out);
int cfg_get_int(PcConfig *cfg, int k, long lo, long hi, long *out, PcError *err);
int cfg_get_batch(PcConfig *cfg, int k, int *out, PcError *err);
int cfg_get_bool(PcConfig *cfg, int k, int *out, PcError *err);
int cfg_get_choice(PcConfig *cfg, int k, const char *const *choices, int *out, PcError *err);
// The same reading by section and key name, for the settings parsers (method_config.c,
// metric_config.c) that hold a const configuration: the message as cfg_bad_value's, the origin
// that of the key (its file line, --set, or "default").
// Where [sec] key's value comes from: "x.ini:12", "--set" or "default".
const char *cfg_origin_named(const PcConfig *cfg, const char *sec, const char *key);
int cfg_bad_named(const PcConfig *cfg, const char *sec, const char *key, const char *expected, PcError *err);
int cfg_int_named(const PcConfig *cfg, const char *sec, const char *key, long lo, long hi, int *out, PcError *err);
int cfg_bool_named(const PcConfig *cfg, const char *sec, const char *key, int *out, PcError *err);
// Comma-separated list into trimmed items (at most max); -1 when an item is empty or too long.
int cfg_split_list(const char *s, char items[][64], int max);
// A path value resolved against the config's folder (file) or the current folder (--set); NULL when empty.
char *cfg_resolve_path(const PcConfig *cfg, int k);
// The same with the relative value's leading "./" and "../" applied to the folder (canonical:
// realpath / getcwd, so this is exact), for paths printed to the user ([output] file: not a
// result key, so the fingerprint is unchanged): "/x/configs/../results/a.h5" -> "/x/results/a.h5".
char *cfg_resolve_path_tidy(const PcConfig *cfg, int k);
// The current folder, absolute (malloc'd).
char *cfg_cwd(void);
// Copies s (len bytes) without leading / trailing blanks into dst (size n).
void cfg_trim_copy(char *dst, size_t n, const char *s, size_t len);

#endif
