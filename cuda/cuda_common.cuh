// cuda_common.cuh: what every file of the CUDA backend shares: the backend context (handles,
// stream, cuDNN workspace, precision; no globals), the check macros for CUDA / cuBLAS / cuDNN
// and the internal functions of cuda_ops.cu, cuda_layers.cu and cuda_nn.cu, named after their
// PcBackend entry (backend.h) with a cuda_ prefix.
//
// Error handling, one check macro per library, each reporting the statement, file and line
// (as llm.c's cudaCheck / cublasCheck / cudnnCheck):
//  - cudaCheck (and cudaCheckLaunch after every kernel launch): calls that cannot fail in a
//    working program (launches, copies, synchronisation); prints "[CUDA error] statement at
//    file:line (reason)" and exits(1).
//  - CU_TRY_CUDA / CU_TRY_CUDNN / CU_TRY_CUDNN_BE (cuDNN's backend API, with cuDNN's last error
//    message) / CU_TRY_CUBLAS (err, statement, what): calls whose failure is a
//    user-visible condition (out of memory, an unsupported configuration); fill the PcError with
//    "what: statement at file:line: reason" and return -1, or PC_ERR_OOM when the library ran
//    out of memory (the engine then retries with a smaller batch).
// Errors are formatted with pc_fail of host/util/common.h (the layers below cuda/: backend.h
// brings it, and pc_cuda links pc_backend and through it pc_util).
#ifndef PC_CUDA_COMMON_CUH
#define PC_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stdint.h>

extern "C" {
#include "backend.h"
}

// ---- check macros -----------------------------------------------------------------------------
[[noreturn]] void cu_die(const char *what, const char *stmt, const char *file, int line,
                         const char *detail);
const char *cu_cublas_status_string(cublasStatus_t s);

#define cudaCheck(stmt)                                                                          \
    do {                                                                                         \
        cudaError_t cu_e_ = (stmt);                                                              \
        if (cu_e_ != cudaSuccess) cu_die("CUDA", #stmt, __FILE__, __LINE__, cudaGetErrorString(cu_e_)); \
    } while (0)
// Every kernel launch is followed by this: catches bad launch configurations at the call site.
#define cudaCheckLaunch() cudaCheck(cudaGetLastError())

// "what: stmt at file:line: reason" into err; returns PC_ERR_OOM when oom, else -1.
int cu_try_fail(PcError *err, int oom, const char *stmt, const char *file, int line,
                const char *what, const char *reason);

#define CU_TRY_CUDA(err, stmt, what)                                                             \
    do {                                                                                         \
        cudaError_t cu_e_ = (stmt);                                                              \
        if (cu_e_ != cudaSuccess) {                                                              \
            cudaGetLastError();                                                                  \
            return cu_try_fail((err), cu_e_ == cudaErrorMemoryAllocation, #stmt, __FILE__,       \
                               __LINE__, (what), cudaGetErrorString(cu_e_));                     \
        }                                                                                        \
    } while (0)
#define CU_TRY_CUDNN(err, stmt, what)                                                            \
    do {                                                                                         \
        cudnnStatus_t cu_s_ = (stmt);                                                            \
        if (cu_s_ != CUDNN_STATUS_SUCCESS)                                                       \
            return cu_try_fail((err), cu_s_ == CUDNN_STATUS_ALLOC_FAILED, #stmt, __FILE__,       \
                               __LINE__, (what), cudnnGetErrorString(cu_s_));                    \
    } while (0)
// The cuDNN backend (graph) API: as CU_TRY_CUDNN, with cuDNN's own last error message
// (cudnnGetLastErrorString), which says which attribute or engine refused.
int cu_try_fail_cudnn_be(PcError *err, cudnnStatus_t st, const char *stmt, const char *file, int line,
                         const char *what);
#define CU_TRY_CUDNN_BE(err, stmt, what)                                                         \
    do {                                                                                         \
        cudnnStatus_t cu_s_ = (stmt);                                                            \
        if (cu_s_ != CUDNN_STATUS_SUCCESS)                                                       \
            return cu_try_fail_cudnn_be((err), cu_s_, #stmt, __FILE__, __LINE__, (what));        \
    } while (0)
#define CU_TRY_CUBLAS(err, stmt, what)                                                           \
    do {                                                                                         \
        cublasStatus_t cu_s_ = (stmt);                                                           \
        if (cu_s_ != CUBLAS_STATUS_SUCCESS)                                                      \
            return cu_try_fail((err), cu_s_ == CUBLAS_STATUS_ALLOC_FAILED, #stmt, __FILE__,      \
                               __LINE__, (what), cu_cublas_status_string(cu_s_));                \
    } while (0)

// ---- context ----------------------------------------------------------------------------------
typedef struct {
    int device;
    PcPrecision precision;
    cudaStream_t stream;        // every op and copy of this backend runs on it, in order
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    void *workspace;            // cuDNN workspace shared by the prepared nets (one stream)
    size_t workspace_bytes;
    size_t workspace_limit;     // largest workspace an algorithm may ask for
    int no_fusion;              // options.cuda_no_fusion: plain conv + own bias/ReLU kernels only
    int use_find;               // options.cudnn_find: rank conv algorithms by timing, not heuristics
    int tune;                   // options.cudnn_tune: time every candidate (fused or not), keep the fastest
    int sm_count;
    size_t oom_bytes;           // an op's scratch allocation failed (size asked): see cuda_take_error
} CudaContext;

static inline CudaContext *cu_ctx(PcBackend *be) { return (CudaContext *)be->impl; }

// Stream-ordered scratch memory (cudaMallocAsync on the context stream, pool kept warm); the
// memory may be reused by later work on the same stream as soon as it is freed. Out of device
// memory: returns NULL and records the request in ctx->oom_bytes; the op then skips its work and
// the engine learns of it from take_error (backend.h).
void *cu_scratch(CudaContext *ctx, size_t bytes);
void cu_scratch_free(CudaContext *ctx, void *p);
// backend.h take_error: PC_ERR_OOM (and clears it) when an op's scratch allocation failed.
int cuda_take_error(PcBackend *be, PcError *err);
// Grows the shared cuDNN workspace to at least bytes; returns 0 or -1 with err.
int cu_workspace_reserve(CudaContext *ctx, size_t bytes, PcError *err);

static inline unsigned cu_blocks(size_t n, unsigned threads) {
    size_t b = (n + threads - 1) / threads;
    if (b > 0x7fffffffu) b = 0x7fffffffu;
    return b ? (unsigned)b : 1u;
}

// ---- element types of network activations -----------------------------------------------------
typedef enum { CU_F32 = 0, CU_F16 = 1, CU_BF16 = 2 } CuDtype;
static inline size_t cu_dtype_size(CuDtype dt) { return dt == CU_F32 ? 4 : 2; }

// ---- cuda_ops.cu: saliency and metric ops (backend.h) -----------------------------------------
void cuda_softmax_gather(PcBackend *be, const float *logits, int n, int k, int cls, float *out);
void cuda_normalize_maps(PcBackend *be, const float *maps, int m, int h, int w,
                         PcNormFormula formula, float *out);
void cuda_resample(PcBackend *be, const float *in, int m, int h, int w, int oh, int ow, float *out);
void cuda_masked_inputs(PcBackend *be, const float *act, int h, int w, const int *chans, int m,
                        const float *x, int s, PcNormFormula formula, float *plus, float *minus);
void cuda_scaled_masked_inputs(PcBackend *be, const float *amap, int h, int w, const int *chans, int m,
                               const float *x, int s, float coef, float sigma, uint64_t seed,
                               uint32_t image, uint32_t sample, float *out);
void cuda_weighted_channel_sum(PcBackend *be, const float *act, int k, int h, int w,
                               const float *weights, int v, float *out);
void cuda_lnorm(PcBackend *be, const float *c, int m, int h, int w, int th, int tw,
                PcLnormMode mode, float *out);
void cuda_mul_relu(PcBackend *be, const float *a, const float *b, size_t n, float *out);
void cuda_blur(PcBackend *be, const float *x, int s, int ksize, float sigma, float *out);
void cuda_argsort_desc(PcBackend *be, const float *map, int n, int *order);
void cuda_insdel_samples(PcBackend *be, const float *x, const float *base, const int *order, int s,
                         int t0, int m, int pixels_per_step, int deletion, float *out);

// ---- cuda_perturb.cu: perturbation ops (RISE, Occlusion) --------------------------------------
void cuda_rise_masks(PcBackend *be, const unsigned char *grid, const int *offsets, int m, int cells, int up, int s,
                     float *out);
void cuda_masked_batch(PcBackend *be, const float *x, const float *masks, int m, int s, float *out);
void cuda_occlusion_inputs(PcBackend *be, const float *x, int s, int window, int stride, int t0, int m, float *out);
void cuda_weighted_map_sum(PcBackend *be, const float *maps, const float *w, int m, int n, float *out);

// ---- cuda_metric_ops.cu: perturbation metrics' ops (ROAD, region perturbation, uniform baseline)
void cuda_road_impute(PcBackend *be, const float *x, const int *order, int s, const int *counts, int m, int from_end,
                      float noise, uint64_t seed, uint32_t image, const uint32_t *samples, float *out);
void cuda_region_samples(PcBackend *be, const float *x, const float *base, const int *rank, int s, int patch, int t0,
                         int m, float *out);
void cuda_uniform_baseline(PcBackend *be, int s, float lo, float hi, uint64_t seed, uint32_t image, uint32_t sample,
                           float *out);

// ---- cuda_layers.cu: the network's own kernels (all take the context stream) ------------------
// x (N, C, H, W) f32 -> y (N, H, W, C_pad) in dt, the channels from C on zero
void cu_nchw_f32_to_nhwc(cudaStream_t st, const float *x, int n, int c, int c_pad, int h, int w,
                         CuDtype dt, void *y);
// x (N, H, W, C) in dt, or (N, C, H, W) f32 when nhwc == 0 -> y (N, C, H, W) f32
void cu_to_nchw_f32(cudaStream_t st, const void *x, CuDtype dt, int nhwc, int n, int c, int h,
                    int w, float *y);
// y[i] = act(y[i] + bias[channel(i)]) in place                  y (N, C, H, W) or (N, H, W, C)
void cu_bias_act(cudaStream_t st, void *y, CuDtype dt, int nhwc, int n, int c, int hw,
                 const float *bias, int relu);
// y = act(a + b)                                                a, b, y: count values of dt
void cu_add_act(cudaStream_t st, const void *a, const void *b, void *y, CuDtype dt, size_t count,
                int relu);
// max pooling, -inf padding (torch)                 x (N, C, H, W) -> y (N, C, OH, OW), or NHWC
void cu_maxpool(cudaStream_t st, const void *x, void *y, CuDtype dt, int nhwc, int n, int c, int h,
                int w, int oh, int ow, int k, int stride, int pad, int relu);
// adaptive average pooling, torch bin rule          x (N, C, H, W) -> y (N, C, OH, OW), or NHWC
void cu_adaptive_avgpool(cudaStream_t st, const void *x, void *y, CuDtype dt, int nhwc, int n,
                         int c, int h, int w, int oh, int ow, int relu);

// ---- cuda_quant.cu: the 8-bit convolutions (cuda_quant.cuh) ----------------------------------
int cuda_net_set_quant(PcBackend *be, PcBackendNet *bn, const PcQuant *q, PcError *err);
int cuda_net_quant_fallbacks(PcBackend *be, const PcBackendNet *bn, int *nodes, int max);

// ---- cuda_nn.cu: the network (backend.h) ------------------------------------------------------
PcBackendNet *cuda_net_prepare(PcBackend *be, const PcNet *net, int max_batch, PcError *err);
void cuda_net_release(PcBackend *be, PcBackendNet *bn);
int cuda_forward(PcBackend *be, PcBackendNet *bn, const float *x, int n, float *logits, int n_taps,
                 const int *tap_nodes, float *const *taps, PcError *err);

#endif
