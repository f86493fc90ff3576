// cuda_quant.cu: the 8-bit convolutions of the CUDA backend (cuda_quant.cuh; the scheme is
// host/shared/quant_scheme.h's): net_set_quant (weights quantised per output channel into cuDNN's KRSC layout,
// the per-channel descale s_x * s_w[k], an aligned fp32 bias), the input quantisation kernel, the
// epilogue of the conv-only graph variant, one node's 8-bit conv, and two C entry points for the
// tests (the device rounding on host arrays, the nodes that fell back to fp16).
//
// Rounding on the device is quant_scheme.h's, bit for bit (test_cuda_quant checks every half value and a
// sweep of floats with every midpoint): fp8 by __nv_cvt_float_to_fp8(v, __NV_SATFINITE,
// __NV_E4M3) (round to nearest even, saturating to +-448, NaN -> NaN), int8 by pc_q_int8 (rintf:
// half to even, saturating to +-127). An int8 code has no NaN: a NaN input becomes code 0 (quant_scheme.h
// keeps NaN in its emulation; a NaN activation has already spoilt the image either way).
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_quant.cuh"

// ---- rounding ---------------------------------------------------------------------------------

// The 8-bit code of v: fp8 E4M3 bits, or the int8 value as a byte.
__host__ __device__ static inline unsigned char q_code(float v, PcQuantFormat f) {
    if (f == PC_QUANT_INT8) {
        if (v != v) return 0;
        return (unsigned char)(signed char)(int)pc_q_int8(v);
    }
    return (unsigned char)__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3);
}

__device__ static inline float load_f(const float *x, size_t i) { return x[i]; }
__device__ static inline float load_f(const __half *x, size_t i) { return __half2float(x[i]); }

// q[i] = code(x[i] * inv_s) over count values (any layout: the scale is per tensor).
template <typename T>
__global__ void k_quantize(const T *x, size_t count, float inv_s, PcQuantFormat f, unsigned char *q) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) q[i] = q_code(load_f(x, i) * inv_s, f);
}

// 8 values per thread (count a multiple of 8, 16-byte aligned buffers): the activations' path.
__global__ void k_quantize_half8(const uint4 *x, size_t groups, float inv_s, PcQuantFormat f, uint2 *q) {
    size_t g = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= groups) return;
    uint4 v = x[g];
    const __half *h = (const __half *)&v;
    unsigned char c[8];
#pragma unroll
    for (int j = 0; j < 8; j++) c[j] = q_code(__half2float(h[j]) * inv_s, f);
    uint2 out;
    memcpy(&out, c, 8);
    q[g] = out;
}

// y[i] = relu?(acc[i] * descale[k] + bias[k]) as half, k = i % K (NHWC): the pointwise part of the
// graph in the same fp32 operations (a multiply, then an add: no FMA contraction).
// CU_QV_I32's int32 acc is converted to fp32 first (round to nearest: exact below 2^24, as a fused
// graph's fp32 multiply reads its int32 input).
__device__ static inline float acc_f(const float *acc, size_t i) { return acc[i]; }
__device__ static inline float acc_f(const int32_t *acc, size_t i) { return __int2float_rn(acc[i]); }

template <typename A>
__global__ void k_epilogue(const A *acc, size_t count, int k, const float *descale, const float *bias, int relu,
                           __half *y) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= count) return;
    int ch = (int)(i % k);
    float v = __fadd_rn(__fmul_rn(acc_f(acc, i), descale[ch]), bias[ch]);
    if (relu && v < 0.0f) v = 0.0f;
    y[i] = __float2half_rn(v);
}

static void quantize_half(cudaStream_t st, const void *x, size_t count, float inv_s, PcQuantFormat f, void *q) {
    if (!count) return;
    if (count % 8 == 0 && ((uintptr_t)x % 16) == 0 && ((uintptr_t)q % 8) == 0) {
        size_t groups = count / 8;
        k_quantize_half8<<<cu_blocks(groups, 256), 256, 0, st>>>((const uint4 *)x, groups, inv_s, f, (uint2 *)q);
    } else {
        k_quantize<__half><<<cu_blocks(count, 256), 256, 0, st>>>((const __half *)x, count, inv_s, f,
                                                                 (unsigned char *)q);
    }
    cudaCheckLaunch();
}

// ---- state ------------------------------------------------------------------------------------

static void free_node_buffers(CuQNode *q) {
    if (q->wq) cudaFree(q->wq);
    if (q->descale) cudaFree(q->descale);
    if (q->bias) cudaFree(q->bias);
    q->wq = NULL, q->descale = NULL, q->bias = NULL;
    q->in_scale = q->inv_scale = 0.0f;
}

void cu_quant_free(PcBackendNet *bn) {
    CuQuantState *qs = bn->quant;
    if (!qs) return;
    for (int i = 0; qs->node && i < bn->n_nodes; i++) free_node_buffers(&qs->node[i]);
    for (int j = 0; qs->plans && j < bn->n_nodes * qs->n_sizes; j++) cu_qplan_free(&qs->plans[j]);
    if (qs->qbuf) cudaFree(qs->qbuf);
    free(qs->plans);
    free(qs->node);
    free(qs);
    bn->quant = NULL;
}

// The bucket size an 8-bit conv of n images runs at, and its plan index (cuda_quant.cuh).
static int bucket_of(const PcBackendNet *bn, int n, int *index) {
    int b = 1, k = 0;
    while (b < n && b < 64) b *= 2, k++;
    if (b < n) b = (n + 63) / 64 * 64, k = 6 + b / 64;
    if (b >= bn->max_batch) b = bn->max_batch, k = bn->quant->n_sizes - 1;   // max_batch's own slot
    *index = k;
    return b;
}

// The state of a net's first net_set_quant: per node, and the plan table.
static int quant_alloc(PcBackendNet *bn, PcError *err) {
    CuQuantState *qs = (CuQuantState *)calloc(1, sizeof *qs);
    bn->quant = qs;
    if (qs) {
        qs->n_sizes = 8 + bn->max_batch / 64 + 1;   // 1..64 (7), 128.. (max_batch / 64), max_batch itself
        qs->node = (CuQNode *)calloc((size_t)bn->n_nodes, sizeof(CuQNode));
        qs->plans = (CuQPlan *)calloc((size_t)bn->n_nodes * qs->n_sizes, sizeof(CuQPlan));
    }
    if (!qs || !qs->node || !qs->plans) {
        cu_quant_free(bn);
        return pc_fail(err, "net_set_quant: out of host memory");
    }
    return 0;
}

int cu_quant_active(const PcBackendNet *bn, int i) {
    const CuQuantState *qs = bn->quant;
    return qs && qs->active && qs->node[i].wq && !qs->node[i].unsupported;
}

// Every scale of q checked against the net: one line naming the node on a mistake.
static int check_scales(const CudaContext *ctx, const PcBackendNet *bn, const PcQuant *q, PcError *err) {
    const PcQuantFormat want = pc_quant_format_of(ctx->precision);
    if (q->format != want)
        return pc_fail(err, "net_set_quant: scales for %s, the backend runs %s",
                       q->format == PC_QUANT_FP8 ? "fp8" : q->format == PC_QUANT_INT8 ? "int8" : "no format",
                       want == PC_QUANT_FP8 ? "fp8" : want == PC_QUANT_INT8 ? "int8" : "no 8-bit precision");
    if (q->n_nodes != bn->n_nodes || (q->n_nodes > 0 && !q->in_scale))
        return pc_fail(err, "net_set_quant: %d scales for a network of %d nodes", q->n_nodes, bn->n_nodes);
    char lbl[160];
    for (int i = 0; i < bn->n_nodes; i++) {
        float s = q->in_scale[i];
        if (s == 0.0f) continue;
        const PcNode *nd = &bn->nodes[i];
        node_label(bn, i, lbl, sizeof lbl);
        if (!pc_quant_scale_ok(s))   // the CPU twin's rule: 1 / s finite, no inf * 0 on an input
            return pc_fail(err, "net_set_quant: %s: input scale %g is not a normal finite number > 0 (with a finite "
                           "reciprocal)", lbl, (double)s);
        if (nd->op != PC_NODE_CONV ||
            !pc_quant_eligible(nd->input, nd->p.conv.cin, nd->p.conv.cout))
            return pc_fail(err, "net_set_quant: %s cannot run in 8 bits (a conv not reading the network input, "
                           "channels multiples of 16), but has input scale %g", lbl, (double)s);
    }
    return 0;
}

// Uploads bytes of host memory into a new device buffer; 0 or -1 with err.
static int upload_new(void **dst, const void *src, size_t bytes, PcError *err, const char *what) {
    CU_TRY_CUDA(err, cudaMalloc(dst, bytes), what);
    CU_TRY_CUDA(err, cudaMemcpy(*dst, src, bytes, cudaMemcpyHostToDevice), what);
    return 0;
}

// A new device buffer holding a copy of bytes of device memory; 0 or -1 with err.
static int copy_new(void **dst, const void *src, size_t bytes, PcError *err, const char *what) {
    CU_TRY_CUDA(err, cudaMalloc(dst, bytes), what);
    CU_TRY_CUDA(err, cudaMemcpy(*dst, src, bytes, cudaMemcpyDeviceToDevice), what);
    return 0;
}

// Conv i's quantised weights (KRSC codes), descale and bias from its device f32 weights.
static int quantise_node(PcBackendNet *bn, int i, float s_x, PcQuantFormat f, PcError *err) {
    const PcNode *nd = &bn->nodes[i];
    const PcConvParams *cp = &nd->p.conv;
    const CuNode *c = &bn->cn[i];
    CuQNode *q = &bn->quant->node[i];
    const int K = cp->cout, C = cp->cin, RR = cp->k * cp->k;
    const size_t per = (size_t)C * RR;
    char lbl[160];
    node_label(bn, i, lbl, sizeof lbl);
    float *w = (float *)malloc((size_t)K * per * sizeof(float)), *s_w = (float *)malloc((size_t)K * sizeof(float));
    float *desc = (float *)malloc((size_t)K * sizeof(float));
    unsigned char *codes = (unsigned char *)malloc((size_t)K * per);
    int rc = !w || !s_w || !desc || !codes ? pc_fail(err, "net_set_quant: %s: out of host memory", lbl) : 0;
    cudaError_t e = rc ? cudaSuccess : cudaMemcpy(w, c->w_f32, (size_t)K * per * sizeof(float), cudaMemcpyDeviceToHost);
    if (e != cudaSuccess) rc = pc_fail(err, "net_set_quant: %s: %s", lbl, cudaGetErrorString(e));
    if (!rc) {
        // (K, C, R, S) f32 -> codes (K, R, S, C); q_w = Q(w * (1 / s_w[k])), an exact value of the
        // format, whose code the conversion then gives without rounding
        pc_quant_weight_scales(w, K, (long)per, f, s_w);
        for (int k = 0; k < K; k++) {
            const float inv = 1.0f / s_w[k];
            desc[k] = s_x * s_w[k];
            for (int ch = 0; ch < C; ch++)
                for (int p = 0; p < RR; p++)
                    codes[(size_t)k * per + (size_t)p * C + ch] =
                        q_code(pc_q_round(w[(size_t)k * per + (size_t)ch * RR + p] * inv, f), f);
        }
        q->in_scale = s_x;
        q->inv_scale = 1.0f / s_x;
        rc = upload_new(&q->wq, codes, (size_t)K * per, err, lbl);
        if (!rc) rc = upload_new((void **)&q->descale, desc, (size_t)K * sizeof(float), err, lbl);
        if (!rc) rc = copy_new((void **)&q->bias, c->bias_f32, (size_t)K * sizeof(float), err, lbl);
    }
    free(w), free(s_w), free(desc), free(codes);
    return rc;
}

// The input buffer of the 8-bit convs: the largest input among them, at max_batch.
static int size_qbuf(PcBackendNet *bn, PcError *err) {
    CuQuantState *qs = bn->quant;
    size_t need = 16;
    for (int i = 0; i < bn->n_nodes; i++) {
        if (!qs->node[i].wq) continue;
        int c, h, w;
        in_shape(bn, bn->nodes[i].input, &c, &h, &w);
        size_t b = (size_t)bn->max_batch * c * h * w;
        if (b > need) need = b;
    }
    if (need <= qs->qbuf_bytes) return 0;
    if (qs->qbuf) cudaFree(qs->qbuf);
    qs->qbuf = NULL, qs->qbuf_bytes = 0;
    CU_TRY_CUDA(err, cudaMalloc(&qs->qbuf, need), "net_set_quant: 8-bit input buffer");
    qs->qbuf_bytes = need;
    return 0;
}

int cuda_net_set_quant(PcBackend *be, PcBackendNet *bn, const PcQuant *q, PcError *err) {
    CudaContext *ctx = cu_ctx(be);
    const int eight = ctx->precision == PC_PREC_FP8 || ctx->precision == PC_PREC_INT8;
    if (!q) {   // back to the fp16 path; buffers freed, engine refusals remembered
        if (bn->quant) {
            cudaCheck(cudaStreamSynchronize(ctx->stream));
            for (int i = 0; i < bn->n_nodes; i++) free_node_buffers(&bn->quant->node[i]);
            bn->quant->active = 0;
        }
        return 0;
    }
    if (!eight) return pc_fail(err, "net_set_quant: the backend runs a precision other than fp8 / int8");
    if (check_scales(ctx, bn, q, err)) return -1;
    cudaCheck(cudaStreamSynchronize(ctx->stream));   // queued passes may read the old buffers
    if (!bn->quant && quant_alloc(bn, err)) return -1;
    CuQuantState *qs = bn->quant;
    qs->format = q->format;
    qs->active = 0;
    int rc = 0;
    for (int i = 0; i < bn->n_nodes && !rc; i++) {
        free_node_buffers(&qs->node[i]);
        if (q->in_scale[i] > 0.0f) rc = quantise_node(bn, i, q->in_scale[i], q->format, err);
    }
    if (!rc) rc = size_qbuf(bn, err);
    if (rc) {   // nothing half-set: the net runs unquantised
        for (int i = 0; i < bn->n_nodes; i++) free_node_buffers(&qs->node[i]);
        return rc;
    }
    qs->active = 1;
    return 0;
}

// ---- one 8-bit conv ---------------------------------------------------------------------------

static void shape_of(const PcBackendNet *bn, int i, int n, CuQShape *s) {
    const PcNode *nd = &bn->nodes[i];
    s->format = bn->quant->format;
    s->n = n;
    in_shape(bn, nd->input, &s->c, &s->h, &s->w);
    s->k = nd->p.conv.cout, s->r = nd->p.conv.k, s->stride = nd->p.conv.stride, s->pad = nd->p.conv.pad;
    s->oh = nd->h, s->ow = nd->w, s->relu = nd->relu;
}

// The epilogue of the variants that write acc (cu_qv_epilogue): acc -> y.
static void run_epilogue(CudaContext *ctx, int variant, const CuQShape *s, const CuQPtrs *p) {
    size_t count = (size_t)s->n * s->oh * s->ow * s->k;
    if (variant == CU_QV_I32)
        k_epilogue<int32_t><<<cu_blocks(count, 256), 256, 0, ctx->stream>>>((const int32_t *)p->acc, count, s->k,
                                                                            p->descale, p->bias, s->relu, (__half *)p->y);
    else
        k_epilogue<float><<<cu_blocks(count, 256), 256, 0, ctx->stream>>>(p->acc, count, s->k, p->descale, p->bias,
                                                                          s->relu, (__half *)p->y);
    cudaCheckLaunch();
}

int cu_quant_conv(CudaContext *ctx, PcBackendNet *bn, int i, int n_run, const void *x, void *y, PcError *err) {
    if (!cu_quant_active(bn, i)) return 1;
    PcError own;   // the choice reads err->msg back (the fallback warning, PC_QUANT_VERBOSE): never NULL
    if (!err) err = &own, own.msg[0] = 0;
    CuQuantState *qs = bn->quant;
    CuQNode *q = &qs->node[i];
    int idx;
    const int n = bucket_of(bn, n_run, &idx);
    CuQPlan *qp = &qs->plans[(size_t)i * qs->n_sizes + idx];
    if (qp->state < 0) return 1;
    CuQShape s;
    shape_of(bn, i, n, &s);
    quantize_half(ctx->stream, x, (size_t)n * s.c * s.h * s.w, q->inv_scale, qs->format, qs->qbuf);
    CuQPtrs p = {qs->qbuf, q->wq, q->descale, q->bias, y, NULL};
    const size_t acc_bytes = (size_t)n * s.oh * s.ow * s.k * sizeof(float);
    int rc;
    if (qp->state == 0) {
        const size_t oom_before = ctx->oom_bytes;
        p.acc = (float *)cu_scratch(ctx, acc_bytes);   // for the epilogue variants, if it comes to that
        if (!p.acc) ctx->oom_bytes = oom_before;         // (not an error unless they are needed: below)
        rc = cu_qgraph_choose(ctx, &s, &p, qp, err);
        if (rc == -1 && qp->state < 0 && !p.acc) {
            // the graph refused and the variants that need acc could not be tried: out of memory,
            // not a conv cuDNN cannot run (the engine retries with fewer images; this size's
            // choice is made again next time)
            cu_qplan_free(qp);
            pc_fail(err, "8-bit conv: out of GPU memory for its accumulator (%.1f MiB) after the fused graph was "
                    "refused", (double)acc_bytes / 1048576.0);
            return PC_ERR_OOM;
        }
        if (rc == -1 && qp->state < 0) {
            char lbl[160];
            q->unsupported = 1;
            fprintf(stderr, "polycam-eval: warning: %s: no cuDNN engine runs this convolution in %s (batch %d): it "
                    "runs in fp16 from now on, and the CPU emulation differs for it (%.600s)\n",
                    node_label(bn, i, lbl, sizeof lbl), qs->format == PC_QUANT_INT8 ? "int8" : "fp8", n, err->msg);
            err->msg[0] = 0;
            rc = 1;
        } else if (rc == 0 && cu_qv_epilogue(qp->variant)) {
            run_epilogue(ctx, qp->variant, &s, &p);
        }
        cu_scratch_free(ctx, p.acc);
        return rc;
    }
    if (cu_qv_epilogue(qp->variant)) {
        const size_t oom_before = ctx->oom_bytes;
        p.acc = (float *)cu_scratch(ctx, acc_bytes);
        if (!p.acc) {
            ctx->oom_bytes = oom_before;
            pc_fail(err, "8-bit conv: out of GPU memory for its accumulator (%.1f MiB)", (double)acc_bytes / 1048576.0);
            return PC_ERR_OOM;
        }
    }
    rc = cu_qgraph_exec(ctx, qp, &p, err);
    if (!rc && cu_qv_epilogue(qp->variant)) run_epilogue(ctx, qp->variant, &s, &p);
    cu_scratch_free(ctx, p.acc);
    return rc;
}

// ---- for the tests (C entry points) -----------------------------------------------------------

// The codes the device gives for x[i] * inv_s (x f32, or half bits when half != 0), by the
// kernels the 8-bit convs run. 0, or -1 with msg set. Synchronous; default stream.
static int device_codes(const void *x, int half, size_t n, float inv_s, int format, unsigned char *codes, char *msg,
                        size_t msg_size) {
    const PcQuantFormat f = format == PC_QUANT_INT8 ? PC_QUANT_INT8 : PC_QUANT_FP8;
    const size_t in_bytes = n * (half ? 2 : 4);
    void *dx = NULL, *dq = NULL;
    cudaError_t e = cudaMalloc(&dx, in_bytes ? in_bytes : 16);
    if (e == cudaSuccess) e = cudaMalloc(&dq, n ? n : 16);
    if (e == cudaSuccess && n) e = cudaMemcpy(dx, x, in_bytes, cudaMemcpyHostToDevice);
    if (e == cudaSuccess && n) {
        if (half) quantize_half(0, dx, n, inv_s, f, dq);
        else k_quantize<float><<<cu_blocks(n, 256), 256>>>((const float *)dx, n, inv_s, f, (unsigned char *)dq);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess && n) e = cudaMemcpy(codes, dq, n, cudaMemcpyDeviceToHost);
    if (dx) cudaFree(dx);
    if (dq) cudaFree(dq);
    if (e != cudaSuccess) {
        snprintf(msg, msg_size, "%s", cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

extern "C" int pc_cuda_quant_codes_f32(const float *x, size_t n, float inv_s, int format, unsigned char *codes,
                                       char *msg, size_t msg_size) {
    return device_codes(x, 0, n, inv_s, format, codes, msg, msg_size);
}

extern "C" int pc_cuda_quant_codes_f16(const uint16_t *x, size_t n, float inv_s, int format, unsigned char *codes,
                                       char *msg, size_t msg_size) {
    return device_codes(x, 1, n, inv_s, format, codes, msg, msg_size);
}

// The nodes whose scale was set but that run in fp16 because no cuDNN engine ran them (up to max
// written to nodes); returns their count. For the host to know where the CPU emulation and the
// GPU differ (cuda_quant.cuh).
extern "C" int pc_cuda_quant_fallbacks(const PcBackendNet *bn, int *nodes, int max) {
    int n = 0;
    for (int i = 0; bn && bn->quant && i < bn->n_nodes; i++)
        if (bn->quant->node[i].unsupported) {
            if (n < max) nodes[n] = i;
            n++;
        }
    return n;
}

// backend.h net_quant_fallbacks: the same list through the vtable.
int cuda_net_quant_fallbacks(PcBackend *be, const PcBackendNet *bn, int *nodes, int max) {
    (void)be;
    return pc_cuda_quant_fallbacks(bn, nodes, max);
}
