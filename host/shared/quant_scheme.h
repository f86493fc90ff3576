// quant_scheme.h: the 8-bit precisions (run.precision = fp8 | int8): the number formats, the rounding
// both backends apply (static inline, PC_HD: callable from host C and CUDA device code, as
// index_math.h), and the per-network scales (PcQuant) a run calibrates and hands to the backend.
//
// The scheme (docs/precisions.md "8-bit precisions"); the CPU backend emulates it exactly in value and is the
// oracle for the CUDA twin:
//   * 8-bit convs: every convolution whose input is not the network input (the first conv reads
//     3 channels, where 8 bits do not pay), whose input and output channel counts are multiples of
//     16 (cuDNN's FP8 / INT8 kernels; pc_quant_eligible) and that the run does not keep in 16 bits
//     (`[precision] keep`). VGG16 and ResNet50: every conv but the first.
//     Linear layers and the first conv run as in fp16 (CUDA) / fp32 (CPU). Max-pool, adaptive
//     average pool, add and ReLU are unchanged.
//   * value of an 8-bit conv node, per output channel k (fp32 accumulation; products of two
//     8-bit values are exact in fp32):
//         y[k] = relu?( s_x * s_w[k] * sum( q_x * q_w[k] ) + b[k] )
//         q_x  = Q(x * (1 / s_x))       x: the conv's input as stored (fp32 CPU, fp16 CUDA)
//         q_w  = Q(w[k] * (1 / s_w[k])) w: the folded (BN-in) fp32 weight
//     The reciprocals are fp32 (1.0f / s). The CPU computes it as the fp32 conv of the values
//     q_x * s_x and q_w * s_w (fake quantisation): the same up to fp32 rounding of the sums.
//   * Q (pc_q_round): fp8 = E4M3 as OCP "e4m3fn" / CUDA __nv_fp8_e4m3 (bias 7, 3 mantissa bits,
//     largest 448, subnormals down to 2^-9, no infinities), round to nearest even, saturating to
//     +-448 (CUDA's __NV_SATFINITE); int8 = round half to even, saturating to [-127, 127]
//     (symmetric: -128 unused). NaN stays NaN.
//   * weight scales, per output channel: s_w[k] = max_j |w[k, j]| / QMAX (pc_quant_weight_scale;
//     1 for a channel whose max / QMAX is not a normal float: all zero, a pruned channel, or below
//     QMAX * FLT_MIN ~ 5e-36 (fp8) / 1.5e-36 (int8), whose 1 / s_w would overflow; its weights
//     then round to 0). Deterministic from the weights: not stored. Both backends take them from
//     pc_quant_weight_scales (the CUDA side on the host, from the same folded fp32 weights).
//   * input scales, per tensor: s_x = clip * amax / QMAX, amax the largest |x| of that conv's
//     input over the calibration images in the run's unquantised forward (a net whose scales were
//     not set runs as fp16 on CUDA, fp32 on the CPU); 1 when amax / QMAX is not a normal float (an
//     all-zero or tiny input, as for the weights; an inf one); a clip that makes s_x subnormal is
//     refused. Stored in the result file; a resume, a shard merge and a report use the stored scales.
//   * every scale s either backend takes satisfies pc_quant_scale_ok: normal and finite, so 1 / s
//     is finite too (at most 1 / FLT_MIN ~ 8.5e37) and no input times 1 / s is inf * 0 = NaN.
#ifndef PC_QUANT_SCHEME_H
#define PC_QUANT_SCHEME_H

#include <float.h>        // FLT_MIN, FLT_MAX

#include "index_math.h"   // PC_HD, math.h

typedef enum { PC_QUANT_NONE = 0, PC_QUANT_FP8 = 1, PC_QUANT_INT8 = 2 } PcQuantFormat;

#define PC_E4M3_MAX 448.0f
#define PC_INT8_MAX 127.0f

// The largest magnitude of the format (QMAX).
static inline PC_HD float pc_q_max(PcQuantFormat f) { return f == PC_QUANT_INT8 ? PC_INT8_MAX : PC_E4M3_MAX; }

// v rounded to the nearest E4M3 value (ties to even), saturated to +-448; NaN stays NaN.
// Normal binades [2^e, 2^(e+1)), e >= -6, have the step 2^(e-3); below 2^-6 (subnormals) the step
// is 2^-9. Scaling by a power of two is exact in fp32, so rintf's tie-to-even is E4M3's.
static inline PC_HD float pc_q_e4m3(float v) {
    if (v != v) return v;
    float a = fabsf(v);
    if (a >= PC_E4M3_MAX) return v < 0.0f ? -PC_E4M3_MAX : PC_E4M3_MAX;
    int e;
    (void)frexpf(a, &e);                 // a = m * 2^e, m in [0.5, 1): floor(log2 a) = e - 1
    int step = (e - 1 < -6 ? -6 : e - 1) - 3;
    float r = ldexpf(rintf(ldexpf(a, -step)), step);
    if (r > PC_E4M3_MAX) r = PC_E4M3_MAX;   // 448 < a < 464 rounds to 448 already; 480 cannot occur
    return v < 0.0f ? -r : r;
}

// v rounded half to even and saturated to [-127, 127]; NaN stays NaN.
static inline PC_HD float pc_q_int8(float v) {
    if (v != v) return v;
    float r = rintf(v);
    return r > PC_INT8_MAX ? PC_INT8_MAX : r < -PC_INT8_MAX ? -PC_INT8_MAX : r;
}

// Q of the format (the 8-bit code's value as a float).
static inline PC_HD float pc_q_round(float v, PcQuantFormat f) {
    return f == PC_QUANT_INT8 ? pc_q_int8(v) : pc_q_e4m3(v);
}

// x quantised with scale s and dequantised: Q(x * (1 / s)) * s, the value an 8-bit conv sees.
static inline PC_HD float pc_q_fake(float x, float inv_s, float s, PcQuantFormat f) {
    return pc_q_round(x * inv_s, f) * s;
}

// 1 when a conv reading node `input` (-1: the network input) with cin -> cout channels may run in
// 8 bits; both backends and the calibration apply this one rule.
static inline PC_HD int pc_quant_eligible(int input, int cin, int cout) {
    return input >= 0 && cin % 16 == 0 && cout % 16 == 0;
}

// The scales of one network, indexed by node (host memory). in_scale[i] > 0 exactly for the
// 8-bit convs; 0 elsewhere.
typedef struct {
    PcQuantFormat format;
    int n_nodes;
    float *in_scale;        // (n_nodes) s_x of node i's input, 0 = node i is not an 8-bit conv
} PcQuant;

// 1 when s may scale 8-bit values: a normal, finite float (> 0), so that 1 / s is finite as well
// (a subnormal s has 1 / s up to inf, and 0 * inf is NaN). The backends refuse other input scales.
static inline PC_HD int pc_quant_scale_ok(float s) { return s >= FLT_MIN && s <= FLT_MAX; }

// The scale of an output channel whose largest |folded weight| is m: m / QMAX, or 1 when that is
// not pc_quant_scale_ok: m = 0 (an all-zero, pruned channel) or m below QMAX * FLT_MIN, whose
// weights, divided by 1, round to 0 in both formats (the channel is taken as all zero, and no
// 1 / s_w overflows). An inf weight (m = inf) keeps s_w = inf: its channel's outputs come out NaN,
// not finite, as in fp32 where they are not finite either. (NaN weights never raise m.)
static inline PC_HD float pc_quant_weight_scale(float m, PcQuantFormat f) {
    const float s = m / pc_q_max(f);
    return pc_quant_scale_ok(s) || s > FLT_MAX ? s : 1.0f;
}

// Per-output-channel weight scales of a conv, pc_quant_weight_scale of each channel's max |w|.
//   w (cout, cin, k, k) -> s_w (cout)
static inline void pc_quant_weight_scales(const float *w, int cout, long per_out, PcQuantFormat f,
                                          float *s_w) {
    for (int k = 0; k < cout; k++) {
        float m = 0.0f;
        for (long j = 0; j < per_out; j++) {
            float a = fabsf(w[(long)k * per_out + j]);
            if (a > m) m = a;
        }
        s_w[k] = pc_quant_weight_scale(m, f);
    }
}

#endif
