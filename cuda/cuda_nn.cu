// cuda_nn.cu: the network on the GPU (backend.h net_prepare / forward / net_release).
//
// Layout and precision: fp32 / tf32 run NCHW f32 (cuDNN math FMA for fp32, so no TF32 sneaks in;
// DEFAULT for tf32); fp16 / bf16 run NHWC half tensors on tensor cores (input converted once, conv
// weights converted to KRSC half at prepare, f32 accumulation). Linear layers always write f32
// (N, out): the first one reads the half activation with its weight columns permuted to the NHWC
// flatten order, the later ones read f32. Logits and taps are returned as f32 NCHW.
//
// Memory: node outputs live in a few shared "slots" assigned at prepare by liveness (an output
// is kept until its last reader), each sized for max_batch images.
//
// Batches run at a few bucket sizes (run_batch: 1, 2, 4, ..., 64, then multiples of 64; a size
// repeated within the last 16 forwards at its own), the padding images being whatever the buffers
// hold: each new size costs an algorithm choice.
//
// Convolutions: cuDNN legacy API. A "plan" per bucket size (made the first time that size is
// run) holds the tensor descriptors and, per convolution, the algorithm, math type and whether
// the fused cudnnConvolutionBiasActivationForward is used (bias + ReLU; for a ResNet block's last
// conv also the residual add through z). Candidates come from cudnnGetConvolutionForwardAlgorithm_v7
// (or cudnnFindConvolutionForwardAlgorithmEx with options.cudnn_find, PC_CUDNN_FIND); the first forward of a batch
// size tries them in order on the real data, and the first that runs is both the result and the
// choice kept, so an unsupported fused configuration falls back to conv + own bias/ReLU kernel.
#include <string.h>

#include "cuda_common.cuh"
#include "cuda_internal.cuh"

typedef struct {
    int state;                  // 0 = not chosen yet, 1 = chosen, -1 = no algorithm (fusion off)
    int fused;                  // cudnnConvolutionBiasActivationForward
    int bias_f32;               // fused call given the f32 bias (half paths; else the output type)
    cudnnConvolutionFwdAlgo_t algo;
    cudnnMathType_t math;
    size_t ws;
} ConvChoice;

typedef struct {
    CuDtype dt;                 // storage type of this node's output
    int nhwc;                   // output layout
    int last_use;               // last node reading this output
    int slot;                   // activation buffer
    // conv
    const void *w;              // weight in the compute layout / type
    void *w_owned;
    const float *bias_f32;      // (cout), for the own bias kernel
    const float *w_f32;         // conv (cout, cin, k, k) / linear (out, in) f32, for the backward
    const void *bias_y;         // (cout) in the output type, for the fused call
    void *bias_owned;
    cudnnFilterDescriptor_t wdesc;
    cudnnConvolutionDescriptor_t cdesc;
    cudnnTensorDescriptor_t bdesc;       // (1, C, 1, 1) in the output type
    cudnnTensorDescriptor_t bdesc_f32;   // (1, C, 1, 1) f32
    int add_node;               // conv: the ADD node it can be fused into, else -1
    int add_conv;               // add: the conv that can be fused into it, else -1
    int add_other;              // add: the other operand
    // linear
    const void *lw;             // (out, in) in lw_dt
    void *lw_owned;
    CuDtype lw_dt;
} CuNode;

typedef struct {
    int n;                              // batch size, 0 = not built yet
    cudnnTensorDescriptor_t in_desc;    // network input as the first layers read it
    cudnnTensorDescriptor_t *desc;      // per node output (NULL for linear nodes)
    ConvChoice *plain;                  // per conv node
    ConvChoice *add;                    // per conv node with add_node >= 0
} CuPlan;

struct PcBackendNet {
    int n_nodes;
    PcNode *nodes;                      // copy of the net's nodes (their weight pointers unused)
    CuNode *cn;
    int max_batch;
    int in_c, in_h, in_w;
    int in_c_store;                     // channels of the stored input: in_c, or in_c rounded up to
                                        // 8 on the half paths (zero channels, see net_prepare)
    CuDtype act_dt;                     // spatial activations
    int nhwc;
    float *params;                      // device copy of the folded f32 parameter arena
    int n_slots;
    void **slot_ptr;
    size_t *slot_bytes;
    int in_slot;                        // converted network input (half paths), else -1
    float *pad_in;                      // (max_batch, C, H, W) f32: the fp32 input of a batch run
                                        // at a larger bucket size (allocated on first use)
    cudnnActivationDescriptor_t relu;
    CuPlan *plans;                      // (max_batch + 1), indexed by batch size
    int recent_sizes[16];               // batch sizes of the last 16 forwards (ring)
    int recent_next;
    CuGrad *grad;                       // the backward's state (cuda_backward.cu), or NULL
};

static cudnnDataType_t cudnn_type(CuDtype dt) {
    return dt == CU_F16 ? CUDNN_DATA_HALF : dt == CU_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}

static cudaDataType_t cublas_type(CuDtype dt) {
    return dt == CU_F16 ? CUDA_R_16F : dt == CU_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

static const char *node_label(const PcBackendNet *bn, int i, char *buf, size_t size) {
    const PcNode *nd = &bn->nodes[i];
    const char *nm = nd->name[0] ? nd->name
                     : nd->op == PC_NODE_CONV ? nd->p.conv.weight_name
                     : nd->op == PC_NODE_LINEAR ? nd->p.linear.weight_name : "";
    snprintf(buf, size, "node %d%s%s%s", i, nm[0] ? " (" : "", nm, nm[0] ? ")" : "");
    return buf;
}

static void in_shape(const PcBackendNet *bn, int idx, int *c, int *h, int *w) {
    if (idx < 0) {
        *c = bn->in_c, *h = bn->in_h, *w = bn->in_w;
    } else {
        *c = bn->nodes[idx].c, *h = bn->nodes[idx].h, *w = bn->nodes[idx].w;
    }
}

// ---- host-side weight conversion --------------------------------------------------------------

static void store_half(CuDtype dt, void *dst, size_t i, float v) {
    if (dt == CU_F16)
        ((__half *)dst)[i] = __float2half_rn(v);
    else
        ((__nv_bfloat16 *)dst)[i] = __float2bfloat16_rn(v);
}

// Uploads count values produced by get(i) as dt; returns the device buffer or NULL.
template <typename Get>
static void *upload_converted(CuDtype dt, size_t count, Get get, PcError *err, const char *what) {
    size_t bytes = count > 0 ? count * 2 : 2;
    void *host = malloc(bytes);
    if (!host) {
        cu_fail(err, "%s: out of host memory", what);
        return NULL;
    }
    for (size_t i = 0; i < count; i++) store_half(dt, host, i, get(i));
    void *dev = NULL;
    cudaError_t e = cudaMalloc(&dev, bytes);
    if (e == cudaSuccess) e = cudaMemcpy(dev, host, count * 2, cudaMemcpyHostToDevice);
    free(host);
    if (e != cudaSuccess) {
        cudaGetLastError();
        if (dev) cudaFree(dev);
        cu_fail(err, "%s: %s", what, cudaGetErrorString(e));
        return NULL;
    }
    return dev;
}

// ---- release ----------------------------------------------------------------------------------

static void plan_destroy(PcBackendNet *bn, CuPlan *p) {
    if (p->in_desc) cudnnDestroyTensorDescriptor(p->in_desc);
    if (p->desc)
        for (int i = 0; i < bn->n_nodes; i++)
            if (p->desc[i]) cudnnDestroyTensorDescriptor(p->desc[i]);
    free(p->desc);
    free(p->plain);
    free(p->add);
    memset(p, 0, sizeof *p);
}

void cuda_net_release(PcBackend *be, PcBackendNet *bn) {
    if (!bn) return;
    cudaStreamSynchronize(cu_ctx(be)->stream);
    cuda_backward_release(bn->grad);
    if (bn->plans)
        for (int k = 0; k <= bn->max_batch; k++) plan_destroy(bn, &bn->plans[k]);
    free(bn->plans);
    if (bn->cn) {
        for (int i = 0; i < bn->n_nodes; i++) {
            CuNode *c = &bn->cn[i];
            if (c->w_owned) cudaFree(c->w_owned);
            if (c->bias_owned) cudaFree(c->bias_owned);
            if (c->lw_owned) cudaFree(c->lw_owned);
            if (c->wdesc) cudnnDestroyFilterDescriptor(c->wdesc);
            if (c->cdesc) cudnnDestroyConvolutionDescriptor(c->cdesc);
            if (c->bdesc) cudnnDestroyTensorDescriptor(c->bdesc);
            if (c->bdesc_f32) cudnnDestroyTensorDescriptor(c->bdesc_f32);
        }
    }
    if (bn->slot_ptr)
        for (int s = 0; s < bn->n_slots; s++)
            if (bn->slot_ptr[s]) cudaFree(bn->slot_ptr[s]);
    if (bn->params) cudaFree(bn->params);
    if (bn->pad_in) cudaFree(bn->pad_in);
    if (bn->relu) cudnnDestroyActivationDescriptor(bn->relu);
    free(bn->slot_ptr);
    free(bn->slot_bytes);
    free(bn->cn);
    free(bn->nodes);
    free(bn);
}

// ---- prepare ----------------------------------------------------------------------------------

// Slot assignment by liveness: best fit among free slots, else grow the largest free one, else
// a new slot. Sizes are final only when every node is placed, so nothing is allocated here.
typedef struct {
    int n;
    size_t *bytes;
    int *busy;
} SlotPlanner;

static int slot_take(SlotPlanner *sp, size_t bytes) {
    int best = -1, largest = -1;
    for (int s = 0; s < sp->n; s++) {
        if (sp->busy[s]) continue;
        if (sp->bytes[s] >= bytes && (best < 0 || sp->bytes[s] < sp->bytes[best])) best = s;
        if (largest < 0 || sp->bytes[s] > sp->bytes[largest]) largest = s;
    }
    if (best < 0 && largest >= 0) {
        best = largest;
        sp->bytes[best] = bytes;
    }
    if (best < 0) {
        best = sp->n++;
        sp->bytes[best] = bytes;
    }
    sp->busy[best] = 1;
    return best;
}

static int plan_slots(PcBackendNet *bn, PcError *err) {
    int nn = bn->n_nodes;
    // last_use of the network input is kept at index nn (slot of pseudo-node -1)
    int *last = (int *)malloc((size_t)(nn + 1) * sizeof(int));
    SlotPlanner sp = {0, (size_t *)calloc((size_t)nn + 2, sizeof(size_t)),
                      (int *)calloc((size_t)nn + 2, sizeof(int))};
    if (!last || !sp.bytes || !sp.busy) {
        free(last);
        free(sp.bytes);
        free(sp.busy);
        return cu_fail(err, "out of host memory planning activations");
    }
    for (int i = 0; i <= nn; i++) last[i] = -1;
#define LAST(idx) last[(idx) < 0 ? nn : (idx)]
    for (int j = 0; j < nn; j++) {
        const PcNode *nd = &bn->nodes[j];
        if (LAST(nd->input) < j) LAST(nd->input) = j;
        if (nd->op == PC_NODE_ADD && LAST(nd->input2) < j) LAST(nd->input2) = j;
    }
    // a conv fused into its ADD reads its input when the ADD runs
    for (int i = 0; i < nn; i++) {
        int j = bn->cn[i].add_node;
        if (j >= 0 && LAST(bn->nodes[i].input) < j) LAST(bn->nodes[i].input) = j;
    }
    for (int i = 0; i < nn; i++) {
        if (i == nn - 1) last[i] = nn;         // the logits node is kept
        else if (last[i] < i) last[i] = i;     // read by nobody: free right after (taps copy first)
        bn->cn[i].last_use = last[i];
    }
    if (bn->in_slot >= 0) bn->in_slot = slot_take(&sp, (size_t)bn->max_batch * bn->in_c_store * bn->in_h *
                                                            bn->in_w * cu_dtype_size(bn->act_dt));
    for (int i = 0; i < nn; i++) {
        const PcNode *nd = &bn->nodes[i];
        size_t bytes = (size_t)bn->max_batch * nd->c * nd->h * nd->w * cu_dtype_size(bn->cn[i].dt);
        bn->cn[i].slot = slot_take(&sp, bytes);
        if (bn->in_slot >= 0 && last[nn] == i) sp.busy[bn->in_slot] = 0;
        for (int k = 0; k <= i; k++)
            if (last[k] == i) sp.busy[bn->cn[k].slot] = 0;
    }
#undef LAST
    free(last);
    bn->n_slots = sp.n;
    bn->slot_bytes = sp.bytes;
    free(sp.busy);
    bn->slot_ptr = (void **)calloc((size_t)sp.n + 1, sizeof(void *));
    if (!bn->slot_ptr) return cu_fail(err, "out of host memory planning activations");
    for (int s = 0; s < sp.n; s++) {
        CU_TRY_CUDA(err, cudaMalloc(&bn->slot_ptr[s], bn->slot_bytes[s]), "activation buffers");
        CU_TRY_CUDA(err, cudaMemset(bn->slot_ptr[s], 0, bn->slot_bytes[s]), "activation buffers");
    }
    return 0;
}

// A conv without ReLU whose only reader is an ADD with ReLU can run as one cuDNN call with the
// ADD's other operand as z (ResNet's conv3 + bn3 + identity + relu).
static void find_add_fusions(PcBackendNet *bn) {
    int nn = bn->n_nodes;
    for (int i = 0; i < nn; i++) bn->cn[i].add_node = bn->cn[i].add_conv = bn->cn[i].add_other = -1;
    for (int j = 0; j < nn; j++) {
        const PcNode *nd = &bn->nodes[j];
        if (nd->op != PC_NODE_ADD || !nd->relu) continue;
        int ops[2] = {nd->input, nd->input2};
        for (int t = 0; t < 2; t++) {
            int i = ops[t], other = ops[1 - t];
            if (i < 0 || i == other || bn->nodes[i].op != PC_NODE_CONV || bn->nodes[i].relu) continue;
            if (bn->cn[i].add_node >= 0) continue;
            int readers = 0;
            for (int k = 0; k < nn; k++) {
                const PcNode *r = &bn->nodes[k];
                readers += (r->input == i) + (r->op == PC_NODE_ADD && r->input2 == i);
            }
            if (readers != 1 || i == nn - 1) continue;
            bn->cn[i].add_node = j;
            bn->cn[j].add_conv = i;
            bn->cn[j].add_other = other;
            break;
        }
    }
}

static int prepare_conv(CudaContext *ctx, PcBackendNet *bn, const PcNet *net, int i, PcError *err) {
    const PcNode *nd = &bn->nodes[i];
    const PcConvParams *cp = &nd->p.conv;
    CuNode *c = &bn->cn[i];
    char lbl[160];
    node_label(bn, i, lbl, sizeof lbl);
    int ic, ih, iw;
    in_shape(bn, nd->input, &ic, &ih, &iw);
    if (ic != cp->cin || cp->cout != nd->c)
        return cu_fail(err, "%s: conv %d->%d channels does not match its input (%d) / output (%d)",
                       lbl, cp->cin, cp->cout, ic, nd->c);
    if (!cp->weight || !cp->bias || cp->weight < net->params || cp->bias < net->params ||
        cp->weight + (size_t)cp->cout * cp->cin * cp->k * cp->k > net->params + net->n_params ||
        cp->bias + cp->cout > net->params + net->n_params)
        return cu_fail(err, "%s: weight or bias outside the parameter arena", lbl);
    c->bias_f32 = bn->params + (cp->bias - net->params);
    c->w_f32 = bn->params + (cp->weight - net->params);
    CuDtype dt = c->dt;
    // the first conv of a half path reads the input padded to in_c_store channels: zero weights
    int cin_store = nd->input < 0 ? bn->in_c_store : cp->cin;
    if (dt == CU_F32) {
        c->w = bn->params + (cp->weight - net->params);
        c->bias_y = c->bias_f32;
    } else {
        // (cout, cin, k, k) -> (cout, k, k, cin_store): cuDNN's NHWC filter layout
        const float *wsrc = cp->weight;
        int cin = cp->cin, kk = cp->k * cp->k;
        c->w_owned = upload_converted(dt, (size_t)cp->cout * cin_store * kk, [=](size_t idx) {
            size_t o = idx / ((size_t)kk * cin_store), r = idx % ((size_t)kk * cin_store);
            size_t q = r / cin_store, ch = r % cin_store;
            return ch < (size_t)cin ? wsrc[(o * cin + ch) * kk + q] : 0.0f;
        }, err, lbl);
        if (!c->w_owned) return -1;
        const float *bsrc = cp->bias;
        c->bias_owned = upload_converted(dt, (size_t)cp->cout, [=](size_t idx) { return bsrc[idx]; },
                                         err, lbl);
        if (!c->bias_owned) return -1;
        c->w = c->w_owned;
        c->bias_y = c->bias_owned;
    }
    cudnnTensorFormat_t fmt = c->nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    CU_TRY_CUDNN(err, cudnnCreateFilterDescriptor(&c->wdesc), lbl);
    CU_TRY_CUDNN(err, cudnnSetFilter4dDescriptor(c->wdesc, cudnn_type(dt), fmt, cp->cout, cin_store,
                                                 cp->k, cp->k), lbl);
    CU_TRY_CUDNN(err, cudnnCreateConvolutionDescriptor(&c->cdesc), lbl);
    CU_TRY_CUDNN(err, cudnnSetConvolution2dDescriptor(c->cdesc, cp->pad, cp->pad, cp->stride,
                                                      cp->stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                                      CUDNN_DATA_FLOAT), lbl);
    CU_TRY_CUDNN(err, cudnnCreateTensorDescriptor(&c->bdesc), lbl);
    CU_TRY_CUDNN(err, cudnnSetTensor4dDescriptor(c->bdesc, CUDNN_TENSOR_NCHW, cudnn_type(dt), 1,
                                                 cp->cout, 1, 1), lbl);
    CU_TRY_CUDNN(err, cudnnCreateTensorDescriptor(&c->bdesc_f32), lbl);
    CU_TRY_CUDNN(err, cudnnSetTensor4dDescriptor(c->bdesc_f32, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1,
                                                 cp->cout, 1, 1), lbl);
    // the node's output shape must be what cuDNN computes
    cudnnTensorDescriptor_t xd;
    CU_TRY_CUDNN(err, cudnnCreateTensorDescriptor(&xd), lbl);
    cudnnStatus_t st = cudnnSetTensor4dDescriptor(xd, fmt, cudnn_type(dt), 1, cin_store, ih, iw);
    int on = 0, oc = 0, oh = 0, ow = 0;
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnGetConvolution2dForwardOutputDim(c->cdesc, xd, c->wdesc, &on, &oc, &oh, &ow);
    cudnnDestroyTensorDescriptor(xd);
    CU_TRY_CUDNN(err, st, lbl);
    if (oc != nd->c || oh != nd->h || ow != nd->w)
        return cu_fail(err, "%s: conv output %dx%dx%d, node says %dx%dx%d", lbl, oc, oh, ow, nd->c,
                       nd->h, nd->w);
    (void)ctx;
    return 0;
}

static int prepare_linear(PcBackendNet *bn, const PcNet *net, int i, PcError *err) {
    const PcNode *nd = &bn->nodes[i];
    const PcLinearParams *lp = &nd->p.linear;
    CuNode *c = &bn->cn[i];
    char lbl[160];
    node_label(bn, i, lbl, sizeof lbl);
    int ic, ih, iw;
    in_shape(bn, nd->input, &ic, &ih, &iw);
    if ((long)ic * ih * iw != lp->in || lp->out != nd->c)
        return cu_fail(err, "%s: linear %d->%d does not match its input (%d values) / output (%d)",
                       lbl, lp->in, lp->out, ic * ih * iw, nd->c);
    if (!lp->weight || !lp->bias || lp->weight < net->params || lp->bias < net->params ||
        lp->weight + (size_t)lp->out * lp->in > net->params + net->n_params ||
        lp->bias + lp->out > net->params + net->n_params)
        return cu_fail(err, "%s: weight or bias outside the parameter arena", lbl);
    c->bias_f32 = bn->params + (lp->bias - net->params);
    c->w_f32 = bn->params + (lp->weight - net->params);
    CuDtype in_dt = nd->input < 0 ? CU_F32 : bn->cn[nd->input].dt;
    int in_nhwc = nd->input < 0 ? 0 : bn->cn[nd->input].nhwc;
    c->lw_dt = in_dt;
    if (in_dt == CU_F32) {
        c->lw = bn->params + (lp->weight - net->params);
        return 0;
    }
    // torch flattens (C, H, W); an NHWC input is flattened (H, W, C): permute the columns
    const float *wsrc = lp->weight;
    int hw = ih * iw, in = lp->in;
    int permute = in_nhwc && hw > 1;
    c->lw_owned = upload_converted(in_dt, (size_t)lp->out * in, [=](size_t idx) {
        size_t o = idx / in, col = idx % in;
        if (permute) col = (col % ic) * hw + col / ic;   // col = p * C + ch -> ch * HW + p
        return wsrc[o * in + col];
    }, err, lbl);
    if (!c->lw_owned) return -1;
    c->lw = c->lw_owned;
    return 0;
}

PcBackendNet *cuda_net_prepare(PcBackend *be, const PcNet *net, int max_batch, PcError *err) {
    CudaContext *ctx = cu_ctx(be);
    if (!net || net->n_nodes <= 0 || max_batch <= 0) {
        cu_fail(err, "net_prepare: empty network or max_batch %d", max_batch);
        return NULL;
    }
    PcBackendNet *bn = (PcBackendNet *)calloc(1, sizeof *bn);
    if (!bn) {
        cu_fail(err, "net_prepare: out of host memory");
        return NULL;
    }
    bn->n_nodes = net->n_nodes;
    bn->max_batch = max_batch;
    bn->in_c = net->in_c, bn->in_h = net->in_h, bn->in_w = net->in_w;
    bn->nodes = (PcNode *)malloc((size_t)net->n_nodes * sizeof(PcNode));
    bn->cn = (CuNode *)calloc((size_t)net->n_nodes, sizeof(CuNode));
    bn->plans = (CuPlan *)calloc((size_t)max_batch + 1, sizeof(CuPlan));
    if (!bn->nodes || !bn->cn || !bn->plans) {
        cuda_net_release(be, bn);
        cu_fail(err, "net_prepare: out of host memory");
        return NULL;
    }
    memcpy(bn->nodes, net->nodes, (size_t)net->n_nodes * sizeof(PcNode));
    int half = ctx->precision == PC_PREC_FP16 || ctx->precision == PC_PREC_BF16;
    bn->act_dt = ctx->precision == PC_PREC_FP16 ? CU_F16 : ctx->precision == PC_PREC_BF16 ? CU_BF16 : CU_F32;
    bn->nhwc = half;
    bn->in_slot = half ? 0 : -1;
    // Half paths: a 3-channel NHWC input has no tensor-core kernel (cuDNN wants channel counts that
    // are multiples of 8), so the input is stored with zero channels up to 8 and the first conv's
    // filter with zero weights for them, when only convolutions read the input.
    bn->in_c_store = net->in_c;
    if (half && net->in_c % 8) {
        int only_convs = 1;
        for (int i = 0; i < net->n_nodes; i++)
            if ((net->nodes[i].input < 0 || (net->nodes[i].op == PC_NODE_ADD && net->nodes[i].input2 < 0)) &&
                net->nodes[i].op != PC_NODE_CONV)
                only_convs = 0;
        if (only_convs) bn->in_c_store = (net->in_c + 7) / 8 * 8;
    }

#define FAIL_RET()                                                                               \
    do {                                                                                         \
        cuda_net_release(be, bn);                                                                \
        return NULL;                                                                             \
    } while (0)

    for (int i = 0; i < bn->n_nodes; i++) {
        const PcNode *nd = &bn->nodes[i];
        char lbl[160];
        if (nd->input < -1 || nd->input >= i || (nd->op == PC_NODE_ADD && (nd->input2 < -1 || nd->input2 >= i))) {
            cu_fail(err, "%s: input node out of order", node_label(bn, i, lbl, sizeof lbl));
            FAIL_RET();
        }
        if (nd->op == PC_NODE_LINEAR) {
            bn->cn[i].dt = CU_F32;
            bn->cn[i].nhwc = 0;
        } else {
            bn->cn[i].dt = bn->act_dt;
            bn->cn[i].nhwc = bn->nhwc;
            if (nd->input >= 0 && bn->nodes[nd->input].op == PC_NODE_LINEAR) {
                cu_fail(err, "%s: a spatial layer after a linear layer is not supported",
                        node_label(bn, i, lbl, sizeof lbl));
                FAIL_RET();
            }
        }
    }
    if (bn->nodes[bn->n_nodes - 1].op != PC_NODE_LINEAR && bn->nodes[bn->n_nodes - 1].h * bn->nodes[bn->n_nodes - 1].w != 1) {
        cu_fail(err, "net_prepare: the last node must produce (N, classes) logits");
        FAIL_RET();
    }

    size_t pbytes = (net->n_params ? net->n_params : 1) * sizeof(float);
    cudaError_t e = cudaMalloc(&bn->params, pbytes);
    if (e == cudaSuccess && net->n_params)
        e = cudaMemcpy(bn->params, net->params, net->n_params * sizeof(float), cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
        cudaGetLastError();
        cu_fail(err, "net_prepare: uploading %zu parameters: %s", net->n_params, cudaGetErrorString(e));
        FAIL_RET();
    }
    if (cudnnCreateActivationDescriptor(&bn->relu) != CUDNN_STATUS_SUCCESS ||
        cudnnSetActivationDescriptor(bn->relu, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0) !=
            CUDNN_STATUS_SUCCESS) {
        cu_fail(err, "net_prepare: cuDNN activation descriptor");
        FAIL_RET();
    }
    for (int i = 0; i < bn->n_nodes; i++) {
        int rc = 0;
        if (bn->nodes[i].op == PC_NODE_CONV) rc = prepare_conv(ctx, bn, net, i, err);
        else if (bn->nodes[i].op == PC_NODE_LINEAR) rc = prepare_linear(bn, net, i, err);
        if (rc) FAIL_RET();
    }
    find_add_fusions(bn);
    if (ctx->no_fusion)
        for (int i = 0; i < bn->n_nodes; i++) bn->cn[i].add_node = bn->cn[i].add_conv = -1;
    if (plan_slots(bn, err)) FAIL_RET();
    // the uploads and memsets above ran on the legacy stream, which the context's non-blocking
    // stream does not wait for
    e = cudaDeviceSynchronize();
    if (e != cudaSuccess) {
        cudaGetLastError();
        cu_fail(err, "net_prepare: %s", cudaGetErrorString(e));
        FAIL_RET();
    }
#undef FAIL_RET
    return bn;
}

// ---- per-batch-size plans ---------------------------------------------------------------------

static void *slot_of(const PcBackendNet *bn, int idx, const void *x) {
    if (idx < 0) return (void *)x;
    return bn->slot_ptr[bn->cn[idx].slot];
}

// One conv: fused (bias + activation [+ z]) or plain conv + own bias/ReLU kernel.
static cudnnStatus_t conv_exec(CudaContext *ctx, PcBackendNet *bn, int i, const ConvChoice *ch,
                               int n, cudnnTensorDescriptor_t xdesc, const void *x,
                               cudnnTensorDescriptor_t ydesc, void *y, const void *z, int relu) {
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

// Milliseconds of one more run of a candidate that has just run (so compiled and warm).
static int time_conv(CudaContext *ctx, PcBackendNet *bn, int i, const ConvChoice *ch, int n,
                     cudnnTensorDescriptor_t xdesc, const void *x, cudnnTensorDescriptor_t ydesc, void *y,
                     const void *z, int relu, float *ms, PcError *err) {
    cudaEvent_t e0 = NULL, e1 = NULL;
    cudaError_t e = cudaEventCreate(&e0);
    if (e == cudaSuccess) e = cudaEventCreate(&e1);
    if (e == cudaSuccess) e = cudaEventRecord(e0, ctx->stream);
    cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
    if (e == cudaSuccess) st = conv_exec(ctx, bn, i, ch, n, xdesc, x, ydesc, y, z, relu);
    if (e == cudaSuccess) e = cudaEventRecord(e1, ctx->stream);
    if (e == cudaSuccess) e = cudaEventSynchronize(e1);
    if (e == cudaSuccess) e = cudaEventElapsedTime(ms, e0, e1);
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return cu_fail(err, "timing a convolution: %s", cudaGetErrorString(e));
    }
    if (st != CUDNN_STATUS_SUCCESS) *ms = INFINITY;   // ran once, refused now: never chosen
    return 0;
}

// Picks the first candidate algorithm (fused first when allowed) that runs on the real buffers;
// with options.cudnn_tune (PC_CUDNN_TUNE), every candidate that runs is timed and the fastest is kept.
static int choose_conv(CudaContext *ctx, PcBackendNet *bn, int i, int n,
                       cudnnTensorDescriptor_t xdesc, const void *x, cudnnTensorDescriptor_t ydesc,
                       void *y, const void *z, int relu, int allow_plain, ConvChoice *out,
                       PcError *err) {
    CuNode *c = &bn->cn[i];
    char lbl[160];
    node_label(bn, i, lbl, sizeof lbl);
    cudnnMathType_t search_math = ctx->precision == PC_PREC_FP32   ? CUDNN_FMA_MATH
                                  : ctx->precision == PC_PREC_TF32 ? CUDNN_DEFAULT_MATH
                                                                   : CUDNN_TENSOR_OP_MATH;
    CU_TRY_CUDNN(err, cudnnSetConvolutionMathType(c->cdesc, search_math), lbl);
    cudnnConvolutionFwdAlgoPerf_t perf[2 * CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int got = 0;
    if (ctx->use_find) {
        int rc = cu_workspace_reserve(ctx, ctx->workspace_limit, err);
        if (rc) return rc;
        CU_TRY_CUDNN(err, cudnnFindConvolutionForwardAlgorithmEx(
                              ctx->cudnn, xdesc, x, c->wdesc, c->w, c->cdesc, ydesc, y,
                              2 * CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf, ctx->workspace,
                              ctx->workspace_bytes), lbl);
    } else {
        CU_TRY_CUDNN(err, cudnnGetConvolutionForwardAlgorithm_v7(
                              ctx->cudnn, xdesc, c->wdesc, c->cdesc, ydesc,
                              2 * CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf), lbl);
    }
    int try_fused = !ctx->no_fusion && (relu || z);
    cudnnStatus_t last = CUDNN_STATUS_NOT_SUPPORTED;
    ConvChoice best;
    float best_ms = INFINITY;
    int have_best = 0;
    // variants in order of preference: fused (bias in the output type), fused with an f32 bias
    // (half paths only), plain conv + own bias/ReLU kernel
    int variants = c->dt == CU_F32 ? 1 : 2;
    for (int variant = try_fused ? 0 : variants; variant <= variants; variant++) {
        int fused = variant < variants;
        if (!fused && (z || !allow_plain)) break;
        for (int r = 0; r < got; r++) {
            if (perf[r].status != CUDNN_STATUS_SUCCESS) continue;
            // fp32 is the reference path: no FFT / Winograd transforms, whose rounding alone can
            // approach the 1e-4 tolerance over VGG16's 13 convolutions (tf32 and half may use them)
            cudnnConvolutionFwdAlgo_t a = perf[r].algo;
            if (ctx->precision == PC_PREC_FP32 &&
                (a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
                 a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED))
                continue;
            ConvChoice ch;
            ch.state = 1;
            ch.fused = fused;
            ch.bias_f32 = variant == 1 && c->dt != CU_F32;
            ch.algo = perf[r].algo;
            // fp32 must stay fp32: force FMA whatever the heuristic's math type
            ch.math = ctx->precision == PC_PREC_FP32 ? CUDNN_FMA_MATH : perf[r].mathType;
            if (cudnnSetConvolutionMathType(c->cdesc, ch.math) != CUDNN_STATUS_SUCCESS) continue;
            size_t ws = 0;
            if (cudnnGetConvolutionForwardWorkspaceSize(ctx->cudnn, xdesc, c->wdesc, c->cdesc, ydesc,
                                                        ch.algo, &ws) != CUDNN_STATUS_SUCCESS)
                continue;
            if (ws > ctx->workspace_limit) continue;
            int rc = cu_workspace_reserve(ctx, ws, err);
            if (rc) return rc;
            ch.ws = ws;
            cudnnStatus_t st = conv_exec(ctx, bn, i, &ch, n, xdesc, x, ydesc, y, z, relu);
            if (st == CUDNN_STATUS_SUCCESS) {
                cudaError_t e = cudaGetLastError();
                if (e != cudaSuccess)
                    return cu_fail(err, "%s: convolution launch failed: %s", lbl, cudaGetErrorString(e));
                if (!ctx->tune) {
                    *out = ch;
                    return 0;
                }
                float ms = INFINITY;
                rc = time_conv(ctx, bn, i, &ch, n, xdesc, x, ydesc, y, z, relu, &ms, err);
                if (rc) return rc;
                if (!have_best || ms < best_ms) best = ch, best_ms = ms, have_best = 1;
                continue;
            }
            // a launch error of a rejected candidate must not be blamed on the next one's success
            (void)cudaGetLastError();
            last = st;
        }
    }
    if (have_best) {   // y holds the last candidate's result: recompute it with the one kept
        cudnnStatus_t st = conv_exec(ctx, bn, i, &best, n, xdesc, x, ydesc, y, z, relu);
        if (st != CUDNN_STATUS_SUCCESS)
            return cu_fail(err, "%s: cuDNN convolution: %s", lbl, cudnnGetErrorString(st));
        *out = best;
        return 0;
    }
    if (!allow_plain) {
        out->state = -1;   // residual fusion unavailable: conv and add run separately
        return 0;
    }
    return cu_fail(err, "%s: no cuDNN algorithm runs this convolution for batch %d (last: %s)", lbl,
                   n, cudnnGetErrorString(last));
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
    int rc = !p->desc || !p->plain || !p->add ? cu_fail(err, "out of host memory planning batch %d", n) : 0;
    if (!rc) rc = set_desc(&p->in_desc, bn->act_dt, bn->nhwc, n, bn->in_c_store, bn->in_h, bn->in_w, err, "input");
    for (int i = 0; i < nn && !rc; i++) {
        const PcNode *nd = &bn->nodes[i];
        if (nd->op == PC_NODE_LINEAR) continue;
        rc = set_desc(&p->desc[i], bn->cn[i].dt, bn->cn[i].nhwc, n, nd->c, nd->h, nd->w, err, "node");
    }
    if (rc) {
        plan_destroy(bn, p);
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
        return choose_conv(ctx, bn, i, n, xd, x, plan->desc[i], y, NULL, nd->relu, 1, ch, err);
    cudnnStatus_t st = conv_exec(ctx, bn, i, ch, n, xd, x, plan->desc[i], y, NULL, nd->relu);
    char lbl[160];
    if (st != CUDNN_STATUS_SUCCESS)
        return cu_fail(err, "%s: cuDNN convolution: %s", node_label(bn, i, lbl, sizeof lbl),
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
    return choose_conv(ctx, bn, cv, n, xd, slot_of(bn, cn->input, xin), plan->desc[j],
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

int cuda_forward(PcBackend *be, PcBackendNet *bn, const float *x, int n_img, float *logits, int n_taps,
                 const int *tap_nodes, float *const *taps, PcError *err) {
    CudaContext *ctx = cu_ctx(be);
    if (n_img <= 0) return 0;
    if (n_img > bn->max_batch)
        return cu_fail(err, "forward: batch %d exceeds the prepared maximum %d", n_img, bn->max_batch);
    const int n = run_batch(bn, n_img);   // the batch the layers run at
    int nn = bn->n_nodes, last = logits ? nn - 1 : -1;
    for (int t = 0; t < n_taps; t++) {
        if (tap_nodes[t] < 0 || tap_nodes[t] >= nn)
            return cu_fail(err, "forward: tap node %d out of range (0..%d)", tap_nodes[t], nn - 1);
        if (tap_nodes[t] > last) last = tap_nodes[t];
    }
    if (last < 0) return 0;
    if (n > n_img && bn->in_slot < 0 && !bn->pad_in) {   // fp32: the padded input, on first use
        const size_t bytes = (size_t)bn->max_batch * bn->in_c * bn->in_h * bn->in_w * sizeof(float);
        float *buf = NULL;
        CU_TRY_CUDA(err, cudaMalloc(&buf, bytes), "forward: padded input");
        bn->pad_in = buf;
        CU_TRY_CUDA(err, cudaMemsetAsync(bn->pad_in, 0, bytes, ctx->stream), "forward: padded input");
    }
    CuPlan *plan = plan_get(bn, n, err);
    if (!plan) return -1;
    if (ctx->oom_bytes) return cuda_take_error(be, err);   // an op before this pass lacked memory
    unsigned char *tapped = (unsigned char *)calloc((size_t)nn, 2);
    if (!tapped) return cu_fail(err, "forward: out of host memory");
    unsigned char *deferred = tapped + nn;   // convs left to their ADD node (fused residual)
    for (int t = 0; t < n_taps; t++) tapped[tap_nodes[t]] = 1;
    for (int i = 0; i < nn; i++)
        deferred[i] = bn->cn[i].add_node >= 0 && plan->add[i].state >= 0 && !tapped[i];

    const void *xin = x;
    if (bn->in_slot >= 0) {
        void *dst = bn->slot_ptr[bn->in_slot];
        cu_nchw_f32_to_nhwc(ctx->stream, x, n_img, bn->in_c, bn->in_c_store, bn->in_h, bn->in_w, bn->act_dt,
                            dst);
        xin = dst;
    } else if (n > n_img) {   // fp32 reads the caller's buffer, which holds only n_img images
        const size_t in_count = (size_t)bn->in_c * bn->in_h * bn->in_w;
        cudaCheck(cudaMemcpyAsync(bn->pad_in, x, (size_t)n_img * in_count * sizeof(float), cudaMemcpyDeviceToDevice,
                                  ctx->stream));
        xin = bn->pad_in;
    }
    int rc = 0;
    char lbl[160];
    for (int i = 0; i <= last && !rc; i++) {
        const PcNode *nd = &bn->nodes[i];
        CuNode *c = &bn->cn[i];
        void *y = bn->slot_ptr[c->slot];
        const void *a = slot_of(bn, nd->input, xin);
        int ic, ih, iw;
        in_shape(bn, nd->input, &ic, &ih, &iw);
        switch (nd->op) {
        case PC_NODE_CONV:
            if (!deferred[i]) rc = run_conv(ctx, bn, plan, i, n, xin, err);
            break;
        case PC_NODE_ADD: {
            int cv = c->add_conv, fused = 0;
            if (cv >= 0 && deferred[cv]) {
                ConvChoice *ch = &plan->add[cv];
                if (ch->state == 0) {
                    rc = choose_conv_add(ctx, bn, plan, i, n, xin, err);
                    fused = ch->state == 1;
                } else if (ch->state == 1) {
                    const PcNode *cn = &bn->nodes[cv];
                    cudnnTensorDescriptor_t xd = cn->input < 0 ? plan->in_desc : plan->desc[cn->input];
                    cudnnStatus_t st = conv_exec(ctx, bn, cv, ch, n, xd, slot_of(bn, cn->input, xin),
                                                 plan->desc[i], y, slot_of(bn, c->add_other, xin), 1);
                    if (st != CUDNN_STATUS_SUCCESS)
                        rc = cu_fail(err, "%s: fused cuDNN convolution + add: %s",
                                     node_label(bn, cv, lbl, sizeof lbl), cudnnGetErrorString(st));
                    fused = 1;
                }
                // no fused algorithm: the conv was deferred, run it now (its input is still live)
                if (!rc && !fused) rc = run_conv(ctx, bn, plan, cv, n, xin, err);
            }
            if (!rc && !fused)
                cu_add_act(ctx->stream, a, slot_of(bn, nd->input2, xin), y, c->dt,
                           (size_t)n * nd->c * nd->h * nd->w, nd->relu);
            break;
        }
        case PC_NODE_MAXPOOL:
            cu_maxpool(ctx->stream, a, y, c->dt, c->nhwc, n, ic, ih, iw, nd->h, nd->w, nd->p.pool.k,
                       nd->p.pool.stride, nd->p.pool.pad, nd->relu);
            break;
        case PC_NODE_ADAPTIVE_AVG:
            cu_adaptive_avgpool(ctx->stream, a, y, c->dt, c->nhwc, n, ic, ih, iw, nd->h, nd->w,
                                nd->relu);
            break;
        case PC_NODE_LINEAR:
            rc = linear_exec(ctx, bn, i, n, a, (float *)y, err);
            break;
        default:
            rc = cu_fail(err, "%s: unknown node op %d", node_label(bn, i, lbl, sizeof lbl), (int)nd->op);
        }
        if (rc || !tapped[i]) continue;
        for (int t = 0; t < n_taps; t++)
            if (tap_nodes[t] == i)
                cu_to_nchw_f32(ctx->stream, y, c->dt, c->nhwc, n_img, nd->c, nd->h, nd->w, taps[t]);
    }
    if (!rc && logits) {
        const PcNode *ln = &bn->nodes[nn - 1];
        const CuNode *lc = &bn->cn[nn - 1];
        cu_to_nchw_f32(ctx->stream, bn->slot_ptr[lc->slot], lc->dt, lc->nhwc, n_img, ln->c, ln->h, ln->w,
                       logits);
    }
    free(tapped);
    return rc;
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
