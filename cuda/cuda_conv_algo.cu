// cuda_conv_algo.cu: how a convolution runs on cuDNN (legacy API) and which algorithm it runs
// with (cuda_net.cuh: cu_conv_exec, cu_choose_conv).
//
// A plan per batch size (cuda_nn.cu) holds, per convolution, the algorithm, math type and whether
// the fused cudnnConvolutionBiasActivationForward is used (bias + ReLU; for a ResNet block's last
// conv also the residual add through z). Candidates come from cudnnGetConvolutionForwardAlgorithm_v7
// (or cudnnFindConvolutionForwardAlgorithmEx with options.cudnn_find, PC_CUDNN_FIND); the first
// forward of a batch size tries them in order on the real data, and the first that runs is both
// the result and the choice kept, so an unsupported fused configuration falls back to conv + own
// bias/ReLU kernel. With options.cudnn_tune (PC_CUDNN_TUNE) every candidate that runs is timed
// and the fastest is kept.
#include "cuda_net.cuh"

cudnnStatus_t cu_conv_exec(CudaContext *ctx, PcBackendNet *bn, int i, const ConvChoice *ch, int n,
                           cudnnTensorDescriptor_t xdesc, const void *x, cudnnTensorDescriptor_t ydesc,
                           void *y, const void *z, int relu) {
    CuNode *c = &bn->cn[i];
    const PcNode *nd = &bn->nodes[i];
    cudnnStatus_t st = cudnnSetConvolutionMathType(c->cdesc, ch->math);
    if (st != CUDNN_STATUS_SUCCESS) return st;
    float one = 1.0f, zero = 0.0f;
    if (ch->fused) {
        float alpha2 = z ? 1.0f : 0.0f;
        return cudnnConvolutionBiasActivationForward(ctx->cudnn, &one, xdesc, x, c->wdesc, c->w,
                                                     c->cdesc, ch->algo, ctx->workspace, ch->ws,
                                                     &alpha2, ydesc, z ? z : y,
                                                     ch->bias_f32 ? c->bdesc_f32 : c->bdesc,
                                                     ch->bias_f32 ? (const void *)c->bias_f32 : c->bias_y,
                                                     bn->relu, ydesc, y);
    }
    if (z) return CUDNN_STATUS_BAD_PARAM;   // residual only through the fused call
    st = cudnnConvolutionForward(ctx->cudnn, &one, xdesc, x, c->wdesc, c->w, c->cdesc, ch->algo,
                                 ctx->workspace, ch->ws, &zero, ydesc, y);
    if (st != CUDNN_STATUS_SUCCESS) return st;
    cu_bias_act(ctx->stream, y, c->dt, c->nhwc, n, nd->c, nd->h * nd->w, c->bias_f32, relu);
    return CUDNN_STATUS_SUCCESS;
}

// The buffers and operands of the convolution being chosen for.
typedef struct {
    CudaContext *ctx;
    PcBackendNet *bn;
    int i, n;
    cudnnTensorDescriptor_t xdesc, ydesc;
    const void *x, *z;
    void *y;
    int relu;
    char lbl[160];
} ConvCall;

static cudnnStatus_t call_exec(const ConvCall *cc, const ConvChoice *ch) {
    return cu_conv_exec(cc->ctx, cc->bn, cc->i, ch, cc->n, cc->xdesc, cc->x, cc->ydesc, cc->y, cc->z, cc->relu);
}

// Milliseconds of one more run of a candidate that has just run (so compiled and warm).
static int time_conv(const ConvCall *cc, const ConvChoice *ch, float *ms, PcError *err) {
    cudaStream_t stream = cc->ctx->stream;
    cudaEvent_t e0 = NULL, e1 = NULL;
    cudaError_t e = cudaEventCreate(&e0);
    if (e == cudaSuccess) e = cudaEventCreate(&e1);
    if (e == cudaSuccess) e = cudaEventRecord(e0, stream);
    cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
    if (e == cudaSuccess) st = call_exec(cc, ch);
    if (e == cudaSuccess) e = cudaEventRecord(e1, stream);
    if (e == cudaSuccess) e = cudaEventSynchronize(e1);
    if (e == cudaSuccess) e = cudaEventElapsedTime(ms, e0, e1);
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return pc_fail(err, "timing a convolution: %s", cudaGetErrorString(e));
    }
    if (st != CUDNN_STATUS_SUCCESS) *ms = INFINITY;   // ran once, refused now: never chosen
    return 0;
}

// cuDNN's candidate algorithms for this call, best first: the heuristic (v7), or measured on the
// buffers with options.cudnn_find.
static int list_candidates(const ConvCall *cc, cudnnConvolutionFwdAlgoPerf_t *perf, int max, int *got,
                           PcError *err) {
    CudaContext *ctx = cc->ctx;
    const CuNode *c = &cc->bn->cn[cc->i];
    cudnnMathType_t search_math = ctx->precision == PC_PREC_FP32   ? CUDNN_FMA_MATH
                                  : ctx->precision == PC_PREC_TF32 ? CUDNN_DEFAULT_MATH
                                                                   : CUDNN_TENSOR_OP_MATH;
    CU_TRY_CUDNN(err, cudnnSetConvolutionMathType(c->cdesc, search_math), cc->lbl);
    if (ctx->use_find) {
        int rc = cu_workspace_reserve(ctx, ctx->workspace_limit, err);
        if (rc) return rc;
        CU_TRY_CUDNN(err, cudnnFindConvolutionForwardAlgorithmEx(ctx->cudnn, cc->xdesc, cc->x, c->wdesc, c->w,
                                                                 c->cdesc, cc->ydesc, cc->y, max, got, perf,
                                                                 ctx->workspace, ctx->workspace_bytes), cc->lbl);
    } else {
        CU_TRY_CUDNN(err, cudnnGetConvolutionForwardAlgorithm_v7(ctx->cudnn, cc->xdesc, c->wdesc, c->cdesc, cc->ydesc,
                                                                 max, got, perf), cc->lbl);
    }
    return 0;
}

// fp32 is the reference path: no FFT / Winograd transforms, whose rounding alone can approach the
// 1e-4 tolerance over VGG16's 13 convolutions (tf32 and half may use them).
static int algo_allowed(const CudaContext *ctx, cudnnConvolutionFwdAlgo_t a) {
    return ctx->precision != PC_PREC_FP32 ||
           !(a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
             a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED);
}

// Sets up candidate `perf` as choice ch (math type, workspace within the limit, reserved). 1 when
// it can be tried, 0 when not, < 0 on error.
static int make_choice(const ConvCall *cc, const cudnnConvolutionFwdAlgoPerf_t *perf, int fused, int bias_f32,
                       ConvChoice *ch, PcError *err) {
    CudaContext *ctx = cc->ctx;
    const CuNode *c = &cc->bn->cn[cc->i];
    ch->state = 1;
    ch->fused = fused;
    ch->bias_f32 = bias_f32;
    ch->algo = perf->algo;
    // fp32 must stay fp32: force FMA whatever the heuristic's math type
    ch->math = ctx->precision == PC_PREC_FP32 ? CUDNN_FMA_MATH : perf->mathType;
    if (cudnnSetConvolutionMathType(c->cdesc, ch->math) != CUDNN_STATUS_SUCCESS) return 0;
    size_t ws = 0;
    if (cudnnGetConvolutionForwardWorkspaceSize(ctx->cudnn, cc->xdesc, c->wdesc, c->cdesc, cc->ydesc, ch->algo,
                                                &ws) != CUDNN_STATUS_SUCCESS ||
        ws > ctx->workspace_limit)
        return 0;
    int rc = cu_workspace_reserve(ctx, ws, err);
    if (rc) return rc;
    ch->ws = ws;
    return 1;
}

// The best choice so far (with options.cudnn_tune: the fastest that ran).
typedef struct {
    ConvChoice choice;
    float ms;
    int have;
    cudnnStatus_t last;         // status of the last candidate that did not run
} Best;

// Runs candidate ch. Returns 1 when it ran and is the answer (first that runs, no tuning), 0 to
// go on (refused, or timed into *best), < 0 on error.
static int try_candidate(const ConvCall *cc, const ConvChoice *ch, Best *best, PcError *err) {
    cudnnStatus_t st = call_exec(cc, ch);
    if (st != CUDNN_STATUS_SUCCESS) {
        // a launch error of a rejected candidate must not be blamed on the next one's success
        (void)cudaGetLastError();
        best->last = st;
        return 0;
    }
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return pc_fail(err, "%s: convolution launch failed: %s", cc->lbl, cudaGetErrorString(e));
    if (!cc->ctx->tune) return 1;
    float ms = INFINITY;
    int rc = time_conv(cc, ch, &ms, err);
    if (rc) return rc;
    if (!best->have || ms < best->ms) best->choice = *ch, best->ms = ms, best->have = 1;
    return 0;
}

int cu_choose_conv(CudaContext *ctx, PcBackendNet *bn, int i, int n, cudnnTensorDescriptor_t xdesc,
                   const void *x, cudnnTensorDescriptor_t ydesc, void *y, const void *z, int relu,
                   int allow_plain, ConvChoice *out, PcError *err) {
    ConvCall cc = {ctx, bn, i, n, xdesc, ydesc, x, z, y, relu, ""};
    node_label(bn, i, cc.lbl, sizeof cc.lbl);
    cudnnConvolutionFwdAlgoPerf_t perf[2 * CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int got = 0;
    int rc = list_candidates(&cc, perf, 2 * CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, err);
    if (rc) return rc;
    const CuDtype dt = bn->cn[i].dt;
    int try_fused = !ctx->no_fusion && (relu || z);
    Best best = {};
    best.last = CUDNN_STATUS_NOT_SUPPORTED;
    // variants in order of preference: fused (bias in the output type), fused with an f32 bias
    // (half paths only), plain conv + own bias/ReLU kernel
    int variants = dt == CU_F32 ? 1 : 2;
    for (int variant = try_fused ? 0 : variants; variant <= variants; variant++) {
        int fused = variant < variants;
        if (!fused && (z || !allow_plain)) break;
        for (int r = 0; r < got; r++) {
            if (perf[r].status != CUDNN_STATUS_SUCCESS || !algo_allowed(ctx, perf[r].algo)) continue;
            ConvChoice ch;
            rc = make_choice(&cc, &perf[r], fused, variant == 1 && dt != CU_F32, &ch, err);
            if (rc < 0) return rc;
            if (rc == 0) continue;
            rc = try_candidate(&cc, &ch, &best, err);
            if (rc < 0) return rc;
            if (rc == 1) {
                *out = ch;
                return 0;
            }
        }
    }
    if (best.have) {   // y holds the last candidate's result: recompute it with the one kept
        cudnnStatus_t st = call_exec(&cc, &best.choice);
        if (st != CUDNN_STATUS_SUCCESS)
            return pc_fail(err, "%s: cuDNN convolution: %s", cc.lbl, cudnnGetErrorString(st));
        *out = best.choice;
        return 0;
    }
    if (!allow_plain) {
        out->state = -1;   // residual fusion unavailable: conv and add run separately
        return 0;
    }
    return pc_fail(err, "%s: no cuDNN algorithm runs this convolution for batch %d (last: %s)", cc.lbl, n,
                   cudnnGetErrorString(best.last));
}
