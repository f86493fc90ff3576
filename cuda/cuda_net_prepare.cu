// cuda_net_prepare.cu: a network onto the GPU (backend.h net_prepare / net_release): the f32
// parameter arena uploaded once, conv and linear weights converted to the half paths' layouts,
// the cuDNN filter / convolution / bias descriptors, the residual fusions found, and the
// activation slots planned (cuda_net_slots.cu). Layouts and precisions: cuda_net.cuh.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_quant.cuh"

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
        pc_fail(err, "%s: out of host memory", what);
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
        pc_fail(err, "%s: %s", what, cudaGetErrorString(e));
        return NULL;
    }
    return dev;
}

// ---- release ----------------------------------------------------------------------------------

void cuda_net_release(PcBackend *be, PcBackendNet *bn) {
    if (!bn) return;
    cudaStreamSynchronize(cu_ctx(be)->stream);
    cuda_backward_release(bn->grad);
    cu_quant_free(bn);
    if (bn->plans)
        for (int k = 0; k <= bn->max_batch; k++) cu_plan_destroy(bn, &bn->plans[k]);
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
        return pc_fail(err, "%s: conv %d->%d channels does not match its input (%d) / output (%d)",
                       lbl, cp->cin, cp->cout, ic, nd->c);
    if (!cp->weight || !cp->bias || cp->weight < net->params || cp->bias < net->params ||
        cp->weight + (size_t)cp->cout * cp->cin * cp->k * cp->k > net->params + net->n_params ||
        cp->bias + cp->cout > net->params + net->n_params)
        return pc_fail(err, "%s: weight or bias outside the parameter arena", lbl);
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
        return pc_fail(err, "%s: conv output %dx%dx%d, node says %dx%dx%d", lbl, oc, oh, ow, nd->c,
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
        return pc_fail(err, "%s: linear %d->%d does not match its input (%d values) / output (%d)",
                       lbl, lp->in, lp->out, ic * ih * iw, nd->c);
    if (!lp->weight || !lp->bias || lp->weight < net->params || lp->bias < net->params ||
        lp->weight + (size_t)lp->out * lp->in > net->params + net->n_params ||
        lp->bias + lp->out > net->params + net->n_params)
        return pc_fail(err, "%s: weight or bias outside the parameter arena", lbl);
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

// The net's nodes copied, the per-node arrays and the per-batch-size plans allocated; NULL (err
// set) when host memory is short.
static PcBackendNet *net_alloc(PcBackend *be, const PcNet *net, int max_batch, PcError *err) {
    PcBackendNet *bn = (PcBackendNet *)calloc(1, sizeof *bn);
    if (!bn) {
        pc_fail(err, "net_prepare: out of host memory");
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
        pc_fail(err, "net_prepare: out of host memory");
        return NULL;
    }
    memcpy(bn->nodes, net->nodes, (size_t)net->n_nodes * sizeof(PcNode));
    return bn;
}

// Activation type and layout of the precision, and how the input is stored. Half paths: a
// 3-channel NHWC input has no tensor-core kernel (cuDNN wants channel counts that are multiples of
// 8), so the input is stored with zero channels up to 8 and the first conv's filter with zero
// weights for them, when only convolutions read the input.
static void choose_storage(const CudaContext *ctx, const PcNet *net, PcBackendNet *bn) {
    // fp8 / int8: the fp16 path, with the 8-bit convs added by net_set_quant (cuda_quant.cuh)
    const PcPrecision p = ctx->precision;
    int half = p == PC_PREC_FP16 || p == PC_PREC_BF16 || p == PC_PREC_FP8 || p == PC_PREC_INT8;
    bn->act_dt = p == PC_PREC_BF16 ? CU_BF16 : half ? CU_F16 : CU_F32;
    bn->nhwc = half;
    bn->in_slot = half ? 0 : -1;
    bn->in_c_store = net->in_c;
    if (half && net->in_c % 8) {
        int only_convs = 1;
        for (int i = 0; i < net->n_nodes; i++)
            if ((net->nodes[i].input < 0 || (net->nodes[i].op == PC_NODE_ADD && net->nodes[i].input2 < 0)) &&
                net->nodes[i].op != PC_NODE_CONV)
                only_convs = 0;
        if (only_convs) bn->in_c_store = (net->in_c + 7) / 8 * 8;
    }
}

// Every node's inputs come before it; output type and layout per node (linear: f32 (N, out));
// no spatial layer after a linear one; the last node gives (N, classes) logits.
static int check_nodes(PcBackendNet *bn, PcError *err) {
    char lbl[160];
    for (int i = 0; i < bn->n_nodes; i++) {
        const PcNode *nd = &bn->nodes[i];
        if (nd->input < -1 || nd->input >= i || (nd->op == PC_NODE_ADD && (nd->input2 < -1 || nd->input2 >= i)))
            return pc_fail(err, "%s: input node out of order", node_label(bn, i, lbl, sizeof lbl));
        if (nd->op == PC_NODE_LINEAR) {
            bn->cn[i].dt = CU_F32;
            bn->cn[i].nhwc = 0;
        } else {
            bn->cn[i].dt = bn->act_dt;
            bn->cn[i].nhwc = bn->nhwc;
            if (nd->input >= 0 && bn->nodes[nd->input].op == PC_NODE_LINEAR)
                return pc_fail(err, "%s: a spatial layer after a linear layer is not supported",
                               node_label(bn, i, lbl, sizeof lbl));
        }
    }
    const PcNode *out = &bn->nodes[bn->n_nodes - 1];
    if (out->op != PC_NODE_LINEAR && out->h * out->w != 1)
        return pc_fail(err, "net_prepare: the last node must produce (N, classes) logits");
    return 0;
}

// The f32 parameter arena onto the device and the ReLU descriptor of the fused calls.
static int upload_params(const PcNet *net, PcBackendNet *bn, PcError *err) {
    size_t pbytes = (net->n_params ? net->n_params : 1) * sizeof(float);
    cudaError_t e = cudaMalloc(&bn->params, pbytes);
    if (e == cudaSuccess && net->n_params)
        e = cudaMemcpy(bn->params, net->params, net->n_params * sizeof(float), cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return pc_fail(err, "net_prepare: uploading %zu parameters: %s", net->n_params, cudaGetErrorString(e));
    }
    if (cudnnCreateActivationDescriptor(&bn->relu) != CUDNN_STATUS_SUCCESS ||
        cudnnSetActivationDescriptor(bn->relu, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0) !=
            CUDNN_STATUS_SUCCESS)
        return pc_fail(err, "net_prepare: cuDNN activation descriptor");
    return 0;
}

// Conv and linear layers, residual fusions (off with options.no_fusion), activation slots; then
// the legacy stream's uploads and memsets, which the context's non-blocking stream does not wait
// for, are waited for.
static int prepare_layers(CudaContext *ctx, const PcNet *net, PcBackendNet *bn, PcError *err) {
    for (int i = 0; i < bn->n_nodes; i++) {
        int rc = 0;
        if (bn->nodes[i].op == PC_NODE_CONV) rc = prepare_conv(ctx, bn, net, i, err);
        else if (bn->nodes[i].op == PC_NODE_LINEAR) rc = prepare_linear(bn, net, i, err);
        if (rc) return rc;
    }
    find_add_fusions(bn);
    if (ctx->no_fusion)
        for (int i = 0; i < bn->n_nodes; i++) bn->cn[i].add_node = bn->cn[i].add_conv = -1;
    if (cu_plan_slots(bn, err)) return -1;
    cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess) {
        cudaGetLastError();
        return pc_fail(err, "net_prepare: %s", cudaGetErrorString(e));
    }
    return 0;
}

PcBackendNet *cuda_net_prepare(PcBackend *be, const PcNet *net, int max_batch, PcError *err) {
    CudaContext *ctx = cu_ctx(be);
    if (!net || net->n_nodes <= 0 || max_batch <= 0) {
        pc_fail(err, "net_prepare: empty network or max_batch %d", max_batch);
        return NULL;
    }
    PcBackendNet *bn = net_alloc(be, net, max_batch, err);
    if (!bn) return NULL;
    choose_storage(ctx, net, bn);
    if (check_nodes(bn, err) || upload_params(net, bn, err) || prepare_layers(ctx, net, bn, err)) {
        cuda_net_release(be, bn);
        return NULL;
    }
    return bn;
}
