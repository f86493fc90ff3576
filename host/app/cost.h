// cost.h: what a run will cost per image, in forward-pass equivalents, and the projected time of
// the whole run from one timed forward batch (printed at the start of a CPU run, and by --check).
#ifndef PC_COST_H
#define PC_COST_H

#include "config.h"
#include "method_config.h"
#include "methods.h"
#include "saliency.h"

typedef struct {
    double polycam;     // the masked passes shared by the Poly-CAM variants (+ the tapped pass)
    double others;      // the registry methods' maps
    double curves;      // insertion + deletion of every stored map, and the perturbation metrics ([metrics])
    double sensitivity; // [robustness] sensitivity: every method's map again per perturbed input
    double total;       // per image: the four above
    double sanity;      // per image the sanity check explains: steps x (one pass + its methods' maps)
} PcRunCost;

// Per image. n_maps: every stored map (the method ids of the run, ablation ids included); rob and
// ss: [robustness] and [sanity] (NULL: not counted).
void pc_run_cost(const PcConfig *cfg, const PcNet *net, const PcTargets *tg, const PcMethodDesc *const *others,
                 int n_others, const PcMethodSettings *set, int n_maps, const PcRobustness *rob,
                 const PcSanitySettings *ss, PcRunCost *out);

// "about 3.4 h" / "about 12 min" / "about 40 s".
void pc_format_duration(double seconds, char *buf, size_t n);

#endif
