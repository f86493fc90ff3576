// config_external.c: the [external NAME] sections of a configuration (config.h: PcExternalSection;
// docs/external-maps.md). Each names the file of maps made elsewhere that method ext:NAME scores:
//   file = FILE      an .npz keyed by image name, or a polycam-eval result file (required)
//   method = ID      for a result file: its /methods/<ID>; empty = NAME, or the file's only method
// FILE resolves as the [data] and [model] paths do (against the configuration's folder when
// written in the file, the current folder when given with --set). The file is read once here:
// a missing or unreadable one is refused at load (so also by --check), and its checksum goes into
// the canonical text, so a changed file is not resumed into an old output.
#define _GNU_SOURCE
#include "config_external.h"

#include "config_keys.h"
#include "config_values.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "journal.h"
#include "methods.h"

int cfg_external_section(const char *section, char *name, size_t cap) {
    if (strncmp(section, "external", 8) || (section[8] && section[8] != ' ' && section[8] != '\t')) return 0;
    const char *p = section + 8;
    while (*p == ' ' || *p == '\t') p++;
    if (!pc_method_ext_name_ok(p) || strlen(p) >= cap) return -1;
    snprintf(name, cap, "%s", p);
    return 1;
}

static PcExternalSection *find(PcConfig *cfg, const char *name) {
    for (int i = 0; i < cfg->n_external; i++)
        if (!strcmp(cfg->external[i].name, name)) return &cfg->external[i];
    return NULL;
}

int cfg_external_set(PcConfig *cfg, const char *name, const char *key, const char *value, const char *origin,
                     int line, PcError *err) {
    const int is_file = !strcmp(key, "file");
    if (!is_file && strcmp(key, "method"))
        return pc_fail(err, "unknown key '%s' in [external %s] (expected file or method)", key, name);
    PcExternalSection *s = find(cfg, name);
    if (!s) {
        if (cfg->n_external == PC_MAX_EXTERNAL)
            return pc_fail(err, "more than %d [external NAME] sections", PC_MAX_EXTERNAL);
        s = &cfg->external[cfg->n_external++];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "%s", name);
    }
    char **v = is_file ? &s->file_raw : &s->method, **o = is_file ? &s->file_origin : &s->method_origin;
    int *at = is_file ? &s->file_line : &s->method_line;
    if (line && *at)
        return pc_fail(err, "duplicate key '%s' in [external %s] (first set on line %d)", key, name, *at);
    if (line) *at = line;
    free(*v);
    free(*o);
    *v = strdup(value);
    *o = strdup(origin);
    return 0;
}

// ext:NAME of [saliency] methods without its section: one line naming the methods key's origin.
static int check_ids(PcConfig *cfg, PcError *err) {
    char items[64][64];
    const char *methods = pc_config_get(cfg, "saliency", "methods");
    int n = cfg_split_list(methods, items, 64);
    for (int i = 0; i < n; i++) {
        if (strncmp(items[i], PC_EXT_PREFIX, strlen(PC_EXT_PREFIX))) continue;
        const char *name = items[i] + strlen(PC_EXT_PREFIX);
        if (find(cfg, name)) continue;
        cfg->bad_key = K_METHODS;
        return pc_fail(err, "%s: [saliency] methods names %s, but there is no [external %s] section (add one with "
                       "file = FILE; docs/external-maps.md)", cfg->origin[K_METHODS] ? cfg->origin[K_METHODS] : "default",
                       items[i], name);
    }
    return 0;
}

// The section's file: set, resolved like [data] paths, a regular file that can be read whole.
static int check_file(PcConfig *cfg, PcExternalSection *s, PcError *err) {
    if (!s->file_raw || !s->file_raw[0])
        return pc_fail(err, "%s: [external %s] file is not set (add it, or --set external.%s.file=FILE)", cfg->path,
                       s->name, s->name);
    const int from_set = !strncmp(s->file_origin, "--set ", 6);
    char *base = from_set ? cfg_cwd() : strdup(cfg->dir);
    s->file = pc_join_path(base, s->file_raw);
    free(base);
    struct stat sb;
    PcError e;
    uint64_t sum = 0;
    if (stat(s->file, &sb) != 0)
        return pc_fail(err, "%s: [external %s] file: %s: cannot open (%s)", s->file_origin, s->name, s->file,
                       strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return pc_fail(err, "%s: [external %s] file: %s: not a regular file", s->file_origin, s->name, s->file);
    if (pc_hash_file(s->file, &sum, &e)) return pc_fail(err, "%s: [external %s] file: %s", s->file_origin, s->name, e.msg);
    snprintf(s->checksum, sizeof s->checksum, "%016llx", (unsigned long long)sum);
    return 0;
}

int cfg_check_external(PcConfig *cfg, PcError *err) {
    for (int i = 0; i < cfg->n_external; i++)
        if (check_file(cfg, &cfg->external[i], err)) return -1;
    return check_ids(cfg, err);
}

char *cfg_external_text(const PcConfig *cfg) {
    size_t cap = 1, used = 0;
    for (int i = 0; i < cfg->n_external; i++) {
        const PcExternalSection *s = &cfg->external[i];
        cap += strlen(s->name) + (s->file ? strlen(s->file) : 0) + (s->method ? strlen(s->method) : 0) + 96;
    }
    char *out = xmalloc(cap);
    out[0] = 0;
    for (int i = 0; i < cfg->n_external; i++) {
        const PcExternalSection *s = &cfg->external[i];
        used += (size_t)snprintf(out + used, cap - used, "\n[external %s]\nfile = %s\nmethod = %s\nchecksum = %s\n",
                                 s->name, s->file ? s->file : "", s->method ? s->method : "", s->checksum);
    }
    return out;
}

void cfg_external_free(PcConfig *cfg) {
    for (int i = 0; i < cfg->n_external; i++) {
        PcExternalSection *s = &cfg->external[i];
        free(s->file_raw);
        free(s->file_origin);
        free(s->method);
        free(s->method_origin);
        free(s->file);
    }
    cfg->n_external = 0;
}

void cfg_external_help(FILE *out) {
    fprintf(out, "  [external NAME]   (one per method id ext:NAME: maps made elsewhere, docs/external-maps.md)\n");
    fprintf(out, "    %-34s %s\n", "file = (empty)",
            "an .npz keyed by image name (np.savez, as the reference saves its explanations) or a polycam-eval "
            "result file (required)");
    fprintf(out, "    %-34s %s\n", "method = (empty)",
            "for a result file: the id under /methods; empty = NAME, or the file's only method");
}
