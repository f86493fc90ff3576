// cuda_quant_graph.cu: one 8-bit convolution as a cuDNN graph, through cuDNN's backend API (plain
// C calls: cudnnBackendCreateDescriptor / SetAttribute / Finalize / Execute), the graph of
// cudnn-frontend's samples fp8_fprop.cpp / int8_fprop.cpp and legacy fusion_sample.cpp
// (run_conv_scale_bias_relu_int8) with a per-output-channel descale and a half output:
//
//   x (N, C, H, W) fp8/int8, NHWC strides ─┐
//   w (K, C, R, R) fp8/int8, KRSC strides ─┴ conv fprop (cross-correlation; compute fp32 for fp8,
//                                            int32 for int8) -> acc (virtual; fp32 | int32)
//   acc * descale (1, K, 1, 1) fp32  -> virtual fp32          pointwise MUL, fp32 math
//       + bias    (1, K, 1, 1) fp32  -> virtual fp32 | y      pointwise ADD, fp32 math
//       [ReLU]                        -> y (N, K, OH, OW) half, NHWC strides
//
// Variants (cuda_quant.cuh CU_QV_*): the fused graph; for int8 the same with an fp32 virtual
// accumulator, then int8_fprop.cpp's conv + identity into an int32 buffer; the conv alone into an
// fp32 buffer (our kernel then does the pointwise part of these); for int8 last, the legacy API's
// int8 convolution (INT8_EXT_CONFIG) with our kernel after it.
// Engines: heuristics mode A, then mode FALLBACK; each engine config is finalised into a plan
// and run on the real operands, the first that runs is kept (as cuda_conv_algo.cu does for the
// legacy API). Every descriptor the plan was built from is kept with it until cu_qplan_free.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda_quant.cuh"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Tensor unique ids of the variant pack.
enum { UID_X = 1, UID_W, UID_DESCALE, UID_BIAS, UID_Y, UID_ACC_V = 10, UID_SCALED_V, UID_BIASED_V };

// Descriptors made while building; freed together unless handed to a plan.
typedef struct {
    cudnnBackendDescriptor_t d[CU_QPLAN_KEEP];
    int n;
} Bag;

static void bag_free(Bag *b) {
    for (int i = b->n - 1; i >= 0; i--) cudnnBackendDestroyDescriptor(b->d[i]);
    b->n = 0;
}

static int bag_new(Bag *b, cudnnBackendDescriptorType_t type, cudnnBackendDescriptor_t *out, PcError *err) {
    if (b->n >= CU_QPLAN_KEEP) return pc_fail(err, "8-bit conv graph: too many descriptors");
    CU_TRY_CUDNN_BE(err, cudnnBackendCreateDescriptor(type, out), "8-bit conv graph");
    b->d[b->n++] = *out;
    return 0;
}

// dims (N, C, H, W) with NHWC strides (C fastest)
static void nhwc_strides(const int64_t d[4], int64_t s[4]) {
    s[1] = 1;
    s[3] = d[1];
    s[2] = d[1] * d[3];
    s[0] = d[1] * d[3] * d[2];
}

static int make_tensor(Bag *b, int64_t uid, cudnnDataType_t dt, const int64_t dims[4], int is_virtual,
                       cudnnBackendDescriptor_t *out, PcError *err) {
    int64_t strides[4], align = 16;
    bool virt = is_virtual != 0;
    nhwc_strides(dims, strides);
    if (bag_new(b, CUDNN_BACKEND_TENSOR_DESCRIPTOR, out, err)) return -1;
    cudnnBackendDescriptor_t t = *out;
    const char *what = "8-bit conv graph: tensor";
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align),
                    what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt),
                    what);
    CU_TRY_CUDNN_BE(err, cudnnBackendFinalize(t), what);
    return 0;
}

// The convolution descriptor and operation: x, w -> y.
static int make_conv(Bag *b, const CuQShape *s, cudnnDataType_t comp, cudnnBackendDescriptor_t x,
                     cudnnBackendDescriptor_t w, cudnnBackendDescriptor_t y, cudnnBackendDescriptor_t *op,
                     PcError *err) {
    const char *what = "8-bit conv graph: convolution";
    cudnnBackendDescriptor_t cd;
    if (bag_new(b, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, &cd, err)) return -1;
    int64_t dims = 2, dil[2] = {1, 1}, str[2] = {s->stride, s->stride}, pad[2] = {s->pad, s->pad};
    cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp),
                    what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1,
                                                  &mode), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &dims),
                    what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dil), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, str),
                    what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pad),
                    what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, pad),
                    what);
    CU_TRY_CUDNN_BE(err, cudnnBackendFinalize(cd), what);
    if (bag_new(b, CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, op, err)) return -1;
    float alpha = 1.0f, beta = 0.0f;
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
                                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cd), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT,
                                                  1, &alpha), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT,
                                                  1, &beta), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendFinalize(*op), what);
    return 0;
}

// A pointwise operation y = mode(x[, b]) in fp32 math (b NULL: unary; CUDNN_POINTWISE_IDENTITY:
// int32 math, the int8 sample's).
static int make_pointwise(Bag *b, cudnnPointwiseMode_t mode, cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t bt,
                          cudnnBackendDescriptor_t y, cudnnBackendDescriptor_t *op, PcError *err) {
    const char *what = "8-bit conv graph: pointwise";
    cudnnBackendDescriptor_t pd;
    if (bag_new(b, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, &pd, err)) return -1;
    cudnnDataType_t prec = mode == CUDNN_POINTWISE_IDENTITY ? CUDNN_DATA_INT32 : CUDNN_DATA_FLOAT;
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(pd, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode),
                    what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(pd, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec),
                    what);
    CU_TRY_CUDNN_BE(err, cudnnBackendFinalize(pd), what);
    if (bag_new(b, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, op, err)) return -1;
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR,
                                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pd), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC,
                                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x), what);
    if (bt)
        CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC,
                                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &bt), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC,
                                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendFinalize(*op), what);
    return 0;
}

// The operations of variant v (finalised descriptors in b) into ops; *n_ops their count.
static int build_ops(const CuQShape *s, int v, Bag *b, cudnnBackendDescriptor_t ops[4], int *n_ops, PcError *err) {
    const int int8 = s->format == PC_QUANT_INT8;
    const cudnnDataType_t q = int8 ? CUDNN_DATA_INT8 : CUDNN_DATA_FP8_E4M3;
    const cudnnDataType_t comp = int8 ? CUDNN_DATA_INT32 : CUDNN_DATA_FLOAT;
    const cudnnDataType_t acc_t = int8 && v == CU_QV_FUSED ? CUDNN_DATA_INT32 : CUDNN_DATA_FLOAT;
    const int64_t xd[4] = {s->n, s->c, s->h, s->w}, wd[4] = {s->k, s->c, s->r, s->r};
    const int64_t yd[4] = {s->n, s->k, s->oh, s->ow}, kd[4] = {1, s->k, 1, 1};
    cudnnBackendDescriptor_t x, w, acc, desc, bias, scaled, biased, y;
    *n_ops = 0;
    if (make_tensor(b, UID_X, q, xd, 0, &x, err) || make_tensor(b, UID_W, q, wd, 0, &w, err)) return -1;
    if (v == CU_QV_CONV_ONLY) {
        // the accumulator is the graph's output, fp32, under y's uid
        if (make_tensor(b, UID_Y, CUDNN_DATA_FLOAT, yd, 0, &acc, err) ||
            make_conv(b, s, comp, x, w, acc, &ops[(*n_ops)++], err))
            return -1;
    } else if (v == CU_QV_I32) {
        // int8_fprop.cpp: conv -> int32 virtual -> identity -> the int32 output, under y's uid
        if (make_tensor(b, UID_ACC_V, CUDNN_DATA_INT32, yd, 1, &acc, err) ||
            make_tensor(b, UID_Y, CUDNN_DATA_INT32, yd, 0, &y, err) ||
            make_conv(b, s, comp, x, w, acc, &ops[(*n_ops)++], err) ||
            make_pointwise(b, CUDNN_POINTWISE_IDENTITY, acc, NULL, y, &ops[(*n_ops)++], err))
            return -1;
    } else {
        if (make_tensor(b, UID_ACC_V, acc_t, yd, 1, &acc, err) ||
            make_tensor(b, UID_DESCALE, CUDNN_DATA_FLOAT, kd, 0, &desc, err) ||
            make_tensor(b, UID_BIAS, CUDNN_DATA_FLOAT, kd, 0, &bias, err) ||
            make_tensor(b, UID_SCALED_V, CUDNN_DATA_FLOAT, yd, 1, &scaled, err) ||
            make_tensor(b, UID_Y, CUDNN_DATA_HALF, yd, 0, &y, err))
            return -1;
        if (s->relu && make_tensor(b, UID_BIASED_V, CUDNN_DATA_FLOAT, yd, 1, &biased, err)) return -1;
        if (make_conv(b, s, comp, x, w, acc, &ops[(*n_ops)++], err) ||
            make_pointwise(b, CUDNN_POINTWISE_MUL, acc, desc, scaled, &ops[(*n_ops)++], err) ||
            make_pointwise(b, CUDNN_POINTWISE_ADD, scaled, bias, s->relu ? biased : y, &ops[(*n_ops)++], err) ||
            (s->relu && make_pointwise(b, CUDNN_POINTWISE_RELU_FWD, biased, NULL, y, &ops[(*n_ops)++], err)))
            return -1;
    }
    return 0;
}

int cu_qgraph_ops_check(const CuQShape *s, int v, PcError *err) {
    Bag b = {};
    cudnnBackendDescriptor_t ops[4];
    int n_ops = 0, rc = build_ops(s, v, &b, ops, &n_ops, err);
    bag_free(&b);
    return rc ? rc : n_ops;
}

// The operation graph of variant v into *graph (descriptors in b).
static int build_graph(CudaContext *ctx, const CuQShape *s, int v, Bag *b, cudnnBackendDescriptor_t *graph,
                       PcError *err) {
    cudnnBackendDescriptor_t ops[4];
    int n_ops = 0;
    if (build_ops(s, v, b, ops, &n_ops, err)) return -1;
    const char *what = "8-bit conv graph: operation graph";
    if (bag_new(b, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, graph, err)) return -1;
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(*graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                                  n_ops, ops), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendSetAttribute(*graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1,
                                                  &ctx->cudnn), what);
    CU_TRY_CUDNN_BE(err, cudnnBackendFinalize(*graph), what);
    return 0;
}

// ---- execution --------------------------------------------------------------------------------

static int execute(CudaContext *ctx, cudnnBackendDescriptor_t plan, int variant, const CuQPtrs *p, PcError *err) {
    const char *what = "8-bit conv: variant pack";
    void *ptrs[5];
    int64_t uids[5];
    int n = 0;
    ptrs[n] = (void *)p->x, uids[n++] = UID_X;
    ptrs[n] = (void *)p->w, uids[n++] = UID_W;
    if (variant == CU_QV_CONV_ONLY || variant == CU_QV_I32) {
        ptrs[n] = p->acc, uids[n++] = UID_Y;
    } else {
        ptrs[n] = (void *)p->descale, uids[n++] = UID_DESCALE;
        ptrs[n] = (void *)p->bias, uids[n++] = UID_BIAS;
        ptrs[n] = p->y, uids[n++] = UID_Y;
    }
    void *ws = ctx->workspace;
    cudnnBackendDescriptor_t vp = NULL;
    CU_TRY_CUDNN_BE(err, cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &vp), what);
    cudnnStatus_t st = cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, uids);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n, ptrs);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws);
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnBackendFinalize(vp);
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnBackendExecute(ctx->cudnn, plan, vp);
    int rc = st == CUDNN_STATUS_SUCCESS
                 ? 0 : cu_try_fail_cudnn_be(err, st, "cudnnBackendExecute(plan, variant pack)", __FILE__, __LINE__,
                                            "8-bit conv");
    cudnnBackendDestroyDescriptor(vp);
    return rc;
}

static cudnnStatus_t legacy_exec(CudaContext *ctx, const CuQPlan *qp, const CuQPtrs *p) {
    const float one = 1.0f, zero = 0.0f;
    return cudnnConvolutionForward(ctx->cudnn, &one, qp->lx, p->x, qp->lw, p->w, qp->lc, qp->lalgo, ctx->workspace,
                                   (size_t)qp->ws, &zero, qp->ly, p->acc);
}

int cu_qgraph_exec(CudaContext *ctx, const CuQPlan *qp, const CuQPtrs *p, PcError *err) {
    if (qp->state != 1) return pc_fail(err, "8-bit conv: no plan");
    if (qp->variant == CU_QV_LEGACY) {
        CU_TRY_CUDNN_BE(err, legacy_exec(ctx, qp, p), "8-bit conv (legacy API)");
        return 0;
    }
    return execute(ctx, qp->plan, qp->variant, p, err);
}

// CU_QV_LEGACY: descriptors, then the implicit-GEMM algorithm (the one INT8_EXT_CONFIG has) run on
// p. 1 = it ran (kept in out), 0 = refused (err says why), < 0 hard error.
static int try_legacy(CudaContext *ctx, const CuQShape *s, const CuQPtrs *p, CuQPlan *out, PcError *err) {
    const char *what = "8-bit conv (legacy API)";
    CU_TRY_CUDNN_BE(err, cudnnCreateTensorDescriptor(&out->lx), what);
    CU_TRY_CUDNN_BE(err, cudnnCreateTensorDescriptor(&out->ly), what);
    CU_TRY_CUDNN_BE(err, cudnnCreateFilterDescriptor(&out->lw), what);
    CU_TRY_CUDNN_BE(err, cudnnCreateConvolutionDescriptor(&out->lc), what);
    CU_TRY_CUDNN_BE(err, cudnnSetTensor4dDescriptor(out->lx, CUDNN_TENSOR_NHWC, CUDNN_DATA_INT8, s->n, s->c, s->h,
                                                    s->w), what);
    CU_TRY_CUDNN_BE(err, cudnnSetTensor4dDescriptor(out->ly, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, s->n, s->k, s->oh,
                                                    s->ow), what);
    CU_TRY_CUDNN_BE(err, cudnnSetFilter4dDescriptor(out->lw, CUDNN_DATA_INT8, CUDNN_TENSOR_NHWC, s->k, s->c, s->r,
                                                    s->r), what);
    CU_TRY_CUDNN_BE(err, cudnnSetConvolution2dDescriptor(out->lc, s->pad, s->pad, s->stride, s->stride, 1, 1,
                                                         CUDNN_CROSS_CORRELATION, CUDNN_DATA_INT32), what);
    out->lalgo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
    size_t ws = 0;
    CU_TRY_CUDNN_BE(err, cudnnGetConvolutionForwardWorkspaceSize(ctx->cudnn, out->lx, out->lw, out->lc, out->ly,
                                                                 out->lalgo, &ws), what);
    if (ws > ctx->workspace_limit) return pc_fail(err, "%s: workspace %zu bytes over the limit", what, ws);
    int rc = cu_workspace_reserve(ctx, ws, err);
    if (rc) return rc;
    out->ws = (int64_t)ws;
    out->variant = CU_QV_LEGACY;
    CU_TRY_CUDNN_BE(err, legacy_exec(ctx, out, p), what);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return pc_fail(err, "%s: launch failed: %s", what, cudaGetErrorString(e));
    out->state = 1;
    return 1;
}

void cu_qplan_free(CuQPlan *qp) {
    if (qp->lx) cudnnDestroyTensorDescriptor(qp->lx);
    if (qp->ly) cudnnDestroyTensorDescriptor(qp->ly);
    if (qp->lw) cudnnDestroyFilterDescriptor(qp->lw);
    if (qp->lc) cudnnDestroyConvolutionDescriptor(qp->lc);
    if (qp->plan) cudnnBackendDestroyDescriptor(qp->plan);
    for (int i = qp->n_keep - 1; i >= 0; i--) cudnnBackendDestroyDescriptor(qp->keep[i]);
    memset(qp, 0, sizeof *qp);
}

// ---- choice -----------------------------------------------------------------------------------

static int64_t engine_index(cudnnBackendDescriptor_t cfg) {
    cudnnBackendDescriptor_t eng = NULL;
    int64_t got = 0, idx = -1;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &eng) != CUDNN_STATUS_SUCCESS) return -1;
    if (cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &got, &eng) !=
            CUDNN_STATUS_SUCCESS ||
        cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &got, &idx) !=
            CUDNN_STATUS_SUCCESS)
        idx = -1;
    cudnnBackendDestroyDescriptor(eng);
    return idx;
}

// Engine configs of graph g by heuristics mode m into cfgs (created here, max of them); *n the count.
static int heuristics(CudaContext *ctx, cudnnBackendDescriptor_t g, cudnnBackendHeurMode_t m,
                      cudnnBackendDescriptor_t *cfgs, int max, int *n, PcError *err) {
    const char *what = m == CUDNN_HEUR_MODE_A ? "8-bit conv: heuristics (mode A)" : "8-bit conv: heuristics (fallback)";
    *n = 0;
    Bag h = {};
    cudnnBackendDescriptor_t heur;
    if (bag_new(&h, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur, err)) return -1;
    int64_t count = 0;
    cudnnStatus_t st = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH,
                                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &m);
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnBackendFinalize(heur);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count,
                                      NULL);
    if (count > max) count = max;
    int k = 0;   // configs created
    while (st == CUDNN_STATUS_SUCCESS && k < count) {
        st = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfgs[k]);
        if (st == CUDNN_STATUS_SUCCESS) k++;
    }
    int64_t got = 0;
    if (st == CUDNN_STATUS_SUCCESS && count > 0)
        st = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got,
                                      cfgs);
    if (st != CUDNN_STATUS_SUCCESS) {
        for (int j = 0; j < k; j++) cudnnBackendDestroyDescriptor(cfgs[j]);
        int rc = cu_try_fail_cudnn_be(err, st, "engine heuristics", __FILE__, __LINE__, what);
        bag_free(&h);
        return rc;
    }
    for (int j = (int)got; j < k; j++) cudnnBackendDestroyDescriptor(cfgs[j]);
    *n = (int)got;
    bag_free(&h);
    if (got == 0) return pc_fail(err, "%s: no engine config for this graph", what);
    return 0;
}

// Finalises engine config cfg into a plan, sizes and reserves its workspace and runs it on p.
// 1 = it ran (plan in *plan, workspace in *ws), 0 = refused (err says why), < 0 hard error.
static int try_config(CudaContext *ctx, cudnnBackendDescriptor_t cfg, int variant, const CuQPtrs *p,
                      cudnnBackendDescriptor_t *plan, int64_t *ws, PcError *err) {
    *plan = NULL;
    cudnnStatus_t st = cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, plan);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnBackendSetAttribute(*plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &ctx->cudnn);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnBackendSetAttribute(*plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                      &cfg);
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnBackendFinalize(*plan);
    int64_t got = 0;
    *ws = 0;
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnBackendGetAttribute(*plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &got, ws);
    int rc = 0;
    if (st != CUDNN_STATUS_SUCCESS) {
        cu_try_fail_cudnn_be(err, st, "execution plan (finalize)", __FILE__, __LINE__, "8-bit conv");
    } else if ((size_t)*ws > ctx->workspace_limit) {
        pc_fail(err, "8-bit conv: engine wants %.1f MiB of workspace (limit %.1f MiB)", (double)*ws / 1048576.0,
                (double)ctx->workspace_limit / 1048576.0);
    } else if ((rc = cu_workspace_reserve(ctx, (size_t)*ws, err)) != 0) {
        // out of memory for the workspace: a hard error (the engine retries smaller batches)
    } else if (execute(ctx, *plan, variant, p, err) == 0) {
        cudaError_t e = cudaGetLastError();
        if (e == cudaSuccess) return 1;
        pc_fail(err, "8-bit conv: engine launch failed: %s", cudaGetErrorString(e));
    } else {
        (void)cudaGetLastError();   // a refused engine's launch error is not the next one's
    }
    if (*plan) cudnnBackendDestroyDescriptor(*plan);
    *plan = NULL;
    return rc;
}

// Tries the engines of one graph; 1 = one ran (kept in out), 0 = none, < 0 hard error.
static int try_graph(CudaContext *ctx, cudnnBackendDescriptor_t g, int variant, const CuQPtrs *p, Bag *b,
                     CuQPlan *out, int verbose, PcError *err) {
    static const cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
    for (int mi = 0; mi < 2; mi++) {
        cudnnBackendDescriptor_t cfgs[16];
        int n = 0, rc = heuristics(ctx, g, modes[mi], cfgs, 16, &n, err);
        if (rc) {
            if (verbose) fprintf(stderr, "[8-bit conv] variant %d: %s\n", variant, err->msg);
            continue;
        }
        int found = -1;
        for (int k = 0; k < n && found < 0 && rc >= 0; k++) {
            cudnnBackendDescriptor_t plan = NULL;
            int64_t ws = 0;
            rc = try_config(ctx, cfgs[k], variant, p, &plan, &ws, err);
            if (rc == 1) {
                found = k;
                out->plan = plan, out->ws = ws, out->engine = engine_index(cfgs[k]), out->heur_fallback = mi;
            } else if (verbose) {
                fprintf(stderr, "[8-bit conv] variant %d, %s config %d (engine %lld): %s\n", variant,
                        mi ? "fallback" : "mode A", k, (long long)engine_index(cfgs[k]), err->msg);
            }
        }
        for (int k = 0; k < n; k++)
            if (k != found) cudnnBackendDestroyDescriptor(cfgs[k]);
        if (rc < 0) return rc;
        if (found >= 0) {
            memcpy(out->keep, b->d, (size_t)b->n * sizeof b->d[0]);
            out->n_keep = b->n;
            b->n = 0;
            if (out->n_keep < CU_QPLAN_KEEP) out->keep[out->n_keep++] = cfgs[found];
            else cudnnBackendDestroyDescriptor(cfgs[found]);   // (cannot happen: the graph uses < 20)
            out->variant = variant;
            out->state = 1;
            return 1;
        }
    }
    return 0;
}

int cu_qgraph_choose(CudaContext *ctx, const CuQShape *s, const CuQPtrs *p, CuQPlan *out, PcError *err) {
    const char *env = getenv("PC_QUANT_VERBOSE");
    const int verbose = env && env[0] && strcmp(env, "0");
    memset(out, 0, sizeof *out);
    out->engine = -1;
    const double t0 = now_s();
    char why[CU_QV_COUNT][200];
    for (int v = 0; v < CU_QV_COUNT; v++) {
        snprintf(why[v], sizeof why[v], "not tried");
        if ((cu_qv_int8_only(v) && s->format != PC_QUANT_INT8) || (cu_qv_epilogue(v) && !p->acc)) continue;
        int rc;
        if (v == CU_QV_LEGACY) {
            rc = try_legacy(ctx, s, p, out, err);
            if (rc != 1) {   // refused: its descriptors go
                cu_qplan_free(out);
                out->engine = -1;
                if (rc == -1) rc = 0;
            }
        } else {
            Bag b = {};
            cudnnBackendDescriptor_t g;
            // a graph cuDNN does not accept is a refusal (next variant); failing to get the
            // workspace is an error of the pass (the engine may retry with a smaller batch)
            rc = build_graph(ctx, s, v, &b, &g, err) ? 0 : try_graph(ctx, g, v, p, &b, out, verbose, err);
            bag_free(&b);
        }
        if (rc < 0) return rc;
        if (rc == 1) {
            if (verbose)
                fprintf(stderr, "[8-bit conv] %s n=%d c=%d %dx%d k=%d r=%d s=%d relu=%d: variant %d, engine %lld%s, "
                        "workspace %lld bytes, chosen in %.3f s\n", s->format == PC_QUANT_INT8 ? "int8" : "fp8",
                        s->n, s->c, s->h, s->w, s->k, s->r, s->stride, s->relu, v, (long long)out->engine,
                        v == CU_QV_LEGACY ? " (legacy API)" : out->heur_fallback ? " (heuristics fallback)" : "",
                        (long long)out->ws, now_s() - t0);
            return 0;
        }
        snprintf(why[v], sizeof why[v], "%.190s", err->msg);
        if (verbose) fprintf(stderr, "[8-bit conv] variant %d refused: %s\n", v, why[v]);
    }
    out->state = -1;
    return pc_fail(err, "variants refused: fused: %s | fp32 accumulator: %s | int32 conv: %s | conv only: %s | "
                   "legacy API: %s", why[CU_QV_FUSED], why[CU_QV_F32ACC], why[CU_QV_I32], why[CU_QV_CONV_ONLY],
                   why[CU_QV_LEGACY]);
}
