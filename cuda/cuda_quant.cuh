// cuda_quant.cuh: the 8-bit convolutions of the CUDA backend (precisions fp8 / int8; the scheme is
// host/shared/quant_scheme.h's). Private to cuda_quant.cu (net_set_quant, the input quantisation kernel, the
// 8-bit conv of one node), cuda_quant_graph.cu (the cuDNN graph: backend API) and cuda_nn.cu (the
// forward pass, which calls cu_quant_conv for the nodes that have 8-bit state).
//
// An 8-bit net runs exactly as the fp16 path (NHWC half activations) until net_set_quant gives it
// scales; then each conv with in_scale > 0 runs as
//     q_x  = Q(x * inv_s)            k_quantize: half NHWC -> fp8 E4M3 / int8 NHWC (qbuf)
//     acc  = conv(q_x, q_w)          cuDNN graph, fp32 (fp8) / int32 (int8) accumulation
//     y    = relu?(acc * descale[k] + bias[k]) -> half NHWC     (pointwise ops of the same graph)
// with q_w the weights quantised per output channel at net_set_quant (KRSC, cuDNN's NHWC filter
// layout), descale[k] = s_x * s_w[k] (fp32 product) and the fp32 bias. Residual adds stay our own
// kernels (no residual fusion on 8-bit nodes); the first conv and the linear layers run as fp16.
// The backward (cuda_backward.cu) runs its forward without the 8-bit state (fp16).
//
// A node for which no cuDNN engine runs the graph (at its first batch size) runs in fp16 from then
// on: one warning line on stderr names it, and pc_cuda_quant_fallbacks (below) lists such nodes
// for the host (the CPU emulation then differs from the GPU for that node).
#ifndef PC_CUDA_QUANT_CUH
#define PC_CUDA_QUANT_CUH

#include <stdint.h>

#include "cuda_net.cuh"

// One 8-bit conv's state (host struct, device buffers).
typedef struct {
    float in_scale, inv_scale;  // s_x and the fp32 reciprocal 1.0f / s_x; 0 = not an 8-bit node
    void *wq;                   // (K, R, S, C) fp8 E4M3 / int8 codes
    float *descale;             // (K) s_x * s_w[k]
    float *bias;                // (K) fp32 copy of the bias (16-byte aligned for cuDNN)
    int unsupported;            // 1: no cuDNN engine ran it; runs as fp16 (kept across set_quant)
} CuQNode;

// The execution plan of one node's graph at one batch size (cuda_quant_graph.cu).
#define CU_QPLAN_KEEP 24
typedef struct {
    int state;                  // 0 = not built, 1 = ready, -1 = no engine (node runs fp16)
    cudnnBackendDescriptor_t plan;
    cudnnBackendDescriptor_t keep[CU_QPLAN_KEEP];   // descriptors the plan was built from
    int n_keep;
    int64_t ws;                 // workspace bytes
    int64_t engine;             // cuDNN global engine index (diagnostics), -1 unknown
    int heur_fallback;          // the engine came from heuristics mode FALLBACK (often no tensor cores)
    int variant;                // graph variant that ran: CU_QV_*
    // CU_QV_LEGACY: cuDNN's legacy API (int8 x / w, int32 compute, fp32 y)
    cudnnTensorDescriptor_t lx, ly;
    cudnnFilterDescriptor_t lw;
    cudnnConvolutionDescriptor_t lc;
    cudnnConvolutionFwdAlgo_t lalgo;
} CuQPlan;

// An 8-bit conv runs at a bucket size of its own, whatever size the forward runs at: 1, 2, 4, ...,
// 64, then multiples of 64 (at most max_batch; the extra images are whatever the buffers hold,
// as the forward's own padding), so that each node builds a graph plan (with cuDNN's run-time
// kernel compilation) for a few sizes only, and every plan is kept for the net's lifetime.
struct CuQuantState {
    PcQuantFormat format;
    int active;                 // scales set (net_set_quant with q != NULL)
    CuQNode *node;              // (n_nodes)
    void *qbuf;                 // quantised input of the running conv, max over the 8-bit nodes
    size_t qbuf_bytes;
    int n_sizes;                // bucket sizes per node
    CuQPlan *plans;             // (n_nodes, n_sizes): node i, bucket index (cu_quant_conv)
};

// Graph variants, tried in this order (fp8 skips CU_QV_F32ACC and CU_QV_I32):
//   CU_QV_FUSED    conv (fp8: fp32 accumulation; int8: int32) -> * descale -> + bias -> [ReLU] ->
//                  half y, one graph (cuDNN's runtime fusion)
//   CU_QV_F32ACC   int8 only: the same with the conv's virtual output declared fp32
//   CU_QV_I32      int8 only: cudnn-frontend's int8_fprop sample graph, conv (int32) -> identity
//                  -> an int32 buffer (acc), then our epilogue kernel (its int32 input converted
//                  to fp32 exactly as the fused graph's pointwise multiply reads it)
//   CU_QV_CONV_ONLY  the conv alone into an fp32 buffer (acc), then our epilogue kernel
//                  (k_epilogue in cuda_quant.cu: the same fp32 operations in the same order)
//   CU_QV_LEGACY   int8 only: the conv by cudnnConvolutionForward (INT8_EXT_CONFIG: int8 NHWC x
//                  and filter, int32 compute, fp32 y = acc), then the epilogue kernel
enum { CU_QV_FUSED = 0, CU_QV_F32ACC = 1, CU_QV_I32 = 2, CU_QV_CONV_ONLY = 3, CU_QV_LEGACY = 4, CU_QV_COUNT = 5 };
// The variants whose conv writes acc and leave the pointwise part to k_epilogue.
static inline int cu_qv_epilogue(int v) { return v == CU_QV_I32 || v == CU_QV_CONV_ONLY || v == CU_QV_LEGACY; }
// The variants only int8 has.
static inline int cu_qv_int8_only(int v) { return v == CU_QV_F32ACC || v == CU_QV_I32 || v == CU_QV_LEGACY; }

// Shape and operands of one 8-bit conv call.
typedef struct {
    PcQuantFormat format;
    int n, c, h, w;             // input (N, C, H, W), stored NHWC
    int k, r, stride, pad;      // filter (K, C, R, R)
    int oh, ow, relu;
} CuQShape;

typedef struct {
    const void *x;              // (N, H, W, C) 8-bit codes
    const void *w;              // (K, R, R, C) 8-bit codes
    const float *descale, *bias;   // (K) each
    void *y;                    // (N, OH, OW, K) half
    float *acc;                 // (N, OH, OW, K) fp32 (CU_QV_I32: int32) scratch of the epilogue
                                // variants, or NULL
} CuQPtrs;

// ---- cuda_quant_graph.cu ----------------------------------------------------------------------
// Builds the graph of s, asks cuDNN's heuristics (mode A, then fallback) for engines, and runs
// them in order on the real operands p; the first that runs is kept in out (state 1) and its
// result is in p->y (cu_qv_epilogue variants: the conv's in p->acc, the caller runs the epilogue;
// without p->acc they are not tried). Returns 0, or -1 with err set to the last refusal of every
// variant (out->state -1). PC_QUANT_VERBOSE=1 prints each refusal and the choice on stderr.
int cu_qgraph_choose(CudaContext *ctx, const CuQShape *s, const CuQPtrs *p, CuQPlan *out, PcError *err);
// The graph's operations of variant v (not CU_QV_LEGACY) built and finalised, then freed: needs no
// device (the operation graph, which needs a cuDNN handle, is not made). The count of operations,
// or -1 with err set to cuDNN's refusal. For test_cuda_quant_host.
int cu_qgraph_ops_check(const CuQShape *s, int v, PcError *err);
// Runs a ready plan on p (cu_qv_epilogue variants: into p->acc). 0, or -1 with err set.
int cu_qgraph_exec(CudaContext *ctx, const CuQPlan *qp, const CuQPtrs *p, PcError *err);
void cu_qplan_free(CuQPlan *qp);

// ---- cuda_quant.cu ----------------------------------------------------------------------------
// (cuda_net_set_quant, backend.h net_set_quant: declared in cuda_common.cuh)
// 1 when conv i has 8-bit state and runs in 8 bits (scales set, an engine not refused).
int cu_quant_active(const PcBackendNet *bn, int i);
// Conv i of batch n in 8 bits (run at its bucket size: the buffers hold max_batch images): x (N, H,
// W, C) half -> y (N, OH, OW, K) half. Returns 0 when it
// ran, 1 when it cannot run in 8 bits (no engine: warned once; the caller runs the fp16 conv), or
// -1 / PC_ERR_OOM with err set.
int cu_quant_conv(CudaContext *ctx, PcBackendNet *bn, int i, int n, const void *x, void *y, PcError *err);
// Frees the 8-bit state (stream idle).
void cu_quant_free(PcBackendNet *bn);

#endif
