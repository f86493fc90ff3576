// cuda_net_slots.cu: activation memory of a prepared network (cuda_net.cuh: cu_plan_slots). Node
// outputs live in a few shared "slots" assigned at prepare by liveness (an output is kept until
// its last reader; a conv fused into its residual ADD reads its input when the ADD runs; the
// logits are kept), each sized for max_batch images.
#include <stdlib.h>
#include <string.h>

#include "cuda_net.cuh"

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

// last[i]: the last node reading node i's output (index nn: the network input, pseudo-node -1).
// A conv fused into its ADD reads its input when the ADD runs; the logits node is kept; an
// output read by nobody is freed right after its node (taps copy it first).
static void last_uses(const PcBackendNet *bn, int *last) {
    int nn = bn->n_nodes;
    for (int i = 0; i <= nn; i++) last[i] = -1;
#define LAST(idx) last[(idx) < 0 ? nn : (idx)]
    for (int j = 0; j < nn; j++) {
        const PcNode *nd = &bn->nodes[j];
        if (LAST(nd->input) < j) LAST(nd->input) = j;
        if (nd->op == PC_NODE_ADD && LAST(nd->input2) < j) LAST(nd->input2) = j;
    }
    for (int i = 0; i < nn; i++) {
        int j = bn->cn[i].add_node;
        if (j >= 0 && LAST(bn->nodes[i].input) < j) LAST(bn->nodes[i].input) = j;
    }
#undef LAST
    for (int i = 0; i < nn; i++) {
        if (i == nn - 1) last[i] = nn;
        else if (last[i] < i) last[i] = i;
    }
}

int cu_plan_slots(PcBackendNet *bn, PcError *err) {
    int nn = bn->n_nodes;
    int *last = (int *)malloc((size_t)(nn + 1) * sizeof(int));
    SlotPlanner sp = {0, (size_t *)calloc((size_t)nn + 2, sizeof(size_t)),
                      (int *)calloc((size_t)nn + 2, sizeof(int))};
    if (!last || !sp.bytes || !sp.busy) {
        free(last);
        free(sp.bytes);
        free(sp.busy);
        return pc_fail(err, "out of host memory planning activations");
    }
    last_uses(bn, last);
    for (int i = 0; i < nn; i++) bn->cn[i].last_use = last[i];
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
    free(last);
    bn->n_slots = sp.n;
    bn->slot_bytes = sp.bytes;
    free(sp.busy);
    bn->slot_ptr = (void **)calloc((size_t)sp.n + 1, sizeof(void *));
    if (!bn->slot_ptr) return pc_fail(err, "out of host memory planning activations");
    for (int s = 0; s < sp.n; s++) {
        CU_TRY_CUDA(err, cudaMalloc(&bn->slot_ptr[s], bn->slot_bytes[s]), "activation buffers");
        CU_TRY_CUDA(err, cudaMemset(bn->slot_ptr[s], 0, bn->slot_bytes[s]), "activation buffers");
    }
    return 0;
}
