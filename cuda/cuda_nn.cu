// cuda_nn.cu: the forward pass of a prepared network on the GPU (backend.h forward), and the
// per-batch-size plans it runs with. Preparation: cuda_net_prepare.cu; the struct and the layouts
// per precision: cuda_net.cuh; the convolutions' algorithm choice: cuda_conv_algo.cu.
//
// Batches run at a few bucket sizes (run_batch: 1, 2, 4, ..., 64, then multiples of 64; a size
// repeated within the last 16 forwards at its own), the padding images being whatever the buffers
// hold: each new size costs an algorithm choice. A "plan" per bucket size (made the first time
// that size is run) holds the tensor descriptors and, per convolution, the chosen algorithm.
// fp8 / int8 nets with scales run their 8-bit convs through cu_quant_conv (cuda_quant.cuh), which
// keeps plans of its own; the backward's forward (cuda_forward_unquantised) runs them as fp16.
#include <stdlib.h>
#include <string.h>

#include "cuda_quant.cuh"

static cudaDataType_t cublas_type(CuDtype dt) {
    return dt == CU_F16 ? CUDA_R_16F : dt == CU_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

// ---- per-batch-size plans ---------------------------------------------------------------------

void cu_plan_destroy(PcBackendNet *bn, CuPlan *p) {
    if (p->in_desc) cudnnDestroyTensorDescriptor(p->in_desc);
    if (p->desc)
        for (int i = 0; i < bn->n_nodes; i++)
            if (p->desc[i]) cudnnDestroyTensorDescriptor(p->desc[i]);
    free(p->desc);
    free(p->plain);
    free(p->add);
    memset(p, 0, sizeof *p);
}

static int set_desc(cudnnTensorDescriptor_t *d, CuDtype dt, int nhwc, int n, int c, int h, int w,
                    PcError *err, const char *what) {
    CU_TRY_CUDNN(err, cudnnCreateTensorDescriptor(d), what);
    CU_TRY_CUDNN(err, cudnnSetTensor4dDescriptor(*d, nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW,
                                                 cudnn_type(dt), n, c, h, w), what);
    return 0;
}

// Descriptors of batch n; the algorithms are chosen by the first forward that needs them.
static CuPlan *plan_get(PcBackendNet *bn, int n, PcError *err) {
    CuPlan *p = &bn->plans[n];
    if (p->n == n) return p;
    int nn = bn->n_nodes;
    p->desc = (cudnnTensorDescriptor_t *)calloc((size_t)nn, sizeof(cudnnTensorDescriptor_t));
    p->plain = (ConvChoice *)calloc((size_t)nn, sizeof(ConvChoice));
    p->add = (ConvChoice *)calloc((size_t)nn, sizeof(ConvChoice));
    int rc = !p->desc || !p->plain || !p->add ? pc_fail(err, "out of host memory planning batch %d", n) : 0;
    if (!rc) rc = set_desc(&p->in_desc, bn->act_dt, bn->nhwc, n, bn->in_c_store, bn->in_h, bn->in_w, err, "input");
    for (int i = 0; i < nn && !rc; i++) {
        const PcNode *nd = &bn->nodes[i];
        if (nd->op == PC_NODE_LINEAR) continue;
        rc = set_desc(&p->desc[i], bn->cn[i].dt, bn->cn[i].nhwc, n, nd->c, nd->h, nd->w, err, "node");
    }
    if (rc) {
        cu_plan_destroy(bn, p);
        return NULL;
    }
    p->n = n;
    return p;
}

// ---- forward ----------------------------------------------------------------------------------

static int linear_exec(CudaContext *ctx, PcBackendNet *bn, int i, int n, const void *x, float *y,
                       PcError *err) {
    const PcNode *nd = &bn->nodes[i];
    const CuNode *c = &bn->cn[i];
    int in = nd->p.linear.in, out = nd->p.linear.out;
    float one = 1.0f, zero = 0.0f;
    cublasComputeType_t compute = ctx->precision == PC_PREC_FP32 || c->lw_dt != CU_F32
                                      ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32F_FAST_TF32;
    // row-major Y (N, out) = X (N, in) W^T, i.e. column-major Y^T (out, N) = W^T' X^T'
    char lbl[160];
    CU_TRY_CUBLAS(err, cublasGemmEx(ctx->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, c->lw,
                                    cublas_type(c->lw_dt), in, x, cublas_type(c->lw_dt), in, &zero,
                                    y, CUDA_R_32F, out, compute, CUBLAS_GEMM_DEFAULT),
                  node_label(bn, i, lbl, sizeof lbl));
    cu_bias_act(ctx->stream, y, CU_F32, 0, n, out, 1, c->bias_f32, nd->relu);
    return 0;
}

// Runs conv i (plain: bias + own ReLU, or fused bias + ReLU), choosing its algorithm on this
// call's data when batch n has not run it before.
static int run_conv(CudaContext *ctx, PcBackendNet *bn, CuPlan *plan, int i, int n, const void *xin,
                    PcError *err) {
    const PcNode *nd = &bn->nodes[i];
    cudnnTensorDescriptor_t xd = nd->input < 0 ? plan->in_desc : plan->desc[nd->input];
    const void *x = slot_of(bn, nd->input, xin);
    void *y = slot_of(bn, i, xin);
    ConvChoice *ch = &plan->plain[i];
    if (ch->state == 0)
        return cu_choose_conv(ctx, bn, i, n, xd, x, plan->desc[i], y, NULL, nd->relu, 1, ch, err);
    cudnnStatus_t st = cu_conv_exec(ctx, bn, i, ch, n, xd, x, plan->desc[i], y, NULL, nd->relu);
    char lbl[160];
    if (st != CUDNN_STATUS_SUCCESS)
        return pc_fail(err, "%s: cuDNN convolution: %s", node_label(bn, i, lbl, sizeof lbl),
                       cudnnGetErrorString(st));
    return 0;
}

// First run of batch n for ADD node j = relu(conv cv + other): tries the fused cuDNN call on
// this call's data (a success is the result); leaves plan->add[cv].state at -1 when no
// algorithm runs it, and the caller then runs the conv and the add kernel.
static int choose_conv_add(CudaContext *ctx, PcBackendNet *bn, CuPlan *plan, int j, int n,
                           const void *xin, PcError *err) {
    int cv = bn->cn[j].add_conv;
    const PcNode *cn = &bn->nodes[cv];
    cudnnTensorDescriptor_t xd = cn->input < 0 ? plan->in_desc : plan->desc[cn->input];
    return cu_choose_conv(ctx, bn, cv, n, xd, slot_of(bn, cn->input, xin), plan->desc[j],
                       slot_of(bn, j, xin), slot_of(bn, bn->cn[j].add_other, xin), 1, 0,
                       &plan->add[cv], err);
}

// The batch size a forward of n images runs at. Each size the network meets costs cuDNN's
// algorithm choice and, on the half paths, run-time kernel compilation; the engine's partial
// batches come in every size (they follow the live channel count of each layer), so they run
// at a bucket size: 1, 2, 4, ..., 64, then multiples of 64, at most max_batch. A size asked for
// 3 times within the last 16 forwards (the insertion / deletion batches, steps + 1, 6 per image)
// gets its own plan and no padding work. Images are independent in every layer, so the padding
// images (whatever the buffers hold) do not change the n real ones.
static int run_batch(PcBackendNet *bn, int n) {
    int seen = 0;
    for (int k = 0; k < 16; k++) seen += bn->recent_sizes[k] == n;
    bn->recent_sizes[bn->recent_next] = n;
    bn->recent_next = (bn->recent_next + 1) % 16;
    if (bn->plans[n].n == n || seen >= 2) return n;
    int b = 1;
    while (b < n && b < 64) b *= 2;
    if (b < n) b = (n + 63) / 64 * 64;
    return b < bn->max_batch ? b : bn->max_batch;
}

// The last node this forward needs (the logits' or the latest tap; -1 for none), with the taps
// checked.
static int last_needed(const PcBackendNet *bn, int want_logits, int n_taps, const int *tap_nodes, int *last,
                       PcError *err) {
    int nn = bn->n_nodes;
    *last = want_logits ? nn - 1 : -1;
    for (int t = 0; t < n_taps; t++) {
        if (tap_nodes[t] < 0 || tap_nodes[t] >= nn)
            return pc_fail(err, "forward: tap node %d out of range (0..%d)", tap_nodes[t], nn - 1);
        if (tap_nodes[t] > *last) *last = tap_nodes[t];
    }
    return 0;
}

// fp32 runs at a bucket size n > n_img from a padded copy of the input (the caller's buffer holds
// only n_img images): its buffer, made on first use.
static int alloc_pad_in(CudaContext *ctx, PcBackendNet *bn, PcError *err) {
    const size_t bytes = (size_t)bn->max_batch * bn->in_c * bn->in_h * bn->in_w * sizeof(float);
    float *buf = NULL;
    CU_TRY_CUDA(err, cudaMalloc(&buf, bytes), "forward: padded input");
    bn->pad_in = buf;
    CU_TRY_CUDA(err, cudaMemsetAsync(bn->pad_in, 0, bytes, ctx->stream), "forward: padded input");
    return 0;
}

// The input as the first layers read it: converted to the half layout (half paths), the padded
// copy (fp32 at a bucket size n > n_img), or the caller's x.
static const void *stage_input(CudaContext *ctx, PcBackendNet *bn, const float *x, int n_img, int n) {
    if (bn->in_slot >= 0) {
        void *dst = bn->slot_ptr[bn->in_slot];
        cu_nchw_f32_to_nhwc(ctx->stream, x, n_img, bn->in_c, bn->in_c_store, bn->in_h, bn->in_w, bn->act_dt, dst);
        return dst;
    }
    if (n <= n_img) return x;
    const size_t in_count = (size_t)bn->in_c * bn->in_h * bn->in_w;
    cudaCheck(cudaMemcpyAsync(bn->pad_in, x, (size_t)n_img * in_count * sizeof(float), cudaMemcpyDeviceToDevice,
                              ctx->stream));
    return bn->pad_in;
}

// ADD node j: relu(conv cv + other) as one fused cuDNN call when conv cv was deferred to it (its
// algorithm chosen on this call's data the first time), else the deferred conv on its own and the
// add kernel.
static int run_add(CudaContext *ctx, PcBackendNet *bn, CuPlan *plan, int j, int n, const void *xin,
                   const unsigned char *deferred, PcError *err) {
    const PcNode *nd = &bn->nodes[j];
    const CuNode *c = &bn->cn[j];
    void *y = bn->slot_ptr[c->slot];
    int cv = c->add_conv, fused = 0, rc = 0;
    if (cv >= 0 && deferred[cv]) {
        ConvChoice *ch = &plan->add[cv];
        if (ch->state == 0) {
            rc = choose_conv_add(ctx, bn, plan, j, n, xin, err);
            fused = ch->state == 1;
        } else if (ch->state == 1) {
            const PcNode *cn = &bn->nodes[cv];
            cudnnTensorDescriptor_t xd = cn->input < 0 ? plan->in_desc : plan->desc[cn->input];
            cudnnStatus_t st = cu_conv_exec(ctx, bn, cv, ch, n, xd, slot_of(bn, cn->input, xin), plan->desc[j], y,
                                            slot_of(bn, c->add_other, xin), 1);
            char lbl[160];
            if (st != CUDNN_STATUS_SUCCESS)
                rc = pc_fail(err, "%s: fused cuDNN convolution + add: %s", node_label(bn, cv, lbl, sizeof lbl),
                             cudnnGetErrorString(st));
            fused = 1;
        }
        // no fused algorithm: the conv was deferred, run it now (its input is still live)
        if (!rc && !fused) rc = run_conv(ctx, bn, plan, cv, n, xin, err);
    }
    if (!rc && !fused)
        cu_add_act(ctx->stream, slot_of(bn, nd->input, xin), slot_of(bn, nd->input2, xin), y, c->dt,
                   (size_t)n * nd->c * nd->h * nd->w, nd->relu);
    return rc;
}

// Node i on batch n (a conv deferred to its ADD node is run there; quant: the 8-bit convs in 8 bits).
static int run_node(CudaContext *ctx, PcBackendNet *bn, CuPlan *plan, int i, int n, const void *xin,
                    const unsigned char *deferred, int quant, PcError *err) {
    const PcNode *nd = &bn->nodes[i];
    const CuNode *c = &bn->cn[i];
    void *y = bn->slot_ptr[c->slot];
    const void *a = slot_of(bn, nd->input, xin);
    int ic, ih, iw;
    in_shape(bn, nd->input, &ic, &ih, &iw);
    char lbl[160];
    switch (nd->op) {
    case PC_NODE_CONV: {
        if (deferred[i]) return 0;
        // 8-bit conv (scales set); 1 = it cannot run in 8 bits: the fp16 conv
        int rc = quant ? cu_quant_conv(ctx, bn, i, n, a, y, err) : 1;
        return rc == 1 ? run_conv(ctx, bn, plan, i, n, xin, err) : rc;
    }
    case PC_NODE_ADD: return run_add(ctx, bn, plan, i, n, xin, deferred, err);
    case PC_NODE_MAXPOOL:
        cu_maxpool(ctx->stream, a, y, c->dt, c->nhwc, n, ic, ih, iw, nd->h, nd->w, nd->p.pool.k, nd->p.pool.stride,
                   nd->p.pool.pad, nd->relu);
        return 0;
    case PC_NODE_ADAPTIVE_AVG:
        cu_adaptive_avgpool(ctx->stream, a, y, c->dt, c->nhwc, n, ic, ih, iw, nd->h, nd->w, nd->relu);
        return 0;
    case PC_NODE_LINEAR: return linear_exec(ctx, bn, i, n, a, (float *)y, err);
    default: return pc_fail(err, "%s: unknown node op %d", node_label(bn, i, lbl, sizeof lbl), (int)nd->op);
    }
}

// The forward pass; quant 0: the 8-bit convs as fp16 (the backward's forward).
static int forward(PcBackend *be, PcBackendNet *bn, const float *x, int n_img, float *logits, int n_taps,
                   const int *tap_nodes, float *const *taps, int quant, PcError *err) {
    CudaContext *ctx = cu_ctx(be);
    if (n_img <= 0) return 0;
    if (n_img > bn->max_batch)
        return pc_fail(err, "forward: batch %d exceeds the prepared maximum %d", n_img, bn->max_batch);
    const int n = run_batch(bn, n_img);   // the batch the layers run at
    const int nn = bn->n_nodes;
    int last;
    if (last_needed(bn, logits != NULL, n_taps, tap_nodes, &last, err)) return -1;
    if (last < 0) return 0;
    if (n > n_img && bn->in_slot < 0 && !bn->pad_in) {
        int rc = alloc_pad_in(ctx, bn, err);
        if (rc) return rc;
    }
    CuPlan *plan = plan_get(bn, n, err);
    if (!plan) return -1;
    if (ctx->oom_bytes) return cuda_take_error(be, err);   // an op before this pass lacked memory
    unsigned char *tapped = (unsigned char *)calloc((size_t)nn, 2);
    if (!tapped) return pc_fail(err, "forward: out of host memory");
    unsigned char *deferred = tapped + nn;   // convs left to their ADD node (fused residual)
    for (int t = 0; t < n_taps; t++) tapped[tap_nodes[t]] = 1;
    // an 8-bit conv is never fused into its residual add (the add kernel runs)
    for (int i = 0; i < nn; i++)
        deferred[i] = bn->cn[i].add_node >= 0 && plan->add[i].state >= 0 && !tapped[i] &&
                      !(quant && cu_quant_active(bn, i));
    const void *xin = stage_input(ctx, bn, x, n_img, n);
    int rc = 0;
    for (int i = 0; i <= last && !rc; i++) {
        rc = run_node(ctx, bn, plan, i, n, xin, deferred, quant, err);
        if (rc || !tapped[i]) continue;
        const PcNode *nd = &bn->nodes[i];
        const CuNode *c = &bn->cn[i];
        for (int t = 0; t < n_taps; t++)
            if (tap_nodes[t] == i)
                cu_to_nchw_f32(ctx->stream, bn->slot_ptr[c->slot], c->dt, c->nhwc, n_img, nd->c, nd->h, nd->w, taps[t]);
    }
    if (!rc && logits) {
        const PcNode *ln = &bn->nodes[nn - 1];
        const CuNode *lc = &bn->cn[nn - 1];
        cu_to_nchw_f32(ctx->stream, bn->slot_ptr[lc->slot], lc->dt, lc->nhwc, n_img, ln->c, ln->h, ln->w, logits);
    }
    free(tapped);
    return rc;
}

int cuda_forward(PcBackend *be, PcBackendNet *bn, const float *x, int n_img, float *logits, int n_taps,
                 const int *tap_nodes, float *const *taps, PcError *err) {
    return forward(be, bn, x, n_img, logits, n_taps, tap_nodes, taps, 1, err);
}

int cuda_forward_unquantised(PcBackend *be, PcBackendNet *bn, const float *x, int n_img, float *logits,
                             int n_taps, const int *tap_nodes, float *const *taps, PcError *err) {
    return forward(be, bn, x, n_img, logits, n_taps, tap_nodes, taps, 0, err);
}

// ---- what the backward reads (cuda_internal.cuh) ----------------------------------------------

void cuda_net_view(const PcBackendNet *bn, CuNetView *v) {
    v->n_nodes = bn->n_nodes;
    v->nodes = bn->nodes;
    v->max_batch = bn->max_batch;
    v->in_c = bn->in_c, v->in_h = bn->in_h, v->in_w = bn->in_w;
}

const float *cuda_net_weight_f32(const PcBackendNet *bn, int i) {
    return i >= 0 && i < bn->n_nodes ? bn->cn[i].w_f32 : NULL;
}

CuGrad **cuda_net_grad(PcBackendNet *bn) { return &bn->grad; }
