// metric_store.h: the per-method datasets of the perturbation metrics in a result file
// (/methods/<id>/road/..., flip/..., region/..., adcc/...; docs/metrics.md lists them), as the
// layout's "extra sets" (layout.h): which exist for a configuration, and a PcPerturbResult packed
// into a method's slice of PcImageResult.extra. The sets themselves: results/extra_sets.h.
#ifndef PC_METRIC_STORE_H
#define PC_METRIC_STORE_H

#include "layout.h"
#include "metric_perturb.h"

// The sets of the enabled metrics, widths set for an S x S input, into out (at most PC_MAX_EXTRA).
// Returns the count.
int pc_metric_sets(const PcPerturbOptions *opt, int size, PcExtraSet *out);

// Writes res into one method's slice (the layout's extra width, NaN-initialised) in the order of
// the layout's sets (those the run has).
void pc_metric_store_result(const PcStoreLayout *l, const PcPerturbResult *res, const PcPerturbOptions *opt,
                            int size, double *slice);

// Every enabled metric of one map (pc_perturb_eval with the context's options, curves in scratch
// memory) stored into `slice` (pc_metric_store_result). 0, or -1 with err.
int pc_metric_eval_store(PcPerturbContext *ctx, PcBackendNet *bn, const float *map, int cls, const PcStoreLayout *l,
                         double *slice, PcError *err);

#endif
