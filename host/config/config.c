// config.c: INI configuration of a polycam-eval run. inih does the tokenising; a line-counting
// reader feeds it so every message can name file:line (the packaged inih is built without
// INI_HANDLER_LINENO), and strips leading blanks so no line is taken as a continuation of the
// previous value. Values are kept as text first (file, then --set overrides), then checked one by
// one into the typed fields of PcConfig.
#define _GNU_SOURCE
#include "config_internal.h"
#include "method_config.h"
#include "metric_config.h"
#include "safe_text.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const PcConfigKeyDef g_keys[K_COUNT] = {
#define PC_KEY_ROW(name, section, key, def, help, affects) {section, key, def, help, affects},
    PC_CONFIG_KEYS(PC_KEY_ROW)
#undef PC_KEY_ROW
};

// The method ids of saliency.h's variants, repeated here so the config module links on its own.
static const char *const variant_ids[PC_N_VARIANTS] = {"pcamp", "pcamm", "pcampm"};

static const char *const g_sections[] = {"model", "data", "preprocess", "saliency", "cam", "layercam",
                                         "zoomcam", "ig", "smoothgrad", "smoothgradcampp", "sscam", "iscam",
                                         "rise", "occlusion", "metrics", "robustness", "output", "run",
                                         "sanity", "precision"};
#define N_SECTIONS ((int)(sizeof g_sections / sizeof g_sections[0]))

int pc_config_n_keys(void) { return K_COUNT; }
const PcConfigKeyDef *pc_config_key(int i) { return (i >= 0 && i < K_COUNT) ? &g_keys[i] : NULL; }

static int section_known(const char *s) {
    for (int i = 0; i < N_SECTIONS; i++)
        if (!strcmp(g_sections[i], s)) return 1;
    return 0;
}

static int key_index(const char *section, const char *key) {
    for (int i = 0; i < K_COUNT; i++)
        if (!strcmp(g_keys[i].section, section) && !strcmp(g_keys[i].key, key)) return i;
    return -1;
}

// Copies s without leading/trailing blanks into dst (size n).
void cfg_trim_copy(char *dst, size_t n, const char *s, size_t len) {
    while (len && (*s == ' ' || *s == '\t')) s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    if (len >= n) len = n - 1;
    memcpy(dst, s, len);
    dst[len] = 0;
}

// ---- parsing ----------------------------------------------------------------------------------

typedef struct {
    PcConfig *cfg;
    const char *text;
    size_t pos, len;
    int line;               // line most recently handed to inih
    int *key_line;          // (K_COUNT) line where each key was set, 0 = not yet
    int failed;
    PcError *err;
} ParseState;

static void parse_error(ParseState *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void parse_error(ParseState *st, const char *fmt, ...) {
    if (st->failed) return;     // the first error is the one reported
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pc_fail(st->err, "%s:%d: %s", st->cfg->path, st->line, msg);
    st->failed = 1;
}

// fgets-style reader over the in-memory file that counts lines and vets section headers.
static char *read_line(char *str, int num, void *stream) {
    ParseState *st = stream;
    if (st->pos >= st->len) return NULL;
    const char *start = st->text + st->pos;
    const char *nl = memchr(start, '\n', st->len - st->pos);
    size_t n = nl ? (size_t)(nl - start) + 1 : st->len - st->pos;
    st->pos += n;
    st->line++;
    while (n && (*start == ' ' || *start == '\t')) start++, n--;
    // the text, its newline and the NUL must fit in inih's buffer of num bytes
    size_t text_len = n && start[n - 1] == '\n' ? n - 1 : n;
    if (text_len + 2 > (size_t)num) {
        parse_error(st, "line too long (more than %d characters)", num - 2);
        snprintf(str, (size_t)num, ";\n");
        return str;
    }
    memcpy(str, start, n);
    str[n] = 0;
    if (str[0] == '[') {
        char *close = strchr(str, ']');
        if (close) {
            char name[128];
            cfg_trim_copy(name, sizeof name, str + 1, (size_t)(close - str - 1));
            char ext[64];
            const int external = cfg_external_section(name, ext, sizeof ext);   // [external NAME]
            if (external < 0)
                parse_error(st, "bad section [%s] (expected [external NAME], NAME of letters, digits, '_' and '-')",
                            name);
            else if (!external && !section_known(name)) {
                char list[512] = "";
                for (int i = 0; i < N_SECTIONS; i++) {
                    size_t u = strlen(list);
                    snprintf(list + u, sizeof list - u, "%s[%s]", i ? " " : "", g_sections[i]);
                }
                parse_error(st, "unknown section [%s] (expected one of %s)", name, list);
            }
        } else {
            parse_error(st, "syntax error (section header without ']')");
        }
    }
    return str;
}

static int on_key(void *user, const char *section, const char *name, const char *value) {
    ParseState *st = user;
    char sec[128];
    cfg_trim_copy(sec, sizeof sec, section, strlen(section));
    if (!sec[0]) {
        parse_error(st, "key '%s' outside of any [section]", name);
        return 0;
    }
    char ext[64];
    if (cfg_external_section(sec, ext, sizeof ext) > 0) {   // [external NAME] (config_external.c)
        PcError e;
        char origin[1200];
        snprintf(origin, sizeof origin, "%s:%d", st->cfg->path, st->line);
        if (cfg_external_set(st->cfg, ext, name, value, origin, st->line, &e)) parse_error(st, "%s", e.msg);
        return !st->failed;
    }
    if (!section_known(sec)) return 0;     // already reported by the reader
    int k = key_index(sec, name);
    if (k < 0) {
        parse_error(st, "unknown key '%s' in [%s]", name, sec);
        return 0;
    }
    if (st->key_line[k]) {
        parse_error(st, "duplicate key '%s' in [%s] (first set on line %d)", name, sec, st->key_line[k]);
        return 0;
    }
    st->key_line[k] = st->line;
    PcConfig *cfg = st->cfg;
    cfg->raw[k] = strdup(value);
    char origin[1200];
    snprintf(origin, sizeof origin, "%s:%d", cfg->path, st->line);
    cfg->origin[k] = strdup(origin);
    return 1;
}

// "section.key=value" from the command line.
static int apply_set(PcConfig *cfg, const char *set, PcError *err) {
    // a newline would forge lines of the stored configuration (config_source): refused, as any
    // other control character
    for (const unsigned char *c = (const unsigned char *)set; *c; c++)
        if (*c < 0x20 || *c == 0x7f) {
            char shown[200];
            return pc_fail(err, "--set %s: holds a control character (\\x%02x); a value is one line of text",
                           pc_printable(shown, sizeof shown, set), *c);
        }
    const char *eq = strchr(set, '=');
    const char *dot = strchr(set, '.');
    if (!eq || !dot || dot > eq)
        return pc_fail(err, "--set %s: expected section.key=value", set);
    char sec[128], key[128];
    cfg_trim_copy(sec, sizeof sec, set, (size_t)(dot - set));
    cfg_trim_copy(key, sizeof key, dot + 1, (size_t)(eq - dot - 1));
    char val[4096];
    cfg_trim_copy(val, sizeof val, eq + 1, strlen(eq + 1));
    // [external NAME]: --set external.NAME.key=value, or "external NAME.key=value"
    char ext[64], *kdot = strchr(key, '.');
    int external = cfg_external_section(sec, ext, sizeof ext);
    if (!strcmp(sec, "external") && kdot && kdot - key < 64) {
        snprintf(sec, sizeof sec, "external %.*s", (int)(kdot - key), key);
        memmove(key, kdot + 1, strlen(kdot + 1) + 1);
        external = cfg_external_section(sec, ext, sizeof ext);
    }
    if (external < 0 || !strcmp(sec, "external"))
        return pc_fail(err, "--set %s: bad section [%s] (expected external.NAME.key=value, NAME of letters, digits, "
                       "'_' and '-')", set, sec);
    if (external) {
        size_t n = strlen(set) + 8;
        char *origin = xmalloc(n);
        snprintf(origin, n, "--set %s", set);
        PcError e;
        int rc = cfg_external_set(cfg, ext, key, val, origin, 0, &e);
        free(origin);
        return rc ? pc_fail(err, "--set %s: %s", set, e.msg) : 0;
    }
    if (!section_known(sec)) return pc_fail(err, "--set %s: unknown section [%s]", set, sec);
    int k = key_index(sec, key);
    if (k < 0) return pc_fail(err, "--set %s: unknown key '%s' in [%s]", set, key, sec);
    free(cfg->raw[k]);
    free(cfg->origin[k]);
    cfg->raw[k] = strdup(val);
    size_t n = strlen(set) + 8;
    cfg->origin[k] = xmalloc(n);
    snprintf(cfg->origin[k], n, "--set %s", set);
    return 0;
}

static int check_data(PcConfig *cfg, PcError *err) {
    cfg->list = cfg_resolve_path(cfg, K_LIST);
    if (!cfg->list)
        return pc_fail(err, "%s: [data] list is not set (add it, or --set data.list=FILE)", cfg->path);
    cfg->root = cfg_resolve_path(cfg, K_ROOT);
    if (!cfg->root) {
        // default: the folder of the list file
        const char *slash = strrchr(cfg->list, '/');
        cfg->root = slash ? strndup(cfg->list, (size_t)(slash - cfg->list)) : strdup(".");
    }
    cfg->labels = cfg_resolve_path(cfg, K_LABELS);
    cfg->masks = cfg_resolve_path(cfg, K_MASKS);
    long tol;
    if (cfg_get_int(cfg, K_POINT_TOL, 0, 10000, &tol, err)) return -1;
    cfg->pointing_tol = (int)tol;
    cfg->reference_classes = cfg_resolve_path(cfg, K_REF_CLASSES);
    if (cfg_get_int(cfg, K_OFFSET, 0, LONG_MAX, &cfg->offset, err)) return -1;
    if (cfg_get_int(cfg, K_LIMIT, 0, LONG_MAX, &cfg->limit, err)) return -1;
    return 0;
}

// [run] device: auto | cpu | cuda | cuda:K, kept as text for pc_backend_create (device.h).
static int get_device(PcConfig *cfg, PcError *err) {
    const char *v = cfg_effective(cfg, K_DEVICE);
    long k;
    int ok = !strcmp(v, "auto") || !strcmp(v, "cpu") || !strcmp(v, "cuda") ||
             (!strncmp(v, "cuda:", 5) && v[5] >= '0' && v[5] <= '9' && !cfg_parse_long(v + 5, 0, 4095, &k));
    if (!ok) return cfg_bad_value(cfg, K_DEVICE, "auto, cpu, cuda or cuda:K with K the GPU's ordinal", err);
    snprintf(cfg->device, sizeof cfg->device, "%s", v);
    return 0;
}

// [run] shard = auto inside a Slurm job array --array=0-(n-1): i = SLURM_ARRAY_TASK_ID, n = the
// array's size. An array that does not start at 0 or has gaps (a resubmitted subset, a step) is
// refused: its ids cannot say which shard of how many a task is.
static int shard_from_slurm(PcConfig *cfg, PcError *err) {
    const char *where = cfg->origin[K_SHARD] ? cfg->origin[K_SHARD] : "default";
    const char *id = getenv("SLURM_ARRAY_TASK_ID"), *lo = getenv("SLURM_ARRAY_TASK_MIN");
    const char *hi = getenv("SLURM_ARRAY_TASK_MAX"), *count = getenv("SLURM_ARRAY_TASK_COUNT");
    long t, a, b, c;
    if (!id)
        return pc_fail(err, "%s: [run] shard = auto outside a Slurm job array (SLURM_ARRAY_TASK_ID is not set); "
                       "give i/n", where);
    if (cfg_parse_long(id, 0, INT_MAX, &t) || cfg_parse_long(lo, 0, INT_MAX, &a) || cfg_parse_long(hi, 0, INT_MAX, &b) ||
        (count && cfg_parse_long(count, 1, INT_MAX, &c)))
        return pc_fail(err, "%s: [run] shard = auto: unreadable SLURM_ARRAY_TASK_ID/MIN/MAX/COUNT (%s/%s/%s/%s)",
                       where, id, lo ? lo : "unset", hi ? hi : "unset", count ? count : "unset");
    if (a != 0 || t > b || (count && c != b + 1))
        return pc_fail(err, "%s: [run] shard = auto needs a job array --array=0-(n-1) without gaps (this one: "
                       "tasks %ld..%ld%s%s); give i/n", where, a, b, count ? ", count " : "", count ? count : "");
    cfg->shard_index = (int)t;
    cfg->shard_count = (int)b + 1;
    return 0;
}

// [run] shard: i/n, or auto (from the Slurm array task).
static int get_shard(PcConfig *cfg, PcError *err) {
    const char *v = cfg_effective(cfg, K_SHARD);
    if (!strcmp(v, "auto")) return shard_from_slurm(cfg, err);
    int i, n;
    char tail;
    if (sscanf(v, "%d/%d%c", &i, &n, &tail) != 2 || n < 1 || i < 0 || i >= n)
        return cfg_bad_value(cfg, K_SHARD, "i/n with 0 <= i < n, e.g. 0/4, or auto", err);
    cfg->shard_index = i;
    cfg->shard_count = n;
    return 0;
}

static int check_preprocess(PcConfig *cfg, PcError *err) {
    long v;
    int c;
    static const char *const resize[] = {"bilinear", "antialias", "crop256", NULL};
    if (cfg_get_choice(cfg, K_RESIZE, resize, &c, err)) return -1;
    cfg->resize = (PcResizeMode)c;
    if (cfg_get_int(cfg, K_SIZE, 16, 4096, &v, err)) return -1;
    cfg->size = (int)v;
    cfg->spec.in_size = cfg->size;
    return 0;
}

// [saliency] methods: method ids of the registry (methods.c).
static int check_methods(PcConfig *cfg, PcError *err) {
    char items[64][64], ids[512], expect[640];
    pc_method_list_ids(ids, sizeof ids);
    snprintf(expect, sizeof expect, "a comma-separated list of %s", ids);
    int n = cfg_split_list(cfg_effective(cfg, K_METHODS), items, 64);
    if (n < 0) return cfg_bad_value(cfg, K_METHODS, expect, err);
    memset(cfg->variants, 0, sizeof cfg->variants);
    for (int i = 0; i < n; i++) {
        int found = pc_method_find(items[i]) != NULL;
        for (int vi = 0; vi < PC_N_VARIANTS; vi++)
            if (!strcmp(items[i], variant_ids[vi])) cfg->variants[vi] = found = 1;
        if (!found) return cfg_bad_value(cfg, K_METHODS, expect, err);
    }
    return 0;
}

// [saliency] cam_layers: the layers of the isolated-CAM ids, only with ablations = cams.
static int check_cam_layers(PcConfig *cfg, PcError *err) {
    const char *v = cfg_effective(cfg, K_CAM_LAYERS);
    cfg->n_cam_layers = 0;
    if (!v[0]) return 0;
    int n = cfg_split_list(v, cfg->cam_layers, PC_MAX_TARGETS);
    if (n < 0) return cfg_bad_value(cfg, K_CAM_LAYERS, "1 to 8 comma-separated layer names, earliest first", err);
    if (!cfg->ablate_cams) {
        cfg->bad_key = K_CAM_LAYERS;
        return pc_fail(err, "%s: [saliency] cam_layers is set but [saliency] ablations has no cams (add cams, or "
                       "leave cam_layers empty)", cfg->origin[K_CAM_LAYERS] ? cfg->origin[K_CAM_LAYERS] : cfg->path);
    }
    cfg->n_cam_layers = n;
    return 0;
}

// [saliency] ablations: none, or the extra method ids per variant.
static int check_ablations(PcConfig *cfg, PcError *err) {
    cfg->ablate_levels = cfg->ablate_cams = cfg->ablate_no_lnorm = 0;
    const char *abl = cfg_effective(cfg, K_ABLATIONS);
    if (!strcmp(abl, "none")) return check_cam_layers(cfg, err);
    const char *expect = "none, or a comma-separated list of levels, cams, no_lnorm";
    char items[8][64];
    int n = cfg_split_list(abl, items, 8);
    if (n < 0) return cfg_bad_value(cfg, K_ABLATIONS, expect, err);
    for (int i = 0; i < n; i++) {
        if (!strcmp(items[i], "levels")) cfg->ablate_levels = 1;
        else if (!strcmp(items[i], "cams")) cfg->ablate_cams = 1;
        else if (!strcmp(items[i], "no_lnorm")) cfg->ablate_no_lnorm = 1;
        else return cfg_bad_value(cfg, K_ABLATIONS, expect, err);
    }
    return check_cam_layers(cfg, err);
}

static int check_saliency(PcConfig *cfg, PcError *err) {
    int c;
    if (check_methods(cfg, err)) return -1;
    static const char *const codepaper[] = {"code", "paper", NULL};
    if (cfg_get_choice(cfg, K_LNORM, codepaper, &c, err)) return -1;
    cfg->lnorm = (PcLnormMode)c;
    if (cfg_get_choice(cfg, K_NORMALIZE, codepaper, &c, err)) return -1;
    cfg->norm = (PcNormFormula)c;
    if (check_ablations(cfg, err)) return -1;
    static const char *const cls[] = {"predicted", "label", NULL};
    if (cfg_get_choice(cfg, K_CLASS, cls, &c, err)) return -1;
    cfg->class_source = (PcClassSource)c;
    return cfg_get_batch(cfg, K_SAL_BATCH, &cfg->saliency_batch, err);
}

static int check_metrics(PcConfig *cfg, PcError *err) {
    long v;
    int c;
    if (cfg_get_bool(cfg, K_INSERTION, &cfg->insertion, err)) return -1;
    if (cfg_get_bool(cfg, K_DELETION, &cfg->deletion, err)) return -1;
    memset(&cfg->insdel, 0, sizeof cfg->insdel);
    if (cfg_get_int(cfg, K_STEPS, 1, (long)cfg->size * cfg->size, &v, err)) return -1;
    cfg->insdel.steps = (int)v;
    static const char *const base[] = {"blur", "grey", "zero", NULL};
    if (cfg_get_choice(cfg, K_BASELINE, base, &c, err)) return -1;
    cfg->insdel.baseline = (PcBaselineKind)c;
    if (cfg_get_int(cfg, K_BLUR_KERNEL, 1, 255, &v, err)) return -1;
    if (v % 2 == 0) return cfg_bad_value(cfg, K_BLUR_KERNEL, "an odd integer in 1..255", err);
    cfg->insdel.blur_kernel = (int)v;
    const char *s = cfg_effective(cfg, K_BLUR_SIGMA);
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (!*s || *end || errno || !(d > 0) || !isfinite(d)) return cfg_bad_value(cfg, K_BLUR_SIGMA, "a number > 0", err);
    cfg->insdel.blur_sigma = (float)d;
    return cfg_get_batch(cfg, K_MET_BATCH, &cfg->insdel.batch, err);
}

// [output] file, default <config name>.h5 in the current folder.
static char *output_path(const PcConfig *cfg) {
    char *out = cfg_resolve_path_tidy(cfg, K_FILE);
    if (out) return out;
    const char *base_name = strrchr(cfg->path, '/');
    base_name = base_name ? base_name + 1 : cfg->path;
    size_t len = strlen(base_name);
    const char *dot = strrchr(base_name, '.');
    if (dot && dot != base_name) len = (size_t)(dot - base_name);
    char *cwd = cfg_cwd();
    char name[512];
    snprintf(name, sizeof name, "%.*s.h5", (int)len, base_name);
    out = pc_join_path(cwd, name);
    free(cwd);
    return out;
}

static int check_output(PcConfig *cfg, PcError *err) {
    long v;
    int c;
    cfg->output = output_path(cfg);
    static const char *const maps[] = {"none", "float16", "float32", NULL};
    if (cfg_get_choice(cfg, K_MAPS, maps, &c, err)) return -1;
    cfg->maps = (PcMapsFormat)c;
    if (cfg_get_int(cfg, K_OVERLAYS, 0, INT_MAX, &v, err)) return -1;
    cfg->overlays = (int)v;
    return 0;
}

static int check_run(PcConfig *cfg, PcError *err) {
    long v;
    int c;
    if (get_device(cfg, err)) return -1;
    static const char *const prec[] = {"fp32", "tf32", "fp16", "bf16", "fp8", "int8", NULL};
    if (cfg_get_choice(cfg, K_PRECISION, prec, &c, err)) return -1;
    cfg->precision = (PcPrecision)c;
    // The CPU backend computes in fp32, and emulates the 8-bit convs of fp8 / int8 exactly in
    // value: tf32 / fp16 / bf16 asked for together with device = cpu would be recorded in the file
    // but not used. (device = auto falling back to the CPU warns instead, run.c.)
    if (!strcmp(cfg->device, "cpu") && cfg->precision != PC_PREC_FP32 && !pc_precision_is_8bit(cfg->precision)) {
        cfg->bad_key = K_PRECISION;
        return pc_fail(err, "%s: [run] precision = %s needs device = cuda; the CPU computes in fp32 only (and "
                       "emulates fp8 and int8): set precision = fp32",
                       cfg->origin[K_PRECISION] ? cfg->origin[K_PRECISION] : cfg->path, prec[c]);
    }
    if (cfg_get_int(cfg, K_THREADS, 0, 4096, &v, err)) return -1;
    cfg->threads = (int)v;
    if (cfg_get_int(cfg, K_DECODERS, 1, 64, &v, err)) return -1;
    cfg->decoders = (int)v;
    return get_shard(cfg, err);
}

// Fills cfg->value: the effective text of every key, with paths resolved.
static void fill_values(PcConfig *cfg) {
    for (int k = 0; k < K_COUNT; k++) {
        const char *v = cfg_effective(cfg, k);
        switch (k) {
        case K_WEIGHTS: v = cfg->weights; break;
        case K_CLASSES: if (cfg->classes_file) v = cfg->classes_file; break;
        case K_LIST: v = cfg->list; break;
        case K_ROOT: v = cfg->root; break;
        case K_LABELS: v = cfg->labels ? cfg->labels : ""; break;
        case K_MASKS: v = cfg->masks ? cfg->masks : ""; break;
        case K_REF_CLASSES: v = cfg->reference_classes ? cfg->reference_classes : ""; break;
        case K_FILE: v = cfg->output; break;
        default: break;
        }
        if (k == K_SHARD) {     // auto is stored as the i/n it stands for (merge and resume read it)
            char shard[32];
            snprintf(shard, sizeof shard, "%d/%d", cfg->shard_index, cfg->shard_count);
            cfg->value[k] = strdup(shard);
            continue;
        }
        cfg->value[k] = strdup(v ? v : "");
    }
}

static char *absolute_dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path + (slash == path))) : strdup(".");
    char buf[PATH_MAX];
    if (realpath(dir, buf)) {
        free(dir);
        return strdup(buf);
    }
    return dir;
}

// Source text: the file, then the overrides as comments, so the output records both.
static char *source_text(const char *text, int n_sets, char *const *sets) {
    size_t n = strlen(text) + 64;
    for (int i = 0; i < n_sets; i++) n += strlen(sets[i]) + 16;
    char *src = xmalloc(n);
    size_t used = (size_t)snprintf(src, n, "%s", text);
    if (used && text[used - 1] != '\n' && n_sets) used += (size_t)snprintf(src + used, n - used, "\n");
    for (int i = 0; i < n_sets; i++) used += (size_t)snprintf(src + used, n - used, "; --set %s\n", sets[i]);
    return src;
}

// inih over the text into cfg->raw / cfg->origin; 0, or -1 with the first error in err.
static int parse_text(PcConfig *cfg, const char *text, PcError *err) {
    int key_line[K_COUNT] = {0};
    ParseState st = {.cfg = cfg, .text = text, .len = strlen(text), .key_line = key_line, .err = err};
    int rc = ini_parse_stream(read_line, &st, on_key, &st);
    if (!st.failed && rc != 0) {
        if (rc > 0) pc_fail(err, "%s:%d: syntax error (expected '[section]', 'key = value' or a comment)", cfg->path, rc);
        else pc_fail(err, "%s: cannot parse (inih error %d)", cfg->path, rc);
        st.failed = 1;
    }
    return st.failed ? -1 : 0;
}

int pc_config_load_string(const char *text, const char *path, int n_sets, char *const *sets,
                          PcConfig *cfg, PcError *err) {
    memset(cfg, 0, sizeof *cfg);
    cfg->raw = xcalloc(K_COUNT, sizeof(char *));
    cfg->origin = xcalloc(K_COUNT, sizeof(char *));
    cfg->value = xcalloc(K_COUNT, sizeof(char *));
    cfg->path = strdup(path);
    cfg->dir = absolute_dir_of(path);
    cfg->bad_key = -1;
    if (!strncmp(text, "\xEF\xBB\xBF", 3)) text += 3;   // a UTF-8 byte order mark is not a line
    cfg->source = source_text(text, n_sets, sets);

    int cmdline = 0;    // the mistake is in a --set argument: a command-line mistake (-2)
    if (parse_text(cfg, text, err)) goto fail;
    for (int i = 0; i < n_sets; i++)
        if (apply_set(cfg, sets[i], err)) {
            cmdline = 1;
            goto fail;
        }
    if (cfg_check_model(cfg, err) || check_data(cfg, err) || check_preprocess(cfg, err) || check_saliency(cfg, err) ||
        check_metrics(cfg, err) || check_output(cfg, err) || check_run(cfg, err)) {
        int k = cfg->bad_key;
        cmdline = k >= 0 && cfg->origin[k] && !strncmp(cfg->origin[k], "--set ", 6);
        goto fail;
    }
    // the sections their modules own, each read once, after the keys the rest depends on
    if (pc_method_settings_from_config(cfg, &cfg->methods, err) || pc_sanity_settings_from_config(cfg, &cfg->sanity, err) ||
        pc_robustness_from_config(cfg, &cfg->robustness, err) ||
        pc_precision_settings_from_config(cfg, &cfg->precision_settings, err) ||
        pc_perturb_options_from_config(cfg, &cfg->perturb, err)) {
        // method_config.c: a bad value, its origin first ("--set ig.steps=0: bad value ...")
        cmdline = !strncmp(err->msg, "--set ", 6);
        goto fail;
    }
    if (cfg_check_external(cfg, err)) {   // [external NAME]: its file read now (also for --check)
        cmdline = !strncmp(err->msg, "--set ", 6);
        goto fail;
    }
    fill_values(cfg);
    free(cfg->value[K_PREC_KEEP]);   // sorted, without repeats (method_config.h): one key per set of names
    cfg->value[K_PREC_KEEP] = pc_precision_keep_text(&cfg->precision_settings);
    return 0;
fail:
    pc_config_free(cfg);
    return cmdline ? -2 : -1;
}

int pc_config_load(const char *path, int n_sets, char *const *sets, PcConfig *cfg, PcError *err) {
    size_t size;
    PcError rerr;
    unsigned char *text = pc_read_file(path, &size, &rerr);
    if (!text) {
        memset(cfg, 0, sizeof *cfg);
        return pc_fail(err, "%s", rerr.msg);
    }
    if (memchr(text, 0, size)) {
        free(text);
        memset(cfg, 0, sizeof *cfg);
        return pc_fail(err, "%s: not a text file (contains NUL bytes)", path);
    }
    int rc = pc_config_load_string((const char *)text, path, n_sets, sets, cfg, err);
    free(text);
    return rc;
}

void pc_config_free(PcConfig *cfg) {
    if (!cfg) return;
    for (int k = 0; k < K_COUNT; k++) {
        if (cfg->raw) free(cfg->raw[k]);
        if (cfg->origin) free(cfg->origin[k]);
        if (cfg->value) free(cfg->value[k]);
    }
    free(cfg->raw);
    free(cfg->origin);
    free(cfg->value);
    free(cfg->path);
    free(cfg->dir);
    free(cfg->source);
    free(cfg->weights);
    free(cfg->classes_file);
    free(cfg->list);
    free(cfg->root);
    free(cfg->labels);
    free(cfg->masks);
    free(cfg->reference_classes);
    free(cfg->output);
    cfg_external_free(cfg);
    memset(cfg, 0, sizeof *cfg);
}

const char *pc_config_get(const PcConfig *cfg, const char *section, const char *key) {
    int k = key_index(section, key);
    if (k < 0) return NULL;
    if (cfg->value && cfg->value[k]) return cfg->value[k];
    return cfg_effective(cfg, k);
}

char *pc_config_canonical(const PcConfig *cfg, int only_results) {
    size_t cap = 4096, used = 0;
    for (int k = 0; k < K_COUNT; k++) cap += strlen(pc_config_get(cfg, g_keys[k].section, g_keys[k].key)) + 64;
    char *out = xmalloc(cap);
    out[0] = 0;
    for (int s = 0; s < N_SECTIONS; s++) {
        // [precision] only in the 8-bit precisions: the texts (and keys) of other runs stay as before
        if (!strcmp(g_sections[s], "precision") && !pc_precision_is_8bit(cfg->precision)) continue;
        int any = !only_results;    // a section without result keys stays out of the key
        for (int k = 0; k < K_COUNT; k++)
            any |= !strcmp(g_keys[k].section, g_sections[s]) && g_keys[k].affects_results;
        if (!any) continue;
        used += (size_t)snprintf(out + used, cap - used, "%s[%s]\n", s ? "\n" : "", g_sections[s]);
        for (int k = 0; k < K_COUNT; k++) {
            if (strcmp(g_keys[k].section, g_sections[s]) || (only_results && !g_keys[k].affects_results)) continue;
            // [precision] apply only when not its default: the texts and keys of earlier 8-bit runs stay
            if (k == K_PREC_APPLY && !strcmp(pc_config_get(cfg, "precision", "apply"), "all")) continue;
            if (k == K_POINT_TOL && strtol(pc_config_get(cfg, "data", "pointing_tolerance"), NULL, 10) == 15) continue;
            // the keys added after the first results, only when set: earlier texts and keys stay
            if ((k == K_CAM_LAYERS || k == K_REF_CLASSES) && !pc_config_get(cfg, g_keys[k].section, g_keys[k].key)[0])
                continue;
            used += (size_t)snprintf(out + used, cap - used, "%s = %s\n", g_keys[k].key,
                                     pc_config_get(cfg, g_keys[k].section, g_keys[k].key));
        }
    }
    char *ext = cfg_external_text(cfg);   // [external NAME] sections: their files change the results
    if (ext[0]) {
        out = realloc(out, used + strlen(ext) + 1);
        if (!out) pc_die("memory", "realloc", __FILE__, __LINE__, "canonical text");
        memcpy(out + used, ext, strlen(ext) + 1);
    }
    free(ext);
    return out;
}

void pc_config_print_help(FILE *out) {
    for (int s = 0; s < N_SECTIONS; s++) {
        fprintf(out, "  [%s]\n", g_sections[s]);
        for (int k = 0; k < K_COUNT; k++) {
            if (strcmp(g_keys[k].section, g_sections[s])) continue;
            char lhs[64];
            snprintf(lhs, sizeof lhs, "%s = %s", g_keys[k].key, g_keys[k].def[0] ? g_keys[k].def : "(empty)");
            // at least two spaces before the meaning, also after a long default (readers split there)
            fprintf(out, "    %-34s %s%s\n", lhs, strlen(lhs) >= 34 ? " " : "", g_keys[k].help);
        }
    }
    cfg_external_help(out);
}
