// cpu_internal.h: the functions of the CPU backend, split by file: cpu_nn.c (network forward),
// cpu_layers.c and cpu_direct.c (its layer kernels), cpu_backward.c (data gradients), cpu_ops.c
// (saliency and metric ops), cpu_perturb.c (perturbation inputs), cpu_quant.c (8-bit emulation),
// cpu_backend.c (memory and the vtable). Each has the name and argument order of its PcBackend entry (backend.h), prefixed
// cpu_.
#ifndef PC_CPU_INTERNAL_H
#define PC_CPU_INTERNAL_H

#include <stdint.h>

#include "backend.h"

typedef struct {
    PcPrecision precision;  // fp32, or fp8 / int8: the 8-bit convs emulated in value (cpu_quant.c)
    int threads;            // worker threads for the CPU code (OpenBLAS gets the same count)
    int no_direct_conv;     // options.no_direct_conv: every convolution via im2col + GEMM
    size_t max_alloc;       // options.max_alloc: simulated memory limit (0 = none)
} CpuContext;

// cpu_nn.c
PcBackendNet *cpu_net_prepare(PcBackend *be, const PcNet *net, int max_batch, PcError *err);
void cpu_net_release(PcBackend *be, PcBackendNet *bn);
int cpu_forward(PcBackend *be, PcBackendNet *bn, const float *x, int n, float *logits, int n_taps,
                const int *tap_nodes, float *const *taps, PcError *err);
// cpu_forward with the 8-bit convs on (quant = 1, when net_set_quant gave scales) or off (0: the
// backward's forward, which runs unquantised in fp32).
int cpu_forward_ex(PcBackend *be, PcBackendNet *bn, const float *x, int n, float *logits, int n_taps,
                   const int *tap_nodes, float *const *taps, int quant, PcError *err);
// The network a CpuNet was prepared for, and its max_batch (may be NULL).
const PcNet *cpu_net_of(const PcBackendNet *bn, int *max_batch);
// Runs fn(arg, p, parts) for p = 0..parts-1 on parts threads (part 0 on the caller), then joins.
typedef void (*CpuPartFn)(void *arg, int part, int parts);
void cpu_run_parts(int parts, CpuPartFn fn, void *arg);
// OpenBLAS 0.3.21 falls back to SSE3 kernels on CPUs newer than itself; this re-selects its
// AVX-512 / AVX2 kernels once per process (no-op when OPENBLAS_CORETYPE is set or the detection
// worked). Called by cpu_net_prepare; safe to call earlier, e.g. when the backend is created.
void cpu_blas_select_kernel(void);

// ---- 8-bit precisions (cpu_quant.c; quant_scheme.h has the scheme) ------------------------------------
// What net_set_quant gives a prepared net. An 8-bit conv i (in_scale[i] > 0) runs as the fp32 conv
// of the fake-quantised values: its input Q(x / s_x) * s_x written into the worker's qin before the
// conv, its weights the fake-quantised copy Q(w[k] / s_w[k]) * s_w[k] (both paths: im2col + GEMM
// and the direct kernel, whose packed copy is made from it).
typedef struct {
    PcQuantFormat format;
    int n_nodes;
    float *in_scale;        // (n_nodes) s_x of node i's input, 0 = not an 8-bit conv
    float **weight;         // (n_nodes) (cout, cin, k, k) fake-quantised weights, or NULL
    float **direct_w;       // (n_nodes) those packed for the direct kernel, or NULL (GEMM path)
    int workers;
    float **qin;            // (workers) the fake-quantised input of the conv being run, laid out as
                            // the conv's input (C, G*H*W), channel stride cpu_ld_pad(G*H*W)
} CpuQuant;

int cpu_net_set_quant(PcBackend *be, PcBackendNet *bn, const PcQuant *q, PcError *err);
void cpu_quant_free(CpuQuant *q);
// out[c, j] = Q(in[c, j] * inv_s) * s for the cols values of each of c channels (channel stride cs
// in both): one part of a CpuQuantInput (cpu_run_parts).
typedef struct {
    const float *in;
    float *out;
    int c;
    long cols, cs;
    float s, inv_s;
    PcQuantFormat format;
} CpuQuantInput;
void cpu_quant_input_part(void *arg, int part, int parts);
// cpu_nn.c: hands a net its 8-bit state (NULL: unquantised; the old one is freed), sizing the
// workers' qin buffers for the 8-bit convs' inputs.
void cpu_net_attach_quant(PcBackendNet *bn, CpuQuant *q);
// Whether the direct kernel runs conv node i of the net (the packing cpu_direct_pack makes).
int cpu_net_uses_direct(const PcBackendNet *bn, int node);

// ---- shared by the CPU files ---------------------------------------------------------------------
// Leading dimension for n floats: a multiple of 16 floats that is an odd number of 64-byte lines,
// so consecutive rows / channels map to different L1 sets.
static inline long cpu_ld_pad(long n) {
    long lines = (n + 15) / 16;
    return 16 * (lines | 1);
}
// Part `part` of `parts` takes items [cpu_part_begin(n, part), cpu_part_begin(n, part + 1)).
static inline long cpu_part_begin(long n, int part, int parts) { return n * part / parts; }

// ---- layer kernels of the forward pass (cpu_layers.c) -------------------------------------------
// One convolution of n images: in (Cin, N, H, W), channel stride in_cs -> out (Cout, N, OH, OW),
// channel stride out_cs.
typedef struct {
    const PcNode *nd;
    const float *weight;    // (Cout, Cin, k, k): the node's, or its fake-quantised copy (8-bit)
    const float *in;
    float *out;
    int n, in_h, in_w;
    long in_cs, out_cs;
    float *scratch;
    size_t scratch_per_part;
    long chunk_r0, chunk_r1, chunk_ld;   // channel-split mode: rows of the current chunk
} CpuConvJob;
// The convolution of a job, its parts on cpu_run_parts (scratch: parts x scratch_per_part floats).
void cpu_conv_gemm(CpuConvJob *job, int parts);

// One plane-wise op over (C, N, H, W) tensors; in2 only for the residual add.
typedef struct {
    const PcNode *nd;
    const float *in, *in2;
    float *out;
    int n, in_h, in_w;
    long in_cs, out_cs;
} CpuPlaneJob;
// Parts of a CpuPlaneJob (cpu_run_parts): max pooling, adaptive average pooling, residual add.
void cpu_maxpool_part(void *arg, int part, int parts);
void cpu_avgpool_part(void *arg, int part, int parts);
void cpu_add_part(void *arg, int part, int parts);

typedef struct {
    const PcNode *nd;
    const float *x;         // (N, in)
    float *y;               // (N, out)
    int n;
} CpuLinearJob;
// One part of a CpuLinearJob (cpu_run_parts): y = x W^T + b (+ ReLU).
void cpu_linear_part(void *arg, int part, int parts);

// cpu_backward.c
int cpu_backward(PcBackend *be, PcBackendNet *bn, const float *x, int n, const int *cls, float *logits,
                 int n_taps, const int *tap_nodes, float *const *taps, float *const *grad_taps, float *grad_x,
                 PcError *err);
// Bytes the backward keeps per image for a pass down to node `stop` (-1: the input): the node
// outputs that the ReLU masks and the max-pool routing read, plus the two largest gradients alive
// at once. Batches are processed in chunks of CPU_BACKWARD_CHUNK_BYTES / this many images.
size_t cpu_backward_bytes_per_image(const PcNet *net, int stop);

// cpu_ops.c
void cpu_softmax_gather(PcBackend *be, const float *logits, int n, int k, int cls, float *out);
void cpu_normalize_maps(PcBackend *be, const float *maps, int m, int h, int w,
                        PcNormFormula formula, float *out);
void cpu_resample(PcBackend *be, const float *in, int m, int h, int w, int oh, int ow, float *out);
void cpu_masked_inputs(PcBackend *be, const float *act, int h, int w, const int *chans, int m,
                       const float *x, int s, PcNormFormula formula, float *plus, float *minus);
void cpu_scaled_masked_inputs(PcBackend *be, const float *amap, int h, int w, const int *chans, int m,
                              const float *x, int s, float coef, float sigma, uint64_t seed,
                              uint32_t image, uint32_t sample, float *out);
void cpu_weighted_channel_sum(PcBackend *be, const float *act, int k, int h, int w,
                              const float *weights, int v, float *out);
void cpu_lnorm(PcBackend *be, const float *c, int m, int h, int w, int th, int tw, PcLnormMode mode,
               float *out);
void cpu_mul_relu(PcBackend *be, const float *a, const float *b, size_t n, float *out);
void cpu_blur(PcBackend *be, const float *x, int s, int ksize, float sigma, float *out);
void cpu_argsort_desc(PcBackend *be, const float *map, int n, int *order);
void cpu_insdel_samples(PcBackend *be, const float *x, const float *base, const int *order, int s,
                        int t0, int m, int pixels_per_step, int deletion, float *out);

// cpu_perturb.c
void cpu_rise_masks(PcBackend *be, const unsigned char *grid, const int *offsets, int m, int cells, int up, int s,
                    float *out);
void cpu_masked_batch(PcBackend *be, const float *x, const float *masks, int m, int s, float *out);
void cpu_occlusion_inputs(PcBackend *be, const float *x, int s, int window, int stride, int t0, int m, float *out);
void cpu_weighted_map_sum(PcBackend *be, const float *maps, const float *w, int m, int n, float *out);

// cpu_metric_ops.c
void cpu_road_impute(PcBackend *be, const float *x, const int *order, int s, const int *counts, int m, int from_end,
                     float noise, uint64_t seed, uint32_t image, const uint32_t *samples, float *out);
void cpu_region_samples(PcBackend *be, const float *x, const float *base, const int *rank, int s, int patch, int t0,
                        int m, float *out);
void cpu_uniform_baseline(PcBackend *be, int s, float lo, float hi, uint64_t seed, uint32_t image, uint32_t sample,
                          float *out);

// ---- direct convolution for narrow layers (cpu_direct.c, AVX-512) ------------------------------
#define DIRECT_CO 8         // output channels per register block

typedef struct {
    const PcNode *nd;
    const float *in;        // (Cin, N, H, W), channel stride in_cs
    float *out;             // (Cout, N, OH, OW), channel stride out_cs
    const float *wpack;     // (ceil(Cout/8), Cin, k, k, 8), zero-padded past Cout
    int n, h, w;
    long in_cs, out_cs;
} DirectJob;
int cpu_has_avx512(void);
// Which convolutions take the direct kernel (stride 1 or 2, few output channels, long rows).
int cpu_use_direct(const PcConvParams *c, int ow);
// Floats of the packed weights, and the packing (Cout, Cin, k, k) -> (ceil(Cout/8), Cin, k, k, 8).
size_t cpu_direct_pack_floats(const PcConvParams *c);
void cpu_direct_pack(const PcConvParams *c, float *dst);
// One part of a DirectJob (cpu_run_parts).
void cpu_direct_part(void *arg, int part, int parts);

#endif
