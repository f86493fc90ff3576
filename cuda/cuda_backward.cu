// cuda_backward.cu: data gradients on the GPU (backend.h backward), the twin of the CPU backend's
// backward (host/cpu/cpu_backward.c, the reference). No weight gradients.
//
// Forward: cuda_forward (cuda_nn.cu) with every output the backward reads tapped into f32 NCHW
// buffers: the outputs of nodes with a fused ReLU (their masks) and the inputs of max-pools (their
// argmax). The forward runs in the backend's precision, so the gradients of tf32 / fp16 / bf16 are
// taken at the activations that precision computes; fp8 / int8 nets run it as fp16 (their 8-bit
// convs are forward-only: cuda_forward_unquantised). Tapping a conv turns off its fused residual
// path; the backward taps only ReLU outputs and max-pool inputs, so ResNet's conv3 + identity +
// ReLU stays fused.
//
// Backward: f32 NCHW gradient buffers (stream-ordered scratch), one per node from its first
// contribution until it has been passed on. Nodes run in reverse order: a node's gradient is
// complete once every later node has run, so fan-out (ResNet's block input feeds the residual
// branch and the identity or the downsample conv) is the sum of the contributions, the first one
// written, the others accumulated (beta = 1 in cuDNN / cuBLAS, += in the kernels). For node j, from
// the logits (seed: 1 at cls[i] of image i) down to the stop node s (the earliest node whose
// gradient is asked for; -1 = the input):
//   ReLU           g_j = y_j <= 0 ? 0 : g_j    PyTorch's threshold_backward on the stored output: 0
//                                              and -0 block, a NaN output passes its gradient
//   linear         g_in (N, in) (+)= g_j (N, out) W (out, in)      cuBLAS, f32 weights
//   conv           g_in (+)= conv_transpose(g_j, W)                cuDNN backward data, f32 NCHW
//   max-pool       g_in[argmax] (+)= g_j   argmax recomputed from the stored input: the window's
//                                          first max in scan order, a NaN taking the place (the
//                                          last NaN when several), all -inf = the first element:
//                                          PyTorch's max_pool2d_with_indices rule
//   adaptive avg   g_in[bin] (+)= g_j / bin_h / bin_w   torch bins [floor(i H/OH), ceil((i+1) H/OH)),
//                                                       which overlap when OH does not divide H
//   add            g_a (+)= g_j, g_b (+)= g_j
// Inputs before s receive nothing (their gradients are not needed). The pooling kernels gather
// (one thread per input element, windows in ascending output order), so no atomics: reruns are
// bit-identical, and cuDNN's deterministic backward-data algorithms come first.
//
// Precision: fp32 = cuDNN FMA math without FFT / Winograd, cuBLAS CUBLAS_COMPUTE_32F: no TF32.
// tf32, fp16 and bf16: f32 gradients with TF32 tensor-core math (cuDNN DEFAULT math, cuBLAS
// FAST_TF32); the half paths keep f32 gradients because a logit's gradient in deep layers falls
// below fp16's normal range (6e-5) and PyTorch would need loss scaling for it. On the half paths
// a max-pool reading the network input recomputes its argmax from the f32 input (the forward
// compared the half-rounded values); no VGG / ResNet does that.
//
// State per prepared net (CuGrad, freed by cuda_net_release): f32 filter and convolution
// descriptors per conv, and per batch size the tensor descriptors and each conv's chosen
// backward-data algorithm (the first run of that size tries the heuristic's candidates in order
// on the real data; the first that runs is the result and the choice, as the forward does).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_backward_pool.cuh"
#include "cuda_internal.cuh"

#define GRID(n) cu_blocks((n), 256), 256, 0, st

// ---- kernels (f32 NCHW; one thread per output element) ----------------------------------------

// g (N, K) zeroed before: g[i, cls[i]] = 1
__global__ void k_seed(float *g, int n, int k, const int *cls) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) g[(size_t)i * k + cls[i]] = 1.0f;
}

// g = y <= 0 ? 0 : g over count values (a NaN y keeps g: PyTorch's threshold_backward)
__global__ void k_relu_mask(float *g, const float *y, size_t count) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count && y[i] <= 0.0f) g[i] = 0.0f;
}

__global__ void k_add_into(float *dst, const float *src, size_t count) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) dst[i] += src[i];
}

// idx (P, OH, OW) = the argmax of each window of x (P, H, W)
__global__ void k_maxpool_argmax(const float *x, int *idx, size_t total, int h, int w, int oh,
                                 int ow, int k, int stride, int pad) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) idx[i] = maxpool_argmax_at(x, i, h, w, oh, ow, k, stride, pad);
}

// gx (P, H, W) (+)= the max-pool gradient of gy (P, OH, OW) routed by idx
__global__ void k_maxpool_back(const float *gy, const int *idx, float *gx, size_t total, int h,
                               int w, int oh, int ow, int k, int stride, int pad, int acc) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    float s = maxpool_back_at(gy, idx, i, h, w, oh, ow, k, stride, pad);
    gx[i] = acc ? gx[i] + s : s;
}

// gx (P, H, W) (+)= the adaptive-average-pool gradient of gy (P, OH, OW)
__global__ void k_adaptive_avg_back(const float *gy, float *gx, size_t total, int h, int w, int oh,
                                    int ow, int acc) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    float s = adaptive_avg_back_at(gy, i, h, w, oh, ow);
    gx[i] = acc ? gx[i] + s : s;
}

// ---- per-net state ----------------------------------------------------------------------------

typedef struct {
    int state;                          // 0 = not chosen yet, 1 = chosen
    cudnnConvolutionBwdDataAlgo_t algo;
    cudnnMathType_t math;
    size_t ws;
} BwdChoice;

typedef struct {
    int n;                              // batch size, 0 = not built yet
    cudnnTensorDescriptor_t in_desc;    // (n, in_c, in_h, in_w) f32 NCHW
    cudnnTensorDescriptor_t *desc;      // per node output, f32 NCHW (NULL for linear nodes)
    BwdChoice *choice;                  // per conv node
} GradPlan;

struct CuGrad {
    int n_nodes, max_batch;
    cudnnFilterDescriptor_t *wdesc;     // per conv: (cout, cin, k, k) f32
    cudnnConvolutionDescriptor_t *cdesc;
    GradPlan *plans;                    // (max_batch + 1), indexed by batch size
};

static void plan_destroy(CuGrad *g, GradPlan *p) {
    if (p->in_desc) cudnnDestroyTensorDescriptor(p->in_desc);
    for (int i = 0; p->desc && i < g->n_nodes; i++)
        if (p->desc[i]) cudnnDestroyTensorDescriptor(p->desc[i]);
    free(p->desc);
    free(p->choice);
    memset(p, 0, sizeof *p);
}

void cuda_backward_release(CuGrad *g) {
    if (!g) return;
    for (int k = 0; g->plans && k <= g->max_batch; k++) plan_destroy(g, &g->plans[k]);
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->wdesc && g->wdesc[i]) cudnnDestroyFilterDescriptor(g->wdesc[i]);
        if (g->cdesc && g->cdesc[i]) cudnnDestroyConvolutionDescriptor(g->cdesc[i]);
    }
    free(g->plans);
    free(g->wdesc);
    free(g->cdesc);
    free(g);
}

static const char *node_label(const CuNetView *v, int i, char *buf, size_t size) {
    const PcNode *nd = &v->nodes[i];
    const char *nm = nd->name[0] ? nd->name
                     : nd->op == PC_NODE_CONV ? nd->p.conv.weight_name
                     : nd->op == PC_NODE_LINEAR ? nd->p.linear.weight_name : "";
    snprintf(buf, size, "backward: node %d%s%s%s", i, nm[0] ? " (" : "", nm, nm[0] ? ")" : "");
    return buf;
}

static int conv_descs(CuGrad *g, const CuNetView *v, int i, PcError *err) {
    const PcConvParams *cp = &v->nodes[i].p.conv;
    char lbl[160];
    node_label(v, i, lbl, sizeof lbl);
    CU_TRY_CUDNN(err, cudnnCreateFilterDescriptor(&g->wdesc[i]), lbl);
    CU_TRY_CUDNN(err, cudnnSetFilter4dDescriptor(g->wdesc[i], CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                                 cp->cout, cp->cin, cp->k, cp->k), lbl);
    CU_TRY_CUDNN(err, cudnnCreateConvolutionDescriptor(&g->cdesc[i]), lbl);
    CU_TRY_CUDNN(err, cudnnSetConvolution2dDescriptor(g->cdesc[i], cp->pad, cp->pad, cp->stride,
                                                      cp->stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                                      CUDNN_DATA_FLOAT), lbl);
    return 0;
}

// The net's CuGrad, made on the first backward.
static CuGrad *grad_state(PcBackendNet *bn, const CuNetView *v, PcError *err) {
    CuGrad **slot = cuda_net_grad(bn);
    if (*slot) return *slot;
    CuGrad *g = (CuGrad *)calloc(1, sizeof *g);
    if (!g) {
        pc_fail(err, "backward: out of host memory");
        return NULL;
    }
    g->n_nodes = v->n_nodes;
    g->max_batch = v->max_batch;
    g->wdesc = (cudnnFilterDescriptor_t *)calloc((size_t)v->n_nodes, sizeof *g->wdesc);
    g->cdesc = (cudnnConvolutionDescriptor_t *)calloc((size_t)v->n_nodes, sizeof *g->cdesc);
    g->plans = (GradPlan *)calloc((size_t)v->max_batch + 1, sizeof *g->plans);
    int rc = !g->wdesc || !g->cdesc || !g->plans ? pc_fail(err, "backward: out of host memory") : 0;
    for (int i = 0; i < v->n_nodes && !rc; i++)
        if (v->nodes[i].op == PC_NODE_CONV) rc = conv_descs(g, v, i, err);
    if (rc) {
        cuda_backward_release(g);
        return NULL;
    }
    *slot = g;
    return g;
}

static int f32_desc(cudnnTensorDescriptor_t *d, int n, int c, int h, int w, PcError *err) {
    CU_TRY_CUDNN(err, cudnnCreateTensorDescriptor(d), "backward: tensor descriptor");
    CU_TRY_CUDNN(err, cudnnSetTensor4dDescriptor(*d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w),
                 "backward: tensor descriptor");
    return 0;
}

// Descriptors of batch n; the algorithms are chosen by the first backward that needs them.
static GradPlan *grad_plan(CuGrad *g, const CuNetView *v, int n, PcError *err) {
    GradPlan *p = &g->plans[n];
    if (p->n == n) return p;
    int nn = v->n_nodes;
    p->desc = (cudnnTensorDescriptor_t *)calloc((size_t)nn, sizeof *p->desc);
    p->choice = (BwdChoice *)calloc((size_t)nn, sizeof *p->choice);
    int rc = !p->desc || !p->choice ? pc_fail(err, "backward: out of host memory") : 0;
    if (!rc) rc = f32_desc(&p->in_desc, n, v->in_c, v->in_h, v->in_w, err);
    for (int i = 0; i < nn && !rc; i++) {
        const PcNode *nd = &v->nodes[i];
        if (nd->op != PC_NODE_LINEAR) rc = f32_desc(&p->desc[i], n, nd->c, nd->h, nd->w, err);
    }
    if (rc) {
        plan_destroy(g, p);
        return NULL;
    }
    p->n = n;
    return p;
}

// ---- one backward pass ------------------------------------------------------------------------

typedef struct {
    CudaContext *ctx;
    PcBackendNet *bn;
    const CuNetView *v;
    CuGrad *g;
    GradPlan *plan;
    int n;                  // images
    int stop;               // earliest node whose gradient is needed (-1 = the input)
    const float *x;         // (N, C, H, W) the network input
    float **act;            // [node] stored output (N, C, H, W) f32, or NULL
    float **grad;           // [node + 1] gradient of the node's output (node -1 = the input), or
                            // NULL while nothing has reached it
    PcError *err;
} Pass;

#define GRAD(p, k) ((p)->grad[(k) + 1])

static void shape_of(const CuNetView *v, int k, int *c, int *h, int *w) {
    if (k < 0) {
        *c = v->in_c, *h = v->in_h, *w = v->in_w;
    } else {
        *c = v->nodes[k].c, *h = v->nodes[k].h, *w = v->nodes[k].w;
    }
}

static size_t count_of(const Pass *p, int k) {
    int c, h, w;
    shape_of(p->v, k, &c, &h, &w);
    return (size_t)p->n * c * h * w;
}

// Stream-ordered device scratch; a failure (out of memory) is an error of the call, not fatal.
static int scratch_try(CudaContext *ctx, void **ptr, size_t bytes, PcError *err, const char *what) {
    cudaError_t e = cudaMallocAsync(ptr, bytes ? bytes : 16, ctx->stream);
    if (e != cudaSuccess) *ptr = NULL;   // never freed by the caller's cleanup
    CU_TRY_CUDA(err, e, what);
    return 0;
}

// The buffer a contribution to node k's gradient goes to (*dst): made on the first contribution
// (*beta = 0: overwrite), the existing one afterwards (*beta = 1: accumulate). 0, or PC_ERR_OOM
// (-1 on another failure) with err set: the caller returns it as it is, so that the engine can
// retry with fewer images.
static int grad_target(Pass *p, int k, float **dst, float *beta) {
    *beta = GRAD(p, k) ? 1.0f : 0.0f;
    int rc = GRAD(p, k) ? 0
                        : scratch_try(p->ctx, (void **)&GRAD(p, k), count_of(p, k) * sizeof(float), p->err,
                                      "backward: gradients");
    *dst = GRAD(p, k);
    return rc;
}

static cudnnStatus_t bwd_exec(const Pass *p, int j, const BwdChoice *ch, cudnnTensorDescriptor_t dyd,
                              cudnnTensorDescriptor_t dxd, float *dx, float beta) {
    cudnnStatus_t st = cudnnSetConvolutionMathType(p->g->cdesc[j], ch->math);
    if (st != CUDNN_STATUS_SUCCESS) return st;
    const float one = 1.0f;
    return cudnnConvolutionBackwardData(p->ctx->cudnn, &one, p->g->wdesc[j], cuda_net_weight_f32(p->bn, j),
                                        dyd, GRAD(p, j), p->g->cdesc[j], ch->algo, p->ctx->workspace,
                                        ch->ws, &beta, dxd, dx);
}

static int is_transform(cudnnConvolutionBwdDataAlgo_t a) {
    return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
           a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD ||
           a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}

// First backward of this batch size through conv j: tries the heuristic's candidates on the real
// buffers, deterministic ones first (fp32: no FFT / Winograd, as the forward); the first that runs
// is the result and the choice.
static int choose_bwd(Pass *p, int j, cudnnTensorDescriptor_t dyd, cudnnTensorDescriptor_t dxd,
                      float *dx, float beta) {
    CudaContext *ctx = p->ctx;
    char lbl[160];
    node_label(p->v, j, lbl, sizeof lbl);
    const int fp32 = ctx->precision == PC_PREC_FP32;
    const cudnnMathType_t math = fp32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
    CU_TRY_CUDNN(p->err, cudnnSetConvolutionMathType(p->g->cdesc[j], math), lbl);
    cudnnConvolutionBwdDataAlgoPerf_t perf[2 * CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int got = 0;
    CU_TRY_CUDNN(p->err, cudnnGetConvolutionBackwardDataAlgorithm_v7(
                             ctx->cudnn, p->g->wdesc[j], dyd, p->g->cdesc[j], dxd,
                             2 * CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, perf), lbl);
    cudnnStatus_t last = CUDNN_STATUS_NOT_SUPPORTED;
    for (int deterministic = 1; deterministic >= 0; deterministic--) {
        for (int r = 0; r < got; r++) {
            if (perf[r].status != CUDNN_STATUS_SUCCESS) continue;
            if ((perf[r].determinism == CUDNN_DETERMINISTIC) != deterministic) continue;
            if (fp32 && is_transform(perf[r].algo)) continue;
            BwdChoice ch = {1, perf[r].algo, math, 0};
            if (cudnnGetConvolutionBackwardDataWorkspaceSize(ctx->cudnn, p->g->wdesc[j], dyd, p->g->cdesc[j],
                                                             dxd, ch.algo, &ch.ws) != CUDNN_STATUS_SUCCESS)
                continue;
            if (ch.ws > ctx->workspace_limit) continue;
            int rc = cu_workspace_reserve(ctx, ch.ws, p->err);
            if (rc) return rc;   // PC_ERR_OOM passed on
            cudnnStatus_t st = bwd_exec(p, j, &ch, dyd, dxd, dx, beta);
            if (st == CUDNN_STATUS_SUCCESS) {
                CU_TRY_CUDA(p->err, cudaGetLastError(), lbl);
                p->plan->choice[j] = ch;
                return 0;
            }
            (void)cudaGetLastError();   // a rejected candidate's launch error is not the next one's
            last = st;
        }
    }
    return pc_fail(p->err, "%s: no cuDNN algorithm runs the backward-data convolution for batch %d (last: %s)",
                   lbl, p->n, cudnnGetErrorString(last));
}

static int conv_back(Pass *p, int j) {
    const int in = p->v->nodes[j].input;
    if (in < p->stop) return 0;
    float beta, *dx;
    int rc = grad_target(p, in, &dx, &beta);
    if (rc) return rc;
    cudnnTensorDescriptor_t dyd = p->plan->desc[j], dxd = in < 0 ? p->plan->in_desc : p->plan->desc[in];
    BwdChoice *ch = &p->plan->choice[j];
    if (!ch->state) return choose_bwd(p, j, dyd, dxd, dx, beta);
    cudnnStatus_t st = bwd_exec(p, j, ch, dyd, dxd, dx, beta);
    char lbl[160];
    if (st != CUDNN_STATUS_SUCCESS)
        return pc_fail(p->err, "%s: cuDNN backward data: %s", node_label(p->v, j, lbl, sizeof lbl),
                       cudnnGetErrorString(st));
    return 0;
}

// row-major G_in (N, in) (+)= G (N, out) W (out, in); in cuBLAS's column-major terms
// G_in^T (in, N) = W' (in, out) G^T (out, N), where W' is W's row-major storage read column-major
// (ld in), i.e. W^T, and G^T is G's storage (ld out): no transposes.
static int linear_back(Pass *p, int j) {
    const PcNode *nd = &p->v->nodes[j];
    if (nd->input < p->stop) return 0;
    float beta, *gin;
    int rc = grad_target(p, nd->input, &gin, &beta);
    if (rc) return rc;
    const int in = nd->p.linear.in, out = nd->p.linear.out;
    const float one = 1.0f;
    cublasComputeType_t compute = p->ctx->precision == PC_PREC_FP32 ? CUBLAS_COMPUTE_32F
                                                                     : CUBLAS_COMPUTE_32F_FAST_TF32;
    char lbl[160];
    CU_TRY_CUBLAS(p->err, cublasGemmEx(p->ctx->cublas, CUBLAS_OP_N, CUBLAS_OP_N, in, p->n, out, &one,
                                       cuda_net_weight_f32(p->bn, j), CUDA_R_32F, in, GRAD(p, j),
                                       CUDA_R_32F, out, &beta, gin, CUDA_R_32F, in, compute,
                                       CUBLAS_GEMM_DEFAULT),
                  node_label(p->v, j, lbl, sizeof lbl));
    return 0;
}

static int maxpool_back(Pass *p, int j) {
    const PcNode *nd = &p->v->nodes[j];
    const int in = nd->input;
    if (in < p->stop) return 0;
    int c, h, w;
    shape_of(p->v, in, &c, &h, &w);
    const float *xin = in < 0 ? p->x : p->act[in];
    float beta, *gin;
    int rc = grad_target(p, in, &gin, &beta);
    if (rc) return rc;
    const size_t out_total = (size_t)p->n * c * nd->h * nd->w, in_total = (size_t)p->n * c * h * w;
    int *idx = NULL;
    rc = scratch_try(p->ctx, (void **)&idx, out_total * sizeof(int), p->err, "backward: max-pool indices");
    if (rc) return rc;
    cudaStream_t st = p->ctx->stream;
    const PcPoolParams *pp = &nd->p.pool;
    k_maxpool_argmax<<<GRID(out_total)>>>(xin, idx, out_total, h, w, nd->h, nd->w, pp->k, pp->stride,
                                          pp->pad);
    cudaCheckLaunch();
    k_maxpool_back<<<GRID(in_total)>>>(GRAD(p, j), idx, gin, in_total, h, w, nd->h, nd->w, pp->k,
                                       pp->stride, pp->pad, beta != 0.0f);
    cudaCheckLaunch();
    cu_scratch_free(p->ctx, idx);
    return 0;
}

static int avgpool_back(Pass *p, int j) {
    const PcNode *nd = &p->v->nodes[j];
    const int in = nd->input;
    if (in < p->stop) return 0;
    int c, h, w;
    shape_of(p->v, in, &c, &h, &w);
    float beta, *gin;
    int rc = grad_target(p, in, &gin, &beta);
    if (rc) return rc;
    const size_t in_total = (size_t)p->n * c * h * w;
    cudaStream_t st = p->ctx->stream;
    k_adaptive_avg_back<<<GRID(in_total)>>>(GRAD(p, j), gin, in_total, h, w, nd->h, nd->w, beta != 0.0f);
    cudaCheckLaunch();
    return 0;
}

// One operand k of ADD node j: g_k (+)= g_j.
static int add_back(Pass *p, int j, int k) {
    if (k < p->stop) return 0;
    float beta, *gk;
    int rc = grad_target(p, k, &gk, &beta);
    if (rc) return rc;
    const size_t count = count_of(p, j);
    cudaStream_t st = p->ctx->stream;
    if (beta == 0.0f) {
        cudaCheck(cudaMemcpyAsync(gk, GRAD(p, j), count * sizeof(float), cudaMemcpyDeviceToDevice, st));
    } else {
        k_add_into<<<GRID(count)>>>(gk, GRAD(p, j), count);
        cudaCheckLaunch();
    }
    return 0;
}

// Node j's complete gradient through its ReLU and op into its inputs.
static int node_back(Pass *p, int j) {
    const PcNode *nd = &p->v->nodes[j];
    cudaStream_t st = p->ctx->stream;
    if (nd->relu) {
        const size_t count = count_of(p, j);
        k_relu_mask<<<GRID(count)>>>(GRAD(p, j), p->act[j], count);
        cudaCheckLaunch();
    }
    char lbl[160];
    switch (nd->op) {
    case PC_NODE_CONV: return conv_back(p, j);
    case PC_NODE_LINEAR: return linear_back(p, j);
    case PC_NODE_MAXPOOL: return maxpool_back(p, j);
    case PC_NODE_ADAPTIVE_AVG: return avgpool_back(p, j);
    case PC_NODE_ADD: {
        int rc = add_back(p, j, nd->input);
        return rc ? rc : add_back(p, j, nd->input2);
    }
    }
    return pc_fail(p->err, "%s: unknown node op %d", node_label(p->v, j, lbl, sizeof lbl), (int)nd->op);
}

// Copies node k's gradient (k = -1: the input) into every buffer that asked for it; zeros when no
// gradient reached k.
static int deliver(Pass *p, int k, int n_taps, const int *tap_nodes, float *const *grad_taps,
                   float *grad_x) {
    const size_t bytes = count_of(p, k) * sizeof(float);
    for (int t = -1; t < n_taps; t++) {
        float *dst = t < 0 ? (k < 0 ? grad_x : NULL) : (tap_nodes[t] == k && grad_taps ? grad_taps[t] : NULL);
        if (!dst) continue;
        if (GRAD(p, k))
            CU_TRY_CUDA(p->err, cudaMemcpyAsync(dst, GRAD(p, k), bytes, cudaMemcpyDeviceToDevice, p->ctx->stream),
                        "backward: gradient copy");
        else
            CU_TRY_CUDA(p->err, cudaMemsetAsync(dst, 0, bytes, p->ctx->stream), "backward: gradient copy");
    }
    return 0;
}

// ---- entry ------------------------------------------------------------------------------------

static int check_args(const CuNetView *v, int n, const int *cls, int n_taps, const int *tap_nodes,
                      int stop, PcError *err) {
    if (n > v->max_batch)
        return pc_fail(err, "backward: batch %d exceeds the prepared maximum %d", n, v->max_batch);
    for (int t = 0; t < n_taps; t++)
        if (tap_nodes[t] < 0 || tap_nodes[t] >= v->n_nodes)
            return pc_fail(err, "backward: tap node %d out of range (0..%d)", tap_nodes[t], v->n_nodes - 1);
    if (stop >= v->n_nodes) return 0;   // no gradient asked for: no class needed
    if (!cls) return pc_fail(err, "backward: no classes given");
    const int k = v->nodes[v->n_nodes - 1].c;
    for (int i = 0; i < n; i++)
        if (cls[i] < 0 || cls[i] >= k)
            return pc_fail(err, "backward: class %d of image %d out of range (0..%d)", cls[i], i, k - 1);
    return 0;
}

// The forward: the caller's taps and logits, and the outputs the backward reads (p->act).
static int forward_keep(PcBackend *be, Pass *p, float *logits, int n_taps, const int *tap_nodes,
                        float *const *taps) {
    const CuNetView *v = p->v;
    const int nn = v->n_nodes;
    unsigned char *need = (unsigned char *)calloc((size_t)nn, 1);
    int *fn = (int *)malloc(((size_t)n_taps + nn) * sizeof(int));
    float **fb = (float **)malloc(((size_t)n_taps + nn) * sizeof(float *));
    int rc = !need || !fn || !fb ? pc_fail(p->err, "backward: out of host memory") : 0;
    int m = 0;
    for (int t = 0; t < n_taps && !rc; t++)
        if (taps && taps[t]) fn[m] = tap_nodes[t], fb[m++] = taps[t];
    for (int j = p->stop + 1; j < nn && !rc; j++) {
        const PcNode *nd = &v->nodes[j];
        if (nd->relu) need[j] = 1;
        if (nd->op == PC_NODE_MAXPOOL && nd->input >= 0 && nd->input >= p->stop) need[nd->input] = 1;
    }
    for (int k = 0; k < nn && !rc; k++) {
        if (!need[k]) continue;
        rc = scratch_try(p->ctx, (void **)&p->act[k], count_of(p, k) * sizeof(float), p->err,
                         "backward: stored activations");
        fn[m] = k, fb[m++] = p->act[k];
    }
    if (!rc) rc = cuda_forward_unquantised(be, p->bn, p->x, p->n, logits, m, fn, fb, p->err);
    free(need), free(fn), free(fb);
    return rc;
}

// Seed, then every node from the logits down to just after the stop node, then the stop node's
// gradient out.
static int backward_nodes(Pass *p, const int *cls, int n_taps, const int *tap_nodes,
                          float *const *grad_taps, float *grad_x) {
    const int nn = p->v->n_nodes, k = p->v->nodes[nn - 1].c;
    cudaStream_t st = p->ctx->stream;
    float beta, *seed;
    int *d_cls = NULL;
    int rc = grad_target(p, nn - 1, &seed, &beta);
    if (!rc) rc = scratch_try(p->ctx, (void **)&d_cls, (size_t)p->n * sizeof(int), p->err, "backward: classes");
    if (rc) return rc;
    // pageable source: staged before the call returns
    cudaCheck(cudaMemcpyAsync(d_cls, cls, (size_t)p->n * sizeof(int), cudaMemcpyHostToDevice, st));
    cudaCheck(cudaMemsetAsync(seed, 0, (size_t)p->n * k * sizeof(float), st));
    k_seed<<<GRID((size_t)p->n)>>>(seed, p->n, k, d_cls);
    cudaCheckLaunch();
    cu_scratch_free(p->ctx, d_cls);
    for (int j = nn - 1; j > p->stop; j--) {
        // the gradient of j's output (after its ReLU) goes out before node_back masks it in place
        if ((rc = deliver(p, j, n_taps, tap_nodes, grad_taps, grad_x)) != 0) return rc;
        if (!GRAD(p, j)) continue;
        if ((rc = node_back(p, j)) != 0) return rc;
        cu_scratch_free(p->ctx, GRAD(p, j));
        GRAD(p, j) = NULL;
    }
    return deliver(p, p->stop, n_taps, tap_nodes, grad_taps, grad_x);
}

int cuda_backward(PcBackend *be, PcBackendNet *bn, const float *x, int n, const int *cls,
                  float *logits, int n_taps, const int *tap_nodes, float *const *taps,
                  float *const *grad_taps, float *grad_x, PcError *err) {
    if (n <= 0) return 0;
    CuNetView v;
    cuda_net_view(bn, &v);
    const int nn = v.n_nodes;
    int stop = grad_x ? -1 : nn;   // nn: no gradient asked for
    for (int t = 0; t < n_taps && grad_taps; t++)
        if (grad_taps[t] && tap_nodes[t] < stop) stop = tap_nodes[t];
    if (check_args(&v, n, cls, n_taps, tap_nodes, stop, err)) return -1;
    Pass p;
    memset(&p, 0, sizeof p);
    p.ctx = cu_ctx(be), p.bn = bn, p.v = &v, p.n = n, p.stop = stop, p.x = x, p.err = err;
    p.act = (float **)calloc((size_t)nn, sizeof(float *));
    p.grad = (float **)calloc((size_t)nn + 1, sizeof(float *));
    int rc = !p.act || !p.grad ? pc_fail(err, "backward: out of host memory") : 0;
    if (!rc) rc = forward_keep(be, &p, logits, n_taps, tap_nodes, taps);
    if (!rc && stop < nn) {
        p.g = grad_state(bn, &v, err);
        p.plan = p.g ? grad_plan(p.g, &v, n, err) : NULL;
        rc = p.plan ? backward_nodes(&p, cls, n_taps, tap_nodes, grad_taps, grad_x) : -1;
    }
    for (int k = 0; p.act && k < nn; k++) cu_scratch_free(p.ctx, p.act[k]);
    for (int k = 0; p.grad && k <= nn; k++) cu_scratch_free(p.ctx, p.grad[k]);
    free(p.act);
    free(p.grad);
    return rc;
}
