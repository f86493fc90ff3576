// cuda_internal.cuh: what cuda_nn.cu shows of a prepared network to the backward pass
// (cuda_backward.cu), and the backward's entry points. The network's own structs stay private to
// cuda_nn.cu: the backward reads the node list, the f32 weights and keeps its state in one slot.
#ifndef PC_CUDA_INTERNAL_CUH
#define PC_CUDA_INTERNAL_CUH

#include "cuda_common.cuh"

typedef struct CuGrad CuGrad;   // the backward's per-network state (cuda_backward.cu)

typedef struct {
    int n_nodes;
    const PcNode *nodes;        // the net's nodes (their host weight pointers are not usable)
    int max_batch;
    int in_c, in_h, in_w;
} CuNetView;

// ---- cuda_nn.cu -------------------------------------------------------------------------------
void cuda_net_view(const PcBackendNet *bn, CuNetView *v);
// Device f32 weight of node i: conv (cout, cin, k, k), linear (out, in) in torch's (C, H, W)
// flatten order, whatever the precision of the forward; NULL for other nodes.
const float *cuda_net_weight_f32(const PcBackendNet *bn, int i);
// cuda_forward with the 8-bit convs of an fp8 / int8 net run as fp16 (the backward's forward).
int cuda_forward_unquantised(PcBackend *be, PcBackendNet *bn, const float *x, int n, float *logits, int n_taps,
                             const int *tap_nodes, float *const *taps, PcError *err);
// The slot that holds the backward's state; cuda_net_release frees it (cuda_backward_release).
CuGrad **cuda_net_grad(PcBackendNet *bn);

// ---- cuda_backward.cu -------------------------------------------------------------------------
int cuda_backward(PcBackend *be, PcBackendNet *bn, const float *x, int n, const int *cls,
                  float *logits, int n_taps, const int *tap_nodes, float *const *taps,
                  float *const *grad_taps, float *grad_x, PcError *err);
// Frees the state (descriptors, per-batch-size algorithm choices); g may be NULL. The stream must
// be idle.
void cuda_backward_release(CuGrad *g);

#endif
