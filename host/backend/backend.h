// backend.h: the compute interface the saliency engine and the metrics are written against.
// The CPU backend (host/cpu/) is the plain-C reference; the CUDA backend (cuda/) implements the
// same ops with the same names and argument order. Every tensor argument lives in the backend's
// memory (device memory for CUDA): the engine moves data with upload/download only where a
// result must reach the host. Shapes are given in comments as (N, C, H, W).
#ifndef PC_BACKEND_H
#define PC_BACKEND_H

#include <stdint.h>

#include "common.h"
#include "model.h"
#include "quant_scheme.h"

// fp8 / int8: the 8-bit convolutions of quant_scheme.h (CUDA: tensor cores; CPU: an exact emulation in
// value, the oracle), everything else as fp16 (CUDA) / fp32 (CPU).
typedef enum { PC_PREC_FP32 = 0, PC_PREC_TF32, PC_PREC_FP16, PC_PREC_BF16, PC_PREC_FP8, PC_PREC_INT8 } PcPrecision;
static inline int pc_precision_is_8bit(PcPrecision p) { return p == PC_PREC_FP8 || p == PC_PREC_INT8; }
// The 8-bit format of a precision; PC_QUANT_NONE for the others.
static inline PcQuantFormat pc_quant_format_of(PcPrecision p) {
    return p == PC_PREC_FP8 ? PC_QUANT_FP8 : p == PC_PREC_INT8 ? PC_QUANT_INT8 : PC_QUANT_NONE;
}
typedef enum { PC_LNORM_CODE = 0, PC_LNORM_PAPER = 1 } PcLnormMode;
typedef enum { PC_NORM_CODE = 0, PC_NORM_PAPER = 1 } PcNormFormula;   // divide by hi | by hi - lo

typedef struct PcBackend PcBackend;
typedef struct PcBackendNet PcBackendNet;   // a network prepared on a backend (weights + workspace)

// Return value of forward (and of pc_explain / the insertion-deletion functions) when the
// backend ran out of memory for the batch: the caller may retry with fewer images per pass.
#define PC_ERR_OOM (-2)

typedef struct {
    PcPrecision precision;
    int threads;            // CPU worker threads (0 = default)
    int device;             // CUDA device ordinal
    // Algorithm switches for tests and tuning, 0 = default. Each can change the last bits of the
    // results, so pc_backend_options_key puts the ones that are set into the configuration key.
    // run.c sets them from the environment (pc_backend_options_from_env), in that one place.
    int no_direct_conv;     // PC_NO_DIRECT_CONV: every CPU convolution via im2col + GEMM
    int cuda_no_fusion;     // PC_CUDA_NOFUSE: plain cuDNN conv + own bias/ReLU kernels only
    int cudnn_find;         // PC_CUDNN_FIND: cuDNN times the plain algorithms (not its heuristics)
    int cudnn_tune;         // PC_CUDNN_TUNE: time every candidate, keep the fastest
    // Test hook (CPU): alloc() of more bytes, and forward() of a batch whose input is larger,
    // fail as out of memory (PC_ERR_OOM), as a full GPU would. 0 = no limit.
    size_t max_alloc;
} PcBackendOptions;

struct PcBackend {
    const char *name;       // "cpu", "cuda"
    char device_name[128];  // "2-core x86_64", "NVIDIA H100 80GB HBM3", ...
    int preferred_batch;    // images per forward pass when the configuration says batch = auto
    void *impl;             // the backend's own context struct (handles, streams, pools)

    // ---- memory --------------------------------------------------------------------------
    void *(*alloc)(PcBackend *be, size_t bytes);   // zeroed; NULL when out of memory
    void (*release)(PcBackend *be, void *p);
    void (*upload)(PcBackend *be, void *dst, const void *src_host, size_t bytes);
    void (*download)(PcBackend *be, void *dst_host, const void *src, size_t bytes);
    void (*synchronize)(PcBackend *be);

    // ---- network -------------------------------------------------------------------------
    // Prepares net for batches of up to max_batch images (copies weights, sizes workspaces).
    PcBackendNet *(*net_prepare)(PcBackend *be, const PcNet *net, int max_batch, PcError *err);
    void (*net_release)(PcBackend *be, PcBackendNet *bn);
    // 8-bit precisions (quant_scheme.h): gives bn the input scales of its 8-bit convs (q->n_nodes = the
    // net's node count, q->format the backend's precision); the weights are quantised here. q NULL:
    // bn runs unquantised again (as fp16 on CUDA, fp32 on the CPU), as it does before the first
    // call (the run's calibration pass). 0, or -1 with err set (a backend of another precision,
    // a scale on a node that cannot run in 8 bits).
    int (*net_set_quant)(PcBackend *be, PcBackendNet *bn, const PcQuant *q, PcError *err);
    // The 8-bit convs of bn that ran in 16 bits because the backend could not run them in 8 (CUDA:
    // cuDNN took none of the conv's graph variants, decided at its first forward per batch size);
    // writes up to max node indices to nodes, returns their count. The CPU emulates every one: 0.
    int (*net_quant_fallbacks)(PcBackend *be, const PcBackendNet *bn, int *nodes, int max);
    // x (N, 3, H, W) -> logits (N, n_classes) and the outputs of tap_nodes (N, C_t, H_t, W_t).
    // logits may be NULL: the pass then stops after the last tap node. 0, -1 on an error, or
    // PC_ERR_OOM when the device has no memory for this batch (or an op before it had none).
    int (*forward)(PcBackend *be, PcBackendNet *bn, const float *x, int n, float *logits,
                   int n_taps, const int *tap_nodes, float *const *taps, PcError *err);
    // Data gradients (no weight gradients): a forward pass of x (N, 3, H, W) that keeps what the
    // backward needs, then the gradient of the logit y_{cls[i]} of each image i (cls: host array
    // of n class indices) with respect to the outputs of tap_nodes (each after its fused ReLU,
    // as forward's taps) and/or the input.
    //   logits (N, n_classes) or NULL; taps[t] (N, C_t, H_t, W_t) the tapped activations or NULL
    //   each; grad_taps[t] (N, C_t, H_t, W_t) or NULL each; grad_x (N, 3, H, W) or NULL.
    // The backward stops at the earliest node that a requested gradient needs (grad_x NULL:
    // the earliest tap with a non-NULL grad_taps[t]). Any number of taps. bn must have been
    // prepared for at least n images. 0, -1 on an error, or PC_ERR_OOM (as forward's). NULL on a
    // backend without gradients.
    int (*backward)(PcBackend *be, PcBackendNet *bn, const float *x, int n, const int *cls,
                    float *logits, int n_taps, const int *tap_nodes, float *const *taps,
                    float *const *grad_taps, float *grad_x, PcError *err);

    // ---- saliency and metric ops ---------------------------------------------------------
    // out[i] = softmax(logits[i])[cls]                  logits (N, K) -> out (N)
    void (*softmax_gather)(PcBackend *be, const float *logits, int n, int k, int cls, float *out);
    // Per-map percentile normalisation u(M) (SPEC §5) over h*w values of each of m maps.
    void (*normalize_maps)(PcBackend *be, const float *maps, int m, int h, int w,
                           PcNormFormula formula, float *out);
    // Bilinear resampling up() (SPEC §2)                 in (M, h, w) -> out (M, oh, ow)
    void (*resample)(PcBackend *be, const float *in, int m, int h, int w, int oh, int ow, float *out);
    // For the m channels chans[] (host array) of act (K, h, w): mask = up(u(act[c]), s, s) and
    // plus[j] = x * mask, minus[j] = x * (1 - mask) (either output may be NULL).
    //                           x (3, s, s) -> plus (m, 3, s, s), minus (m, 3, s, s)
    void (*masked_inputs)(PcBackend *be, const float *act, int h, int w, const int *chans, int m,
                          const float *x, int s, PcNormFormula formula, float *plus, float *minus);
    // The Score-CAM family's masked inputs (BASELINES.md B3), straight into a forward batch: for
    // the m channels chans[] (host array) of amap (K, h, w), already min-max normalised,
    //   out[j] = (coef * x) * (up(amap[chans[j]], s, s) + sigma * z)
    // with z (3, s, s) the Philox standard normals of (seed, image, sample) (philox.h; element
    // index c * s * s + p), one draw shared by the m channels; sigma = 0: no noise (the term is
    // then exactly 0). Evaluated in float32 in that order, as torchcam c85232b does.
    //                           amap (K, h, w), x (3, s, s) -> out (m, 3, s, s)
    void (*scaled_masked_inputs)(PcBackend *be, const float *amap, int h, int w, const int *chans, int m,
                                 const float *x, int s, float coef, float sigma, uint64_t seed,
                                 uint32_t image, uint32_t sample, float *out);
    // out[v] = relu(sum_k weights[v, k] * act[k]) (NaN terms count as 0)
    //                           act (K, h, w), weights (V, K) -> out (V, h, w)
    void (*weighted_channel_sum)(PcBackend *be, const float *act, int k, int h, int w,
                                 const float *weights, int v, float *out);
    // LNorm(C, (th, tw)) of SPEC §7 for m maps           c (M, h, w) -> out (M, h, w)
    void (*lnorm)(PcBackend *be, const float *c, int m, int h, int w, int th, int tw,
                  PcLnormMode mode, float *out);
    // out = relu(a * b) elementwise over n values
    void (*mul_relu)(PcBackend *be, const float *a, const float *b, size_t n, float *out);
    // Gaussian blur baseline (SPEC §8), reflect padding   x (3, s, s) -> out (3, s, s)
    void (*blur)(PcBackend *be, const float *x, int s, int ksize, float sigma, float *out);
    // Indices of map values by descending value, ties by ascending index (stable)
    //                           map (n) -> order (n) int32
    void (*argsort_desc)(PcBackend *be, const float *map, int n, int *order);
    // Insertion / deletion samples for steps [t0, t0 + m): first min(p*(t+1), s*s) ordered pixels
    // taken from x (insertion, rest from base) or from base (deletion, rest from x).
    // x, base (3, s, s), order (s*s) -> out (m, 3, s, s)
    void (*insdel_samples)(PcBackend *be, const float *x, const float *base, const int *order,
                           int s, int t0, int m, int pixels_per_step, int deletion, float *out);

    // ---- perturbation methods (RISE, Occlusion: BASELINES.md B5) ---------------------------
    // RISE masks: mask i = its grid (cells, cells) of 0/1 bytes resized to (up, up) as
    // skimage.transform.resize(order=1, mode='reflect', anti_aliasing=False) does (scipy's
    // ndimage.zoom, grid_mode: source coordinate (k + 0.5) * cells / up - 0.5, mirrored at the
    // borders, bilinear weights w0 = 1 - f, w1 = 1 - w0, the four terms summed in double in
    // scipy's order and rounded once to float), then cropped to (s, s) at (offsets[i][0] rows,
    // offsets[i][1] columns).   grid (m, cells, cells) u8, offsets (m, 2) i32 -> out (m, s, s)
    void (*rise_masks)(PcBackend *be, const unsigned char *grid, const int *offsets, int m, int cells, int up,
                       int s, float *out);
    // out[i] = x * masks[i] (float32 products)   x (3, s, s), masks (m, s, s) -> out (m, 3, s, s)
    void (*masked_batch)(PcBackend *be, const float *x, const float *masks, int m, int s, float *out);
    // Occlusion inputs of window positions [t0, t0 + m): x with the window x window square at
    // (row (t % npos) * stride, column (t / npos) * stride) set to 0 in every channel (captum's
    // feature order: the row index varies fastest; npos = ceil((s - window) / stride) + 1, the last
    // window clipped at the border).             x (3, s, s) -> out (m, 3, s, s)
    void (*occlusion_inputs)(PcBackend *be, const float *x, int s, int window, int stride, int t0, int m,
                             float *out);
    // out += w^T maps, a float32 GEMV (BLAS)     maps (m, n), w (m), out (n)
    void (*weighted_map_sum)(PcBackend *be, const float *maps, const float *w, int m, int n, float *out);

    // ---- perturbation metrics (docs/metrics.md; index arithmetic in metric_math.h) ------------
    // ROAD's noisy linear imputation, m inputs at once: input j is x with the counts[j] pixels
    // order[0 .. counts[j]) (from_end = 0: the most relevant of a descending order, MoRF) or
    // order[s*s - counts[j] .. s*s) (from_end = 1: the least relevant, LeRF) imputed in every
    // channel by the solution of the linear system "each imputed pixel = the weighted mean of its
    // in-image 8 neighbours" (pc_road_neighbour), solved in double, plus noise * z, z the Philox
    // standard normals of (seed, image, samples[j]) at element c * s * s + pixel (pc_road_value).
    // counts, samples: host arrays of m. CPU: banded Cholesky (LAPACK dpbsv, exact); CUDA:
    // conjugate gradients in double to a relative residual of 1e-10 (agree within ~1e-7).
    //                           x (3, s, s), order (s*s) int32 -> out (m, 3, s, s)
    void (*road_impute)(PcBackend *be, const float *x, const int *order, int s, const int *counts, int m,
                        int from_end, float noise, uint64_t seed, uint32_t image, const uint32_t *samples,
                        float *out);
    // Region perturbation samples t = t0 .. t0 + m - 1: x with every pixel whose patch
    // (pc_region_of, side `patch`) has rank[patch] <= t taken from base (the first t + 1 patches of
    // the order; rank = position of the patch in it).
    //                           x, base (3, s, s), rank (patches) int32 -> out (m, 3, s, s)
    void (*region_samples)(PcBackend *be, const float *x, const float *base, const int *rank, int s, int patch,
                           int t0, int m, float *out);
    // The uniform-noise baseline: out[c, p] = pc_uniform_baseline_value(u, lo, hi, c), u the Philox
    // uniform of (seed, image, sample) at element c * s * s + p.     -> out (3, s, s)
    void (*uniform_baseline)(PcBackend *be, int s, float lo, float hi, uint64_t seed, uint32_t image,
                             uint32_t sample, float *out);

    void (*destroy)(PcBackend *be);

    // ---- errors of the void ops ----------------------------------------------------------
    // 0, or PC_ERR_OOM with err set when an op since the last call could not get memory (its
    // output is then undefined: the caller retries with a smaller batch). Clears the state.
    int (*take_error)(PcBackend *be, PcError *err);
};

// Sets the algorithm switches of opt from the environment (PC_NO_DIRECT_CONV, PC_CUDA_NOFUSE,
// PC_CUDNN_FIND, PC_CUDNN_TUNE: set and not "0" = on); leaves the other fields alone.
void pc_backend_options_from_env(PcBackendOptions *opt);
// The switches of opt that are on, as configuration-key lines ("" when none, else one line per
// switch, e.g. "PC_NO_DIRECT_CONV = 1\n"). run.c appends them to the configuration text, whose
// last section is [run], so a resume with other switches is refused naming the variable.
void pc_backend_options_key(const PcBackendOptions *opt, char *buf, size_t n);

#endif
