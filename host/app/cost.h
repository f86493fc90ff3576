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

// Per image. cam_tg: the isolated CAMs' layers ([saliency] cam_layers; NULL = none beyond tg):
// those that are not targets add their masked passes. n_maps: every stored map (the method ids of
// the run, ablation ids included); rob and ss: [robustness] and [sanity] (NULL: not counted).
void pc_run_cost(const PcConfig *cfg, const PcNet *net, const PcTargets *tg, const PcTargets *cam_tg,
                 const PcMethodDesc *const *others, int n_others, const PcMethodSettings *set, int n_maps,
                 const PcRobustness *rob, const PcSanitySettings *ss, PcRunCost *out);

// The projected time of `passes` forward-pass equivalents on one H100, from the forward rates
// measured there (bench/RESULTS.md, "Forward throughput"; fp16 and fp32), for torchvision's
// VGG16 and ResNet50 at 224 x 224 only: one line into buf ("projected, not measured: ..."), 1;
// 0 for any other network (no measured rate).
int pc_h100_projection(const PcNet *net, double passes, int n_images, char *buf, size_t n);

// "about 3.4 h" / "about 12 min" / "about 40 s".
void pc_format_duration(double seconds, char *buf, size_t n);

#endif
