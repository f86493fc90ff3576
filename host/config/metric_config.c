// metric_config.c: [metrics] road*, flip*, region*, adcc (metric_config.h).
#define _GNU_SOURCE
#include "metric_config.h"

#include "config_values.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int bad(const PcConfig *cfg, const char *key, const char *expected, PcError *err) {
    return cfg_bad_named(cfg, "metrics", key, expected, err);
}

static int get_bool(const PcConfig *cfg, const char *key, int *out, PcError *err) {
    return cfg_bool_named(cfg, "metrics", key, out, err);
}

static int get_int(const PcConfig *cfg, const char *key, long lo, long hi, int *out, PcError *err) {
    return cfg_int_named(cfg, "metrics", key, lo, hi, out, err);
}

static int get_baseline(const PcConfig *cfg, const char *key, PcPerturbBaseline *out, PcError *err) {
    const char *v = pc_config_get(cfg, "metrics", key);
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(v, pc_perturb_baseline_names[i])) return *out = (PcPerturbBaseline)i, 0;
    return bad(cfg, key, "black, mean, blur or uniform", err);
}

// road_percentages: 1..PC_ROAD_MAX numbers in (0, 100), and road_noise >= 0.
static int get_road(const PcConfig *cfg, PcPerturbOptions *o, PcError *err) {
    const char *p = pc_config_get(cfg, "metrics", "road_percentages");
    o->road_n = 0;
    while (*p) {
        char *end;
        errno = 0;
        double d = strtod(p, &end);
        while (*end == ' ' || *end == '\t') end++;
        if (end == p || errno || !(d > 0 && d < 100) || (*end && *end != ',') || o->road_n == PC_ROAD_MAX)
            return bad(cfg, "road_percentages", "1 to 32 comma-separated numbers in (0, 100)", err);
        o->road_pct[o->road_n++] = (float)d;
        p = *end ? end + 1 : end;
    }
    if (o->road_n == 0) return bad(cfg, "road_percentages", "1 to 32 comma-separated numbers in (0, 100)", err);
    const char *v = pc_config_get(cfg, "metrics", "road_noise");
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (!*v || *end || errno || !(d >= 0 && d <= 10)) return bad(cfg, "road_noise", "a number in [0, 10]", err);
    o->road_noise = (float)d;
    return 0;
}

int pc_perturb_options_from_config(const PcConfig *cfg, PcPerturbOptions *o, PcError *err) {
    pc_perturb_default_options(o);
    if (get_bool(cfg, "road", &o->road, err) || get_road(cfg, o, err)) return -1;
    if (get_bool(cfg, "flip", &o->flip, err) || get_int(cfg, "flip_pixels", 1, 1 << 24, &o->flip_pixels, err) ||
        get_baseline(cfg, "flip_baseline", &o->flip_base, err))
        return -1;
    if (get_bool(cfg, "region", &o->region, err) || get_int(cfg, "region_patch", 1, 4096, &o->region_patch, err) ||
        get_int(cfg, "region_steps", 1, 1 << 20, &o->region_steps, err) ||
        get_baseline(cfg, "region_baseline", &o->region_base, err))
        return -1;
    return get_bool(cfg, "adcc", &o->adcc, err);
}

