// config_values.c: typed reading of one configuration key's text (config_values.h): integers,
// batch sizes, yes/no, choices, lists and paths, each failing with one line that names the key, its
// origin (file:line or --set) and what was expected.
#define _GNU_SOURCE
#include "config_values.h"

#include "config_keys.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

// An empty value ("key =") means the default, as an absent key does.
int cfg_bad_value(PcConfig *cfg, int k, const char *expected, PcError *err) {
    cfg->bad_key = k;
    return pc_fail(err, "%s: bad value '%s' for [%s] %s (expected %s)",
                   cfg->origin[k] ? cfg->origin[k] : "default", cfg_effective(cfg, k), pc_config_key(k)->section,
                   pc_config_key(k)->key, expected);
}

const char *cfg_origin_named(const PcConfig *cfg, const char *sec, const char *key) {
    for (int k = 0; k < pc_config_n_keys(); k++) {
        const PcConfigKeyDef *d = pc_config_key(k);
        if (!strcmp(d->section, sec) && !strcmp(d->key, key))
            return cfg->origin && cfg->origin[k] ? cfg->origin[k] : "default";
    }
    return "default";
}

int cfg_bad_named(const PcConfig *cfg, const char *sec, const char *key, const char *expected, PcError *err) {
    return pc_fail(err, "%s: bad value '%s' for [%s] %s (expected %s)", cfg_origin_named(cfg, sec, key),
                   pc_config_get(cfg, sec, key), sec, key, expected);
}

int cfg_int_named(const PcConfig *cfg, const char *sec, const char *key, long lo, long hi, int *out, PcError *err) {
    long v;
    if (cfg_parse_long(pc_config_get(cfg, sec, key), lo, hi, &v) == 0) return *out = (int)v, 0;
    char expect[64];
    snprintf(expect, sizeof expect, "an integer in %ld..%ld", lo, hi);
    return cfg_bad_named(cfg, sec, key, expect, err);
}

int cfg_bool_named(const PcConfig *cfg, const char *sec, const char *key, int *out, PcError *err) {
    static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};
    const char *v = pc_config_get(cfg, sec, key);
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i])) return *out = 1, 0;
        if (!strcasecmp(v, no[i])) return *out = 0, 0;
    }
    return cfg_bad_named(cfg, sec, key, "yes or no", err);
}

int cfg_parse_long(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cfg_get_int(PcConfig *cfg, int k, long lo, long hi, long *out, PcError *err) {
    if (cfg_parse_long(cfg_effective(cfg, k), lo, hi, out) == 0) return 0;
    char expect[96];
    if (hi == LONG_MAX) snprintf(expect, sizeof expect, "an integer >= %ld", lo);
    else snprintf(expect, sizeof expect, "an integer in %ld..%ld", lo, hi);
    return cfg_bad_value(cfg, k, expect, err);
}

// A batch size: an integer in 1..65536, or auto (0: the backend's preferred batch, run.c).
int cfg_get_batch(PcConfig *cfg, int k, int *out, PcError *err) {
    long v;
    if (!strcasecmp(cfg_effective(cfg, k), "auto")) return *out = 0, 0;
    if (cfg_parse_long(cfg_effective(cfg, k), 1, 65536, &v) == 0) return *out = (int)v, 0;
    return cfg_bad_value(cfg, k, "auto or an integer in 1..65536", err);
}

int cfg_get_bool(PcConfig *cfg, int k, int *out, PcError *err) {
    const char *v = cfg_effective(cfg, k);
    static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i])) return *out = 1, 0;
        if (!strcasecmp(v, no[i])) return *out = 0, 0;
    }
    return cfg_bad_value(cfg, k, "yes or no", err);
}

// Index of the value in a NULL-terminated choice list; error listing the choices otherwise.
int cfg_get_choice(PcConfig *cfg, int k, const char *const *choices, int *out, PcError *err) {
    const char *v = cfg_effective(cfg, k);
    char expect[256] = "";
    for (int i = 0; choices[i]; i++) {
        if (!strcmp(v, choices[i])) return *out = i, 0;
        size_t n = strlen(expect);
        snprintf(expect + n, sizeof expect - n, "%s%s", i ? (choices[i + 1] ? ", " : " or ") : "", choices[i]);
    }
    return cfg_bad_value(cfg, k, expect, err);
}

// Splits a comma-separated list into trimmed items (at most max, each < item_size).
// Returns the count, or -1 when an item is empty or too long or there are too many.
int cfg_split_list(const char *s, char items[][64], int max) {
    int n = 0;
    const char *p = s;
    while (1) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (n == max) return -1;
        char tmp[256];
        if (len >= sizeof tmp) return -1;
        cfg_trim_copy(tmp, sizeof tmp, p, len);
        if (!tmp[0] || strlen(tmp) >= 64) return -1;
        strcpy(items[n++], tmp);
        if (!c) break;
        p = c + 1;
    }
    return n;
}

char *cfg_cwd(void) {
    char buf[PATH_MAX];
    if (!getcwd(buf, sizeof buf)) return strdup(".");
    return strdup(buf);
}

// base joined with rel; with tidy, rel's leading "./" and "../" are applied to base first.
static char *join(const char *base, const char *rel, int tidy) {
    if (!tidy || rel[0] == '/' || !base || base[0] != '/') return pc_join_path(base, rel);
    char *b = strdup(base);
    for (;;) {
        if (!strncmp(rel, "./", 2)) {
            rel += 2;
        } else if (!strncmp(rel, "../", 3)) {
            char *slash = strrchr(b, '/');
            if (slash == b) b[1] = 0;   // the root's parent is the root
            else *slash = 0;
            rel += 3;
        } else {
            break;
        }
        while (*rel == '/') rel++;
    }
    size_t n = strlen(b) + strlen(rel) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s%s%s", b, strcmp(b, "/") ? "/" : "", rel);
    free(b);
    return p;
}

// Resolves a path value: relative to the config's folder when it came from the file, to the
// current folder when it came from --set.
static char *resolve(const PcConfig *cfg, int k, int tidy) {
    const char *v = cfg_effective(cfg, k);
    if (!v[0]) return NULL;
    if (cfg->origin[k] && !strncmp(cfg->origin[k], "--set ", 6)) {
        char *cwd = cfg_cwd();
        char *p = join(cwd, v, tidy);
        free(cwd);
        return p;
    }
    return join(cfg->dir, v, tidy);
}

char *cfg_resolve_path(const PcConfig *cfg, int k) { return resolve(cfg, k, 0); }
char *cfg_resolve_path_tidy(const PcConfig *cfg, int k) { return resolve(cfg, k, 1); }

// Copies s without leading/trailing blanks into dst (size n).
void cfg_trim_copy(char *dst, size_t n, const char *s, size_t len) {
    while (len && (*s == ' ' || *s == '\t')) s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    if (len >= n) len = n - 1;
    memcpy(dst, s, len);
    dst[len] = 0;
}
