// method_config.c: the method settings of a configuration (method_config.h) and their resolution
// against the model (methods.h).
#define _GNU_SOURCE
#include "method_config.h"

#include "config_values.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int bad(const PcConfig *cfg, const char *sec, const char *key, const char *expected, PcError *err) {
    return cfg_bad_named(cfg, sec, key, expected, err);
}

static int get_int(const PcConfig *cfg, const char *sec, const char *key, long lo, long hi, int *out, PcError *err) {
    return cfg_int_named(cfg, sec, key, lo, hi, out, err);
}

static int get_pos_float(const PcConfig *cfg, const char *sec, const char *key, float *out, PcError *err) {
    const char *v = pc_config_get(cfg, sec, key);
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (!*v || *end || errno || !(d > 0) || !isfinite(d)) return bad(cfg, sec, key, "a number > 0", err);
    *out = (float)d;
    return 0;
}

// An integer of [sec] key in lo..hi, else one line with `expect` as the expected values.
static int get_int_in(const PcConfig *cfg, const char *sec, const char *key, long lo, long hi, const char *expect,
                      int *out, PcError *err) {
    const char *v = pc_config_get(cfg, sec, key);
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) return bad(cfg, sec, key, expect, err);
    *out = (int)x;
    return 0;
}

// [rise] and [occlusion]: counts, p in (0, 1], the window against the image side ([preprocess]
// size, checked by config.c before this runs) and captum's rule stride <= window.
static int perturb_settings(const PcConfig *cfg, PcMethodSettings *s, PcError *err) {
    const int S = atoi(pc_config_get(cfg, "preprocess", "size"));
    char expect[96];
    if (get_int(cfg, "rise", "masks", 1, 65535, &s->rise_masks, err)) return -1;
    snprintf(expect, sizeof expect, "an integer in 1..%d ([preprocess] size)", S);
    if (get_int_in(cfg, "rise", "cells", 1, S, expect, &s->rise_cells, err)) return -1;
    const char *v = pc_config_get(cfg, "rise", "p");
    char *end;
    errno = 0;
    double p = strtod(v, &end);
    if (!*v || *end || errno || !(p > 0 && p <= 1)) return bad(cfg, "rise", "p", "a number in (0, 1]", err);
    s->rise_p = p;
    if (get_int_in(cfg, "occlusion", "window", 1, S, expect, &s->occ_window, err)) return -1;
    const int hi = s->occ_window < S ? s->occ_window : S;
    snprintf(expect, sizeof expect, "an integer in 1..%d: at most [occlusion] window, as captum", hi);
    return get_int_in(cfg, "occlusion", "stride", 1, hi, expect, &s->occ_stride, err);
}

int pc_method_settings_from_config(const PcConfig *cfg, PcMethodSettings *s, PcError *err) {
    memset(s, 0, sizeof *s);
    snprintf(s->cam_layer, sizeof s->cam_layer, "%s", pc_config_get(cfg, "cam", "layer"));
    snprintf(s->layercam_layers, sizeof s->layercam_layers, "%s", pc_config_get(cfg, "layercam", "layers"));
    snprintf(s->zoomcam_layers, sizeof s->zoomcam_layers, "%s", pc_config_get(cfg, "zoomcam", "layers"));
    if (strchr(s->cam_layer, ',')) return bad(cfg, "cam", "layer", "one layer name", err);
    if (get_int(cfg, "ig", "steps", 1, 4096, &s->ig_steps, err)) return -1;
    if (get_int(cfg, "smoothgrad", "samples", 1, 65535, &s->smoothgrad_samples, err)) return -1;
    if (get_pos_float(cfg, "smoothgrad", "sigma", &s->smoothgrad_sigma, err)) return -1;
    if (get_int(cfg, "smoothgradcampp", "samples", 1, 65535, &s->sgcampp_samples, err)) return -1;
    if (get_pos_float(cfg, "smoothgradcampp", "sigma", &s->sgcampp_sigma, err)) return -1;
    if (get_int(cfg, "sscam", "samples", 1, 65535, &s->sscam_samples, err)) return -1;   // 16-bit sample index
    if (get_pos_float(cfg, "sscam", "sigma", &s->sscam_sigma, err)) return -1;
    if (get_int(cfg, "iscam", "samples", 1, 65535, &s->iscam_samples, err)) return -1;
    if (perturb_settings(cfg, s, err)) return -1;
    const char *seed = pc_config_get(cfg, "run", "seed");
    char *end;
    errno = 0;
    unsigned long long v = strtoull(seed, &end, 10);
    if (!*seed || *end || errno || seed[0] == '-') return bad(cfg, "run", "seed", "an integer in 0..2^64-1", err);
    s->seed = v;
    _Static_assert(PC_METHOD_MAX_EXTERNAL == PC_MAX_EXTERNAL, "[external NAME] section counts");
    for (int i = 0; i < cfg->n_external; i++) {   // ext:NAME (config_external.c checked them)
        snprintf(s->external[i].name, sizeof s->external[i].name, "%s", cfg->external[i].name);
        s->external[i].file = cfg->external[i].file;
        s->external[i].method = cfg->external[i].method ? cfg->external[i].method : "";
    }
    s->n_external = cfg->n_external;
    return 0;
}

int pc_robustness_from_config(const PcConfig *cfg, PcRobustness *r, PcError *err) {
    memset(r, 0, sizeof *r);
    static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};
    const char *v = pc_config_get(cfg, "robustness", "sensitivity");
    int known = 0;
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i])) r->sensitivity = 1, known = 1;
        if (!strcasecmp(v, no[i])) known = 1;
    }
    if (!known) return bad(cfg, "robustness", "sensitivity", "yes or no", err);
    if (get_int(cfg, "robustness", "samples", 1, 255, &r->samples, err)) return -1;
    // normalised inputs lie within about [-2.2, 2.7]: a radius past 10 only measures noise (and a
    // huge one overflows the perturbed inputs to inf)
    if (get_pos_float(cfg, "robustness", "radius", &r->radius, err)) return -1;
    return r->radius <= 10.0f ? 0 : bad(cfg, "robustness", "radius", "a number in (0, 10]", err);
}

int pc_method_config_ids(const PcConfig *cfg, const PcMethodDesc **out, int max, PcError *err) {
    return pc_method_config_ids_named(cfg, out, NULL, max, err);
}

int pc_method_config_ids_named(const PcConfig *cfg, const PcMethodDesc **out, char (*ids)[PC_METHOD_ID_LEN], int max,
                               PcError *err) {
    const char *list = pc_config_get(cfg, "saliency", "methods");
    char seen[64][PC_METHOD_ID_LEN];
    int n = 0;
    const char *p = list;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        char id[96];
        while (len && (*p == ' ' || *p == '\t')) p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        snprintf(id, sizeof id, "%.*s", (int)(len < sizeof id ? len : sizeof id - 1), p);
        const PcMethodDesc *d = pc_method_find(id);
        if (!d) {
            char ids[512];
            pc_method_list_ids(ids, sizeof ids);
            return pc_fail(err, "%s: bad value '%s' for [saliency] methods (expected a comma-separated list of %s)",
                           cfg_origin_named(cfg, "saliency", "methods"), list, ids);
        }
        int dup = 0;
        for (int i = 0; i < n; i++) dup |= !strcmp(seen[i], id);
        if (d->family != PC_FAMILY_POLYCAM && !dup && n < max && n < 64) {
            snprintf(seen[n], sizeof seen[n], "%s", id);
            if (ids) snprintf(ids[n], sizeof ids[n], "%s", id);
            out[n++] = d;
        }
        if (!c) break;
        p = c + 1;
    }
    return n;
}

static int sanity_methods(const PcConfig *cfg, PcSanitySettings *s, PcError *err) {
    const char *key = pc_config_get(cfg, "sanity", "methods")[0] ? "sanity" : "saliency";
    const char *list = pc_config_get(cfg, key, "methods");
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        char id[64];
        snprintf(id, sizeof id, "%.*s", (int)(len < sizeof id ? len : sizeof id - 1), p);
        const PcMethodDesc *d = pc_method_find(id);
        if (d && d->family == PC_FAMILY_EXTERNAL) {   // maps made elsewhere do not depend on the weights
            if (!strcmp(key, "sanity"))
                return bad(cfg, key, "methods", "method ids the check can recompute (not ext:NAME: maps made "
                           "elsewhere do not change with the weights)", err);
            if (!c) break;
            p = c + 1;
            continue;
        }
        if (!d) {     // a Poly-CAM variant or a registry method (no ablation ids)
            char ids[512];
            pc_method_list_ids(ids, sizeof ids);
            return pc_fail(err, "%s: bad value '%s' for [%s] methods (expected a comma-separated list of %s)",
                           cfg_origin_named(cfg, key, "methods"), list, key, ids);
        }
        int dup = 0;
        for (int i = 0; i < s->n_methods; i++) dup |= !strcmp(s->ids[i], id);
        if (!dup && s->n_methods == PC_SANITY_MAX_METHODS)
            return bad(cfg, key, "methods", "at most 32 methods", err);
        if (!dup) snprintf(s->ids[s->n_methods++], sizeof s->ids[0], "%s", id);
        if (!c) break;
        p = c + 1;
    }
    return 0;
}

int pc_sanity_settings_from_config(const PcConfig *cfg, PcSanitySettings *s, PcError *err) {
    memset(s, 0, sizeof *s);
    const char *en = pc_config_get(cfg, "sanity", "enabled");
    static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};
    s->enabled = -1;
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(en, yes[i])) s->enabled = 1;
        if (!strcasecmp(en, no[i])) s->enabled = 0;
    }
    if (s->enabled < 0) return bad(cfg, "sanity", "enabled", "yes or no", err);
    if (get_int(cfg, "sanity", "images", 1, 100000, &s->images, err)) return -1;
    const char *order = pc_config_get(cfg, "sanity", "order");
    s->independent = !strcmp(order, "independent");
    if (!s->independent && strcmp(order, "cascading")) return bad(cfg, "sanity", "order", "cascading or independent", err);
    return sanity_methods(cfg, s, err);
}

// ---- layers -----------------------------------------------------------------------------------

static int get_double_in(const PcConfig *cfg, const char *sec, const char *key, double lo, double hi, int lo_open,
                         const char *expect, double *out, PcError *err) {
    const char *v = pc_config_get(cfg, sec, key);
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(d) || d > hi || d < lo || (lo_open && d == lo))
        return bad(cfg, sec, key, expect, err);
    *out = d;
    return 0;
}

// [precision] keep: comma-separated names, blanks trimmed; -1 for an empty or over-long item or too many.
static int split_names(const char *v, char (*out)[64], int max) {
    int n = 0;
    for (const char *p = v;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        if (!len || len >= 64 || n == max) return -1;
        memcpy(out[n], p, len);
        out[n++][len] = 0;
        if (!e) return n;
        p = e + 1;
    }
}

// Natural order: runs of digits compare by their value ("features.2" < "features.10"), the rest by
// byte; equal values of different spellings ("1", "01") by byte, so the order is total. For
// torchvision's conv names it is the network's order (layer1.0.conv1, conv2, conv3,
// downsample.0, layer1.1.conv1, ...; features.2, features.5, ..., features.28).
static int natural_cmp(const char *a, const char *b) {
    const char *a0 = a, *b0 = b;
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0') a++;
            while (*b == '0') b++;
            size_t na = strspn(a, "0123456789"), nb = strspn(b, "0123456789");
            if (na != nb) return na < nb ? -1 : 1;
            int c = strncmp(a, b, na);
            if (c) return c;
            a += na, b += nb;
        } else {
            if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++, b++;
        }
    }
    if (*a || *b) return *a ? 1 : -1;
    return strcmp(a0, b0);
}

static int keep_cmp(const void *a, const void *b) { return natural_cmp(a, b); }

// The keep names sorted (natural order) without repeats: the key then does not depend on how the
// list was written.
static void canonical_keep(PcPrecisionSettings *s) {
    qsort(s->keep, (size_t)s->n_keep, sizeof s->keep[0], keep_cmp);
    int n = 0;
    for (int k = 0; k < s->n_keep; k++)
        if (n == 0 || strcmp(s->keep[n - 1], s->keep[k])) memmove(s->keep[n++], s->keep[k], sizeof s->keep[0]);
    s->n_keep = n;
}

char *pc_precision_keep_text(const PcPrecisionSettings *s) {
    size_t cap = (size_t)s->n_keep * 66 + 1, used = 0;
    char *out = xmalloc(cap);
    out[0] = 0;
    for (int k = 0; k < s->n_keep; k++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", k ? ", " : "", s->keep[k]);
    return out;
}

int pc_precision_settings_from_config(const PcConfig *cfg, PcPrecisionSettings *s, PcError *err) {
    memset(s, 0, sizeof *s);
    if (get_int(cfg, "precision", "calibration_images", 1, 100000, &s->calibration_images, err)) return -1;
    if (get_double_in(cfg, "precision", "clip", 0.0, 1.0, 1, "a number in (0, 1]", &s->clip, err)) return -1;
    const char *keep = pc_config_get(cfg, "precision", "keep");
    s->n_keep = keep[0] ? split_names(keep, s->keep, PC_MAX_KEEP) : 0;
    if (s->n_keep < 0) return bad(cfg, "precision", "keep", "a comma-separated list of conv layer names", err);
    canonical_keep(s);
    snprintf(s->keep_origin, sizeof s->keep_origin, "%s", cfg_origin_named(cfg, "precision", "keep"));
    if (get_int(cfg, "precision", "guard_images", 0, 100000, &s->guard_images, err)) return -1;
    if (get_double_in(cfg, "precision", "guard_max_dauc", 0.0, 1.0, 0, "a number in [0, 1]", &s->guard_max_dauc, err))
        return -1;
    const char *apply = pc_config_get(cfg, "precision", "apply");
    if (strcmp(apply, "all") && strcmp(apply, "maps")) return bad(cfg, "precision", "apply", "all or maps", err);
    s->apply_maps = !strcmp(apply, "maps");
    return get_double_in(cfg, "precision", "guard_min_agreement", 0.0, 1.0, 0, "a number in [0, 1]",
                         &s->guard_min_agreement, err);
}
