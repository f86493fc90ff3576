// config_internal.h: what the configuration modules share (config.c: the key table, parsing and
// loading; config_values.c: typed reading of one key's text; config_model.c: the [model] section).
// Not for use outside host/config*.c.
#ifndef PC_CONFIG_INTERNAL_H
#define PC_CONFIG_INTERNAL_H

#include "config.h"
#include "config_keys.h"

// Key indices, in the order of config_keys.h.
enum {
#define PC_KEY_ENUM(name, section, key, def, help, affects) name,
    PC_CONFIG_KEYS(PC_KEY_ENUM)
#undef PC_KEY_ENUM
    K_COUNT
};

// The effective text of key k: its value, or the default when absent or empty ("key =").
const char *cfg_effective(const PcConfig *cfg, int k);
// One line "<origin>: bad value '<v>' for [section] key (expected <expected>)"; returns -1.
int cfg_bad_value(PcConfig *cfg, int k, const char *expected, PcError *err);
int cfg_parse_long(const char *s, long lo, long hi, long *out);
int cfg_get_int(PcConfig *cfg, int k, long lo, long hi, long *out, PcError *err);
int cfg_get_batch(PcConfig *cfg, int k, int *out, PcError *err);
int cfg_get_bool(PcConfig *cfg, int k, int *out, PcError *err);
int cfg_get_choice(PcConfig *cfg, int k, const char *const *choices, int *out, PcError *err);
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
// [model]: arch, weights, classes, layers and the custom shapes into cfg->spec (config_model.c).
int cfg_check_model(PcConfig *cfg, PcError *err);

// ---- [external NAME] (config_external.c) --------------------------------------------------------
// 1 with NAME copied when section is "external NAME" with a valid NAME (methods.h), -1 for
// "external" with a missing or bad NAME, 0 for any other section.
int cfg_external_section(const char *section, char *name, size_t cap);
// Sets key (file | method) of [external name] from origin; line > 0 for the file's lines (a key
// twice is an error). -1 with the problem in err, without origin (the caller puts it first).
int cfg_external_set(PcConfig *cfg, const char *name, const char *key, const char *value, const char *origin,
                     int line, PcError *err);
// After the other checks: each section's file set, resolved and read (checksum); each ext:NAME of
// [saliency] methods has its section. One line naming the origin.
int cfg_check_external(PcConfig *cfg, PcError *err);
// The sections as canonical INI text (malloc'd, "" when none): file resolved, method, checksum.
char *cfg_external_text(const PcConfig *cfg);
void cfg_external_free(PcConfig *cfg);
void cfg_external_help(FILE *out);

#endif
