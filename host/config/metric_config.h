// metric_config.h: the perturbation metrics' keys of [metrics] (road*, flip*, region*, adcc; see
// config.c's key table and docs/metrics.md) read into PcPerturbOptions.
#ifndef PC_METRIC_CONFIG_H
#define PC_METRIC_CONFIG_H

#include "config.h"
#include "metric_perturb.h"

// Checks and reads the keys; batch and seed are left at their defaults (the run sets them). 0, or
// -1 with one line naming the key, where it was set and the expected values.
int pc_perturb_options_from_config(const PcConfig *cfg, PcPerturbOptions *opt, PcError *err);

#endif
