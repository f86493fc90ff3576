// method_config.h: the settings of the non-Poly-CAM methods read from a loaded configuration
// ([cam], [layercam], [zoomcam], [ig], [smoothgrad], [smoothgradcampp], [run] seed; their rows
// live in config.c's key table) and the method ids of [saliency] methods, in the registry's terms.
#ifndef PC_METHOD_CONFIG_H
#define PC_METHOD_CONFIG_H

#include "config.h"
#include "dataset.h"
#include "methods.h"
#include "quant_plan.h"
#include "safe_text.h"   // PC_METHOD_ID_LEN
#include "sanity.h"
#include "sensitivity.h"

// Checks and reads the settings (layers stay names until pc_method_settings_resolve; the
// [external NAME] sections point into cfg). One line naming the key, its origin and the expected
// values on a bad value.
int pc_method_settings_from_config(const PcConfig *cfg, PcMethodSettings *s, PcError *err);

// Checks and reads [robustness]; one line naming the key, its origin and the expected values.
int pc_robustness_from_config(const PcConfig *cfg, PcRobustness *r, PcError *err);

// The registry entries of the non-Poly-CAM ids in [saliency] methods, in the order given, without
// repeats. Returns the count (at most max); -1 with err for an unknown id.
int pc_method_config_ids(const PcConfig *cfg, const PcMethodDesc **out, int max, PcError *err);
// The same with each id as written into ids (NULL: not wanted): "ext:NAME" ids share one entry.
int pc_method_config_ids_named(const PcConfig *cfg, const PcMethodDesc **out, char (*ids)[PC_METHOD_ID_LEN], int max,
                               PcError *err);

// Checks and reads [precision]; one line naming the key, its origin and the expected values.
// keep holds the names trimmed, sorted in natural order (digit runs by value: for torchvision's
// names the network's order) and without repeats.
int pc_precision_settings_from_config(const PcConfig *cfg, PcPrecisionSettings *s, PcError *err);
// The canonical text of keep, ", "-joined (malloc'd; "" when empty): what the configuration texts
// and the key store, so that "b,a", "a, b" and "a,b,a" make one key.
char *pc_precision_keep_text(const PcPrecisionSettings *s);

// Checks and reads [sanity]; methods empty = the ids of [saliency] methods, in their order.
int pc_sanity_settings_from_config(const PcConfig *cfg, PcSanitySettings *s, PcError *err);

#endif
