// sensitivity.h: sensitivity-max (Table 5, BASELINES.md B6) as captum 0.6.0's sensitivity_max
// computes it with the arguments the reference (aenglebert/polycam sensitivity.py) gave it:
// n_perturb_samples 10, perturb_radius 0.02, norm 'fro', max_examples_per_batch 1, the class of
// the clean image:
//
//   Sens = max_j ||E(X + d_j) - E(X)||_F / ||E(X)||_F      (denominator 1 when ||E(X)|| = 0)
//
// d_j: captum's default_perturb_func, uniform in the L-infinity ball: torch's uniform_(-r, r) per
// element (from + (to - from) u, float32), here with u the Philox uniforms of stream 5:
// (seed, image list position, sample (5 << 16) | j, element). NaN anywhere (a NaN map, clean or
// perturbed) makes Sens NaN, as torch's norm and max propagate it.
//
// Avg-sensitivity (Yeh et al. 2019, as Quantus 0.6.0's AvgSensitivity computes it with its default
// fro norms and difference) comes from the same calls: the mean over j of the same ratios,
//   Avg = (1/n) sum_j ||E(X + d_j) - E(X)||_F / ||E(X)||_F,
// NaN as soon as one ratio is NaN (Quantus's nanmean would skip it; docs/metrics-localisation-
// randomisation.md). Yeh et al.'s definition has no denominator; captum and Quantus divide by
// ||E(X)||, and so does this, beside sensitivity-max.
//
// E is the method's raw output at its native size: CAM methods their target layer's map, Poly-CAM
// its S x S map, ig and ixg the whole (3, S, S) attribution (PcMethodCtx.unsummed), smoothgrad the
// channel sum. captum calls the explanation function anew for every perturbed input, so random
// methods draw new noise each time: call c (0 = the clean input, j + 1 = perturbation j) uses
// seed pc_sensitivity_call_seed(seed, c), the run's own seed for c = 0 (the clean E is the stored
// map's native output, noise included).
#ifndef PC_SENSITIVITY_H
#define PC_SENSITIVITY_H

#include <stddef.h>
#include <stdint.h>

#include "methods.h"
#include "saliency.h"

// [robustness]: sensitivity-max of every method of the run (BASELINES.md B6).
typedef struct {
    int sensitivity;        // yes|no (default no)
    int samples;            // perturbed inputs per image (10, captum's n_perturb_samples)
    float radius;           // L-infinity radius (0.02, captum's perturb_radius)
} PcRobustness;

// delta (n) of perturbation j of image `image`: -r + 2 r u_i in float32.
void pc_sensitivity_delta(uint64_t seed, uint32_t image, int j, float radius, size_t n, float *delta);

// Seed of a random method's noise in call c: seed + c * 0x9E3779B97F4A7C15 (mod 2^64; c = 0: seed).
uint64_t pc_sensitivity_call_seed(uint64_t seed, int call);

// An explanation function: the K outputs of input x (3, S, S) for call `call` into out[k] (len[k]
// floats each, the lengths given to pc_sensitivity_max). 0, or -1 with err.
typedef int (*PcSensExplain)(void *user, const float *x, int call, float *const *out, PcError *err);

// sens[k] for the K outputs of fn, and avg[k] (avg may be NULL) their avg-sensitivity. clean:
// the K clean outputs, or NULL to compute them (call 0). x (xn) the normalised input. 0, or -1
// with err.
int pc_sensitivity_max(PcSensExplain fn, void *user, int K, const size_t *len, float *const *clean,
                       const float *x, size_t xn, int samples, float radius, uint64_t seed, uint32_t image,
                       double *sens, double *avg, PcError *err);

// A registry method's sensitivity (its native function; ig and ixg unsummed). ctx->set->seed is
// the run's seed. Maps made elsewhere (ext:NAME) have none: NaN, rc 0.
int pc_sensitivity_method(const PcMethodDesc *d, const PcMethodCtx *ctx, int samples, float radius, double *sens,
                          double *avg, PcError *err);

// The Poly-CAM ids of a run from one pc_explain per perturbation: pick(user, e, k) is the S x S
// map of id k (k < K) in explanation e; clean the clean image's explanation (class clean->cls).
typedef const float *(*PcSensPick)(const void *user, const PcExplanation *e, int k);
int pc_sensitivity_polycam(const PcMethodCtx *ctx, const PcTargets *tg, const PcSaliencyOptions *sopt,
                           const PcExplanation *clean, int K, PcSensPick pick, const void *user, int samples,
                           float radius, double *sens, double *avg, PcError *err);

#endif
