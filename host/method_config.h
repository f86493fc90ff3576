// method_config.h: the settings of the non-Poly-CAM methods read from a loaded configuration
// ([cam], [layercam], [zoomcam], [ig], [smoothgrad], [smoothgradcampp], [run] seed; their rows
// live in config.c's key table) and the method ids of [saliency] methods, in the registry's terms.
#ifndef PC_METHOD_CONFIG_H
#define PC_METHOD_CONFIG_H

#include "config.h"
#include "dataset.h"
#include "methods.h"

#define PC_METHOD_ID_CHARS 96   // = layout.h PC_METHOD_ID_LEN

// Checks and reads the settings (layers stay names until pc_method_settings_resolve; the
// [external NAME] sections point into cfg). One line naming the key, its origin and the expected
// values on a bad value.
int pc_method_settings_from_config(const PcConfig *cfg, PcMethodSettings *s, PcError *err);

// The per-run states of the n registry methods others (ids as written) that have one (PcMethodDesc
// open: ext:NAME), for the images of ds, into states (NULL for the others). 0, or -1 with err
// (the states opened so far stay for pc_method_states_close).
int pc_method_states_open(const PcMethodSettings *s, const PcMethodDesc *const *others,
                          char (*ids)[PC_METHOD_ID_CHARS], int n, const PcDataset *ds, void **states, PcError *err);
void pc_method_states_close(const PcMethodDesc *const *others, int n, void **states);

// [robustness]: sensitivity-max of every method of the run (host/sensitivity.h, BASELINES.md B6).
typedef struct {
    int sensitivity;        // yes|no (default no)
    int samples;            // perturbed inputs per image (10, captum's n_perturb_samples)
    float radius;           // L-infinity radius (0.02, captum's perturb_radius)
} PcRobustness;

// Checks and reads [robustness]; one line naming the key, its origin and the expected values.
int pc_robustness_from_config(const PcConfig *cfg, PcRobustness *r, PcError *err);

// The registry entries of the non-Poly-CAM ids in [saliency] methods, in the order given, without
// repeats. Returns the count (at most max); -1 with err for an unknown id.
int pc_method_config_ids(const PcConfig *cfg, const PcMethodDesc **out, int max, PcError *err);
// The same with each id as written into ids (NULL: not wanted): "ext:NAME" ids share one entry.
int pc_method_config_ids_named(const PcConfig *cfg, const PcMethodDesc **out, char (*ids)[PC_METHOD_ID_CHARS], int max,
                               PcError *err);

// [precision]: the 8-bit precisions' calibration and accuracy guard (quant.h, README: 8-bit
// precisions). Read in every precision; used when [run] precision is fp8 or int8.
#define PC_MAX_KEEP 128
typedef struct {
    int calibration_images;         // 16: the first N images of the list (after offset and limit)
    double clip;                    // 1.0, in (0, 1]: s_x = clip * amax / QMAX
    int n_keep;                     // conv layers kept in 16 bits (names checked against the net
    char keep[PC_MAX_KEEP][64];     //   by pc_quant_plan)
    char keep_origin[256];          // where keep was set: "x.ini:12", "--set ...", "default"
    int guard_images;               // 8, 0 = no guard
    double guard_max_dauc;          // 0.005: largest mean |dAUC| the guard lets pass
    double guard_min_agreement;     // 0.75: smallest fraction of images keeping the fp32 class
    int apply_maps;                 // apply = maps: only the maps' passes in 8 bits; the class and the
                                    //   curves on an unquantised net (fp16 CUDA, fp32 CPU); 0 = all
} PcPrecisionSettings;

// Checks and reads [precision]; one line naming the key, its origin and the expected values.
// keep holds the names trimmed, sorted in natural order (digit runs by value: for torchvision's
// names the network's order) and without repeats.
int pc_precision_settings_from_config(const PcConfig *cfg, PcPrecisionSettings *s, PcError *err);
// The canonical text of keep, ", "-joined (malloc'd; "" when empty): what the configuration texts
// and the key store, so that "b,a", "a, b" and "a,b,a" make one key.
char *pc_precision_keep_text(const PcPrecisionSettings *s);

// [sanity]: the cascading-randomisation sanity check (README: Sanity check).
#define PC_SANITY_MAX_METHODS 32
typedef struct {
    int enabled;                    // [sanity] enabled (--sanity)
    int images;                     // the first N images of the run
    int n_methods;                  // ids: Poly-CAM variants (pcamp, ...) and registry methods
    char ids[PC_SANITY_MAX_METHODS][64];
} PcSanitySettings;

// Checks and reads [sanity]; methods empty = the ids of [saliency] methods, in their order.
int pc_sanity_settings_from_config(const PcConfig *cfg, PcSanitySettings *s, PcError *err);

#endif
