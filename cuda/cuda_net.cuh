// cuda_net.cuh: the prepared network of the CUDA backend (struct PcBackendNet) and what its files
// share: cuda_net_prepare.cu (upload, descriptors, release), cuda_net_slots.cu (activation
// memory by liveness), cuda_conv_algo.cu (cuDNN algorithm choice and the conv call) and
// cuda_nn.cu (per-batch-size plans and the forward pass). Private to those files; the backward
// (cuda_backward.cu) sees the network only through cuda_internal.cuh.
//
// Layout and precision: fp8 / int8 run as fp16 (below) except the 8-bit convs (cuda_quant.cuh);
// fp32 / tf32 run NCHW f32 (cuDNN math FMA for fp32, so no TF32 sneaks in;
// DEFAULT for tf32); fp16 / bf16 run NHWC half tensors on tensor cores (input converted once, conv
// weights converted to KRSC half at prepare, f32 accumulation). Linear layers always write f32
// (N, out): the first one reads the half activation with its weight columns permuted to the NHWC
// flatten order, the later ones read f32. Logits and taps are returned as f32 NCHW.
#ifndef PC_CUDA_NET_CUH
#define PC_CUDA_NET_CUH

#include <stdio.h>

#include "cuda_common.cuh"
#include "cuda_internal.cuh"

typedef struct CuQuantState CuQuantState;   // 8-bit state of a net (cuda_quant.cuh)

// The algorithm a convolution runs with at one batch size (cuda_conv_algo.cu).
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

// Descriptors and algorithm choices of one batch size (cuda_nn.cu: plan_get).
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
    CuQuantState *quant;                // fp8 / int8: the 8-bit convs (cuda_quant.cu), or NULL
};

static inline cudnnDataType_t cudnn_type(CuDtype dt) {
    return dt == CU_F16 ? CUDNN_DATA_HALF : dt == CU_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}

// "node 7 (features.14)" for messages; buf of size bytes.
static inline const char *node_label(const PcBackendNet *bn, int i, char *buf, size_t size) {
    const PcNode *nd = &bn->nodes[i];
    const char *nm = nd->name[0] ? nd->name
                     : nd->op == PC_NODE_CONV ? nd->p.conv.weight_name
                     : nd->op == PC_NODE_LINEAR ? nd->p.linear.weight_name : "";
    snprintf(buf, size, "node %d%s%s%s", i, nm[0] ? " (" : "", nm, nm[0] ? ")" : "");
    return buf;
}

// (C, H, W) of node idx's output; idx -1 = the network input.
static inline void in_shape(const PcBackendNet *bn, int idx, int *c, int *h, int *w) {
    if (idx < 0) {
        *c = bn->in_c, *h = bn->in_h, *w = bn->in_w;
    } else {
        *c = bn->nodes[idx].c, *h = bn->nodes[idx].h, *w = bn->nodes[idx].w;
    }
}

// Device buffer of node idx's output; idx -1 = the (converted or padded) input x.
static inline void *slot_of(const PcBackendNet *bn, int idx, const void *x) {
    if (idx < 0) return (void *)x;
    return bn->slot_ptr[bn->cn[idx].slot];
}

// ---- cuda_net_slots.cu --------------------------------------------------------------------------
// Assigns every node output (and the converted input) a shared activation slot by liveness and
// allocates the slots (zeroed), each sized for max_batch images. Needs cn[].dt and add_node.
int cu_plan_slots(PcBackendNet *bn, PcError *err);

// ---- cuda_conv_algo.cu --------------------------------------------------------------------------
// One conv i on batch n: fused (bias + ReLU [+ residual z]) or plain conv + own bias/ReLU kernel.
cudnnStatus_t cu_conv_exec(CudaContext *ctx, PcBackendNet *bn, int i, const ConvChoice *ch, int n,
                           cudnnTensorDescriptor_t xdesc, const void *x, cudnnTensorDescriptor_t ydesc,
                           void *y, const void *z, int relu);
// Chooses conv i's algorithm for batch n on the real buffers; the candidate that runs leaves its
// result in y (fused with z when given). allow_plain 0: only the fused call, else state -1.
int cu_choose_conv(CudaContext *ctx, PcBackendNet *bn, int i, int n, cudnnTensorDescriptor_t xdesc,
                   const void *x, cudnnTensorDescriptor_t ydesc, void *y, const void *z, int relu,
                   int allow_plain, ConvChoice *out, PcError *err);

// ---- cuda_nn.cu ---------------------------------------------------------------------------------
// Frees the descriptors and choices of one batch size's plan.
void cu_plan_destroy(PcBackendNet *bn, CuPlan *p);

#endif
