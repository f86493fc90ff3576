// config_internal.h: what the configuration modules share (config.c: the key table, parsing and
// loading; config_values.c: typed reading of one key's text; config_model.c: the [model] section).
// Not for use outside host/config*.c.
#ifndef PC_CONFIG_INTERNAL_H
#define PC_CONFIG_INTERNAL_H

#include "config.h"

// Key indices, in the order of the table below.
enum {
    K_ARCH = 0, K_WEIGHTS, K_CLASSES, K_LAYERS, K_NUM_CLASSES, K_VGG_CFG, K_VGG_CLASSIFIER,
    K_VGG_BN, K_RESNET_BLOCK, K_RESNET_STEM, K_RESNET_STAGES,
    K_LIST, K_ROOT, K_LABELS, K_OFFSET, K_LIMIT,
    K_RESIZE, K_SIZE,
    K_METHODS, K_LNORM, K_NORMALIZE, K_ABLATIONS, K_CLASS, K_SAL_BATCH,
    K_INSERTION, K_DELETION, K_STEPS, K_BASELINE, K_BLUR_KERNEL, K_BLUR_SIGMA, K_MET_BATCH,
    K_FILE, K_MAPS, K_OVERLAYS,
    K_DEVICE, K_PRECISION, K_THREADS, K_DECODERS, K_SHARD,
    K_SEED, K_CAM_LAYER, K_LAYERCAM_LAYERS, K_ZOOMCAM_LAYERS, K_IG_STEPS, K_SG_SAMPLES, K_SG_SIGMA,
    K_SGCPP_SAMPLES, K_SGCPP_SIGMA, K_SSCAM_SAMPLES, K_SSCAM_SIGMA, K_ISCAM_SAMPLES,
    K_SANITY_ENABLED, K_SANITY_METHODS, K_SANITY_IMAGES,
    K_SENS, K_SENS_SAMPLES, K_SENS_RADIUS,
    K_RISE_MASKS, K_RISE_CELLS, K_RISE_P, K_OCC_WINDOW, K_OCC_STRIDE,
    K_MASKS,
    K_PREC_CALIB, K_PREC_CLIP, K_PREC_KEEP, K_PREC_GUARD_IMAGES, K_PREC_GUARD_DAUC, K_PREC_GUARD_AGREE,
    K_PREC_APPLY,
    K_POINT_TOL, K_SANITY_ORDER,
    K_CAM_LAYERS, K_REF_CLASSES,
    K_PM_ROAD, K_PM_ROAD_PCT, K_PM_ROAD_NOISE, K_PM_FLIP, K_PM_FLIP_PIXELS, K_PM_FLIP_BASE, K_PM_REGION,
    K_PM_REGION_PATCH, K_PM_REGION_STEPS, K_PM_REGION_BASE, K_PM_ADCC,
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
