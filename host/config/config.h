// config.h: the polycam-eval run configuration: an INI file (parsed with inih) plus command-line
// `--set section.key=value` overrides, checked key by key into typed fields. Every key, its default
// and its meaning live in one table (config.c) that also drives --help and the canonical text
// stored in the output file. Errors name the file and line ("x.ini:12: unknown key 'foo' in
// [model]") or the --set argument.
#ifndef PC_CONFIG_H
#define PC_CONFIG_H

#include <stdio.h>

#include "backend.h"
#include "image.h"
#include "insdel.h"
#include "model.h"
#include "maps_format.h"
#include "metric_perturb.h"
#include "methods.h"
#include "quant_plan.h"
#include "saliency.h"
#include "sanity.h"
#include "sensitivity.h"

typedef enum { PC_CLASS_PREDICTED = 0, PC_CLASS_LABEL } PcClassSource;

// One [external NAME] section (config_external.c; docs/external-maps.md): the file of maps made
// elsewhere that method ext:NAME scores.
#define PC_MAX_EXTERNAL 32
typedef struct {
    char name[64];
    char *file_raw, *file_origin;   // file as written and where ("x.ini:12", "--set ..."); NULL = unset
    char *method, *method_origin;   // method: the /methods id of a result file; NULL = unset
    int file_line, method_line;     // lines in the config file (a key twice is an error)
    char *file;                     // resolved path (after the check)
    char checksum[17];              // of the file's bytes (journal.h: pc_hash_file), in the results' key
} PcExternalSection;

// One configuration key: the table in config.c holds every key the program knows.
typedef struct {
    const char *section;
    const char *key;
    const char *def;        // default value as text ("" = not set)
    const char *help;       // one line for --help and docs/configuration.md
    int affects_results;    // part of the fingerprint that decides whether an output can be resumed
} PcConfigKeyDef;

int pc_config_n_keys(void);
const PcConfigKeyDef *pc_config_key(int i);

typedef struct {
    // ---- raw values, one per key of the table (after the file and --set) ---------------------
    char **raw;             // (n_keys) value text as written; NULL = default
    char **origin;          // (n_keys) "file.ini:12" or "--set a.b=c"; NULL = default
    char **value;           // (n_keys) effective value (default filled in, paths resolved)
    char *path;             // the config file as given
    char *dir;              // absolute folder of the config file (base of its relative paths)
    char *source;           // the file's text followed by one "; --set ..." line per override

    // ---- [model] ------------------------------------------------------------------------------
    PcArchSpec spec;        // the network's shape (the family member's, or the vgg_* / resnet_* keys),
                            // in_size, n_classes = n_classes below or the arch's 1000: see
                            // pc_config_arch_spec for the final class count
    int custom;             // arch is "vgg" or "resnet"
    char *weights;          // resolved path; NULL when not set (the run refuses it, after --check's cost)
    char *classes_file;     // resolved path, or NULL
    int n_classes;          // explicit count (num_classes, or classes = N); 0 = none given
    int n_layers;           // 0 = the arch's default targets
    char layers[PC_MAX_TARGETS][64];

    // ---- [data] -------------------------------------------------------------------------------
    char *list;             // resolved path of the image list
    char *root;             // resolved image folder (default: the list's folder)
    char *labels;           // resolved path, or NULL
    char *masks;            // [data] masks: resolved folder of object masks, or NULL
    int pointing_tol;       // [data] pointing_tolerance in pixels (localisation.h)
    char *reference_classes;   // [data] reference_classes: resolved path, or NULL (refclass.h)
    long offset, limit;     // slice of the list; limit 0 = to the end

    // ---- [preprocess] -------------------------------------------------------------------------
    PcResizeMode resize;
    int size;

    // ---- [saliency] ---------------------------------------------------------------------------
    int variants[PC_N_VARIANTS];    // 1 = compute this variant (pcamp, pcamm, pcampm)
    PcLnormMode lnorm;
    PcNormFormula norm;
    int ablate_levels, ablate_cams, ablate_no_lnorm;
    int n_cam_layers;               // [saliency] cam_layers: the <variant>.cam.<layer> ids' layers;
    char cam_layers[PC_MAX_TARGETS][64];   //   0 = the targets ([model] layers)
    PcClassSource class_source;
    int saliency_batch;             // 0 = auto: the backend's preferred_batch

    // ---- [metrics] ----------------------------------------------------------------------------
    int insertion, deletion;
    PcInsDelOptions insdel;

    // ---- [output] -----------------------------------------------------------------------------
    char *output;           // resolved output file
    PcMapsFormat maps;
    int overlays;           // first K images get PNG overlays

    // ---- [run] --------------------------------------------------------------------------------
    char device[16];        // auto | cpu | cuda
    PcPrecision precision;
    int threads;            // 0 = default
    int decoders;           // decode threads
    int shard_index, shard_count;

    // ---- [external NAME] (config_external.c) -------------------------------------------------
    int n_external;
    PcExternalSection external[PC_MAX_EXTERNAL];

    // ---- the sections their modules own, read once when the configuration is loaded -----------
    PcMethodSettings methods;       // [cam] ... [occlusion], [external NAME], [run] seed (method_config.c;
                                    //   layers still names until pc_method_settings_resolve)
    PcRobustness robustness;        // [robustness] (sensitivity.h)
    PcSanitySettings sanity;        // [sanity] (sanity.h)
    PcPrecisionSettings precision_settings;   // [precision] (quant_plan.h)
    PcPerturbOptions perturb;       // [metrics] road, flip, region, adcc (metric_perturb.h)

    int bad_key;            // while checking: the key whose value failed (-1 none)
} PcConfig;

// Reads path, applies the n_sets "section.key=value" overrides, checks every value. Relative paths
// in the file are relative to its folder; those given with --set are relative to the current
// directory. On failure returns -1 with one line in err and leaves cfg freed, or -2 when the
// mistake is in a --set argument (a command-line mistake: exit status 2).
int pc_config_load(const char *path, int n_sets, char *const *sets, PcConfig *cfg, PcError *err);
// The same from INI text held in memory (path is only used for messages and relative paths).
int pc_config_load_string(const char *text, const char *path, int n_sets, char *const *sets,
                          PcConfig *cfg, PcError *err);
void pc_config_free(PcConfig *cfg);

// The network to build: cfg->spec with its class count decided, in this order, by num_classes (or
// classes = N), the line count of the class-name file (n_class_names > 0 once it is read), or the
// arch's 1000. A name file that disagrees with an explicit count is an error.
int pc_config_arch_spec(const PcConfig *cfg, int n_class_names, PcArchSpec *spec, PcError *err);

// Effective value text of a key (the default when unset), or NULL for an unknown key.
const char *pc_config_get(const PcConfig *cfg, const char *section, const char *key);

// Canonical INI text of every key with its effective value (paths resolved). With only_results,
// just the keys that change the results: two runs with equal texts produce the same data.
// Result malloc'd.
char *pc_config_canonical(const PcConfig *cfg, int only_results);

// --help text: every key with its default and meaning.
void pc_config_print_help(FILE *out);

#endif
