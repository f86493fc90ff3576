// cpu_nn.c: the CPU forward pass of a PcNet for a batch of images.
//
// Layout: inside the pass every spatial activation is stored channel-major, (C, G, H, W) for a
// group of G images, so a convolution is ONE matrix product  out (Cout, G*OH*OW) = W (Cout, K) x
// cols (K, G*OH*OW)  with K = Cin*k*k, and a 1x1 stride-1 convolution needs no im2col at all (its
// input already is the column matrix). The channel stride is G*H*W rounded up to an odd number of
// 64-byte lines (cpu_ld_pad): with 224 x 224 planes it would otherwise be a multiple of 4 KiB and the
// rows of every channel would fall into the same L1 sets. Linear nodes hold (G, C). Inputs and
// taps are converted from / to (N, C, H, W) at the edges.
//
// Convolutions: few-channel layers with long rows (Cout <= 64, stride 1 or 2) run a direct AVX-512
// kernel that reads the input in place (cpu_direct.c); the others im2col + sgemm on cache-sized
// chunks, then bias + ReLU on the chunk while it is in cache (cpu_layers.c, with the pooling,
// residual add and linear kernels).
//
// Batches: the batch goes through the network in groups of G images, G as small as keeps the late
// layers' GEMMs wide (choose_group), so activations stay in the caches between layers. With at
// least two images per thread, each of the T threads takes its share of the images and runs whole
// groups on its own workspace, with no synchronisation inside the pass. Smaller batches (the
// one-image passes) split every layer across the threads instead: output rows, or output channels
// when a layer has too few columns to share. Either way each thread calls single-threaded sgemm;
// OpenBLAS is set to one thread for the duration of the pass.
//
// Workspace: cpu_net_prepare plans which node outputs can share a buffer (an output's buffer is
// reused once its last reader has run; a residual add writes in place) and allocates ONE arena:
// per thread the group's input copy, those buffers and im2col chunks, plus the weights repacked
// for the direct kernel. The backend option no_direct_conv (PC_NO_DIRECT_CONV for the program)
// turns the direct kernel off (tests use it to check the GEMM path on every layer).
#define _GNU_SOURCE
#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cpu_internal.h"

#define CPU_MAX_THREADS 64
// im2col chunk per thread, in floats (4 MiB): stays in the last-level cache between the im2col
// write and the GEMM's read, and still gives GEMMs of several thousand columns.
#define IM2COL_CHUNK_FLOATS ((size_t)1 << 20)

// Buffers of one worker: everything a pass over a group of up to `group` images writes.
typedef struct {
    float *input;           // (3, G, H, W) channel-major copy of the group's x
    float **out;            // per node: (C, G, H, W) spatial, or (G, C) for linear nodes
    float *scratch;         // im2col chunks (T x scratch_per_part for worker 0, which also runs the
                            // layer-parallel passes, else 1 x) or a flattened input
} Workspace;

typedef struct {
    const PcNet *net;       // not owned; must outlive this struct (its params are used in place)
    int max_batch;
    int threads;
    int group;              // images per pass through the network (see cpu_forward)
    float *arena;
    size_t arena_floats;
    int workers;            // workspaces: threads when max_batch allows image-parallel passes, else 1
    Workspace *ws;
    float **direct_w;       // per node: weights packed for the direct kernel, or NULL (GEMM path)
    size_t scratch_per_part;
    CpuQuant *quant;        // the 8-bit convs (net_set_quant, cpu_quant.c), or NULL
} CpuNet;

// ---- OpenBLAS kernel selection ---------------------------------------------------------------

// OpenBLAS 0.3.21 (Debian 12) does not know CPUs released after it (e.g. Emerald Rapids, cpuid
// model 0xCF): its DYNAMIC_ARCH build then falls back to the Prescott (SSE3) kernels, which run
// SGEMM 4-5x slower than its AVX-512 ones. If that happened and the user did not choose a core
// with OPENBLAS_CORETYPE, re-run OpenBLAS's core selection forced to the best kernel set this CPU
// supports. Only possible in DYNAMIC_ARCH builds (weak symbols: absent elsewhere).
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

static void select_kernel_once(void) {
    if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit || getenv("OPENBLAS_CORETYPE")) return;
    const char *core = openblas_get_corename();
    if (!core || strcasecmp(core, "prescott") != 0) return;
    __builtin_cpu_init();
    const char *want = NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
    if (!want) return;
    setenv("OPENBLAS_CORETYPE", want, 1);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");
}

void cpu_blas_select_kernel(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, select_kernel_once);
}

// ---- threads ---------------------------------------------------------------------------------

typedef void (*PartFn)(void *arg, int part, int parts);

typedef struct {
    PartFn fn;
    void *arg;
    int part, parts;
} PartCall;

static void *part_entry(void *p) {
    PartCall *c = p;
    c->fn(c->arg, c->part, c->parts);
    return NULL;
}

// Runs fn(arg, p, parts) for p = 0..parts-1, part 0 on the calling thread.
static void run_parts(int parts, PartFn fn, void *arg) {
    if (parts > CPU_MAX_THREADS) parts = CPU_MAX_THREADS;
    if (parts <= 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_t tid[CPU_MAX_THREADS];
    PartCall calls[CPU_MAX_THREADS];
    int started[CPU_MAX_THREADS];
    for (int p = 1; p < parts; p++) {
        calls[p] = (PartCall){fn, arg, p, parts};
        started[p] = pthread_create(&tid[p], NULL, part_entry, &calls[p]) == 0;
    }
    fn(arg, 0, parts);
    for (int p = 1; p < parts; p++) {
        if (started[p]) pthread_join(tid[p], NULL);
        else fn(arg, p, parts);   // could not start a thread: do its share here
    }
}

// ---- convolution -----------------------------------------------------------------------------

// The direct kernel (cpu_direct.c) where it was packed, else im2col + GEMM (cpu_layers.c).
// quant: the 8-bit convs run fake-quantised (cpu_quant.c): the input rounded into the worker's qin
// first, the conv then reads it and the fake-quantised weights.
static void conv_forward(const CpuNet *cn, const Workspace *ws, int parts, int node, const float *in, int in_h,
                         int in_w, float *out, int n, int quant) {
    const PcNode *nd = &cn->net->nodes[node];
    const long in_cs = cpu_ld_pad((long)n * in_h * in_w), out_cs = cpu_ld_pad((long)n * nd->h * nd->w);
    const float *weight = nd->p.conv.weight, *direct_w = cn->direct_w[node];
    const CpuQuant *q = quant ? cn->quant : NULL;
    if (q && q->in_scale[node] > 0.0f) {
        const float s = q->in_scale[node];
        float *qin = q->qin[ws - cn->ws];
        CpuQuantInput qj = {in, qin, nd->p.conv.cin, (long)n * in_h * in_w, in_cs, s, 1.0f / s, q->format};
        run_parts(parts, cpu_quant_input_part, &qj);
        in = qin, weight = q->weight[node], direct_w = q->direct_w[node];
    }
    if (direct_w) {
        DirectJob dj = {nd, in, out, direct_w, n, in_h, in_w, in_cs, out_cs};
        run_parts(parts, cpu_direct_part, &dj);
        return;
    }
    CpuConvJob job = {nd, weight, in, out, n, in_h, in_w, in_cs, out_cs, ws->scratch, cn->scratch_per_part, 0, 0, 0};
    cpu_conv_gemm(&job, parts);
}

// ---- layout conversion -----------------------------------------------------------------------

// (N, C, HW) -> (C, N, HW) with channel stride cs.
static void to_channel_major(const float *src, float *dst, int n, int c, size_t hw, long cs) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            memcpy(dst + ch * cs + i * hw, src + ((size_t)i * c + ch) * hw, hw * sizeof(float));
}

// (C, N, HW) with channel stride cs -> (N, C, HW).
static void to_image_major(const float *src, float *dst, int n, int c, size_t hw, long cs) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            memcpy(dst + ((size_t)i * c + ch) * hw, src + ch * cs + i * hw, hw * sizeof(float));
}

// ---- prepare / release -----------------------------------------------------------------------

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

// Floats of a (C, N, H, W) buffer for up to g images, channel stride cpu_ld_pad(N*H*W) (it is
// monotonic, so the size for g covers every smaller group).
static size_t spatial_floats(int c, int h, int w, int g) {
    return (size_t)c * (size_t)cpu_ld_pad((long)g * h * w);
}

// Images per pass through the network: enough that the smallest conv output still gives GEMMs of
// GROUP_MIN_COLS columns, and no more (small groups keep a layer's input and output in the caches:
// a batch of 32 224 x 224 images through 64 channels would be 400 MB per activation).
#define GROUP_BYTES ((size_t)16 << 20)
#define GROUP_MIN_COLS 128
#define GROUP_MAX 16

static int choose_group(const PcNet *net, int max_batch) {
    size_t largest = (size_t)net->in_c * net->in_h * net->in_w, smallest_hw = 0;
    for (int i = 0; i < net->n_nodes; i++) {
        const PcNode *nd = &net->nodes[i];
        size_t a = (size_t)nd->c * nd->h * nd->w, hw = (size_t)nd->h * nd->w;
        if (a > largest) largest = a;
        if (nd->op == PC_NODE_CONV && (smallest_hw == 0 || hw < smallest_hw)) smallest_hw = hw;
    }
    size_t g = smallest_hw ? (GROUP_MIN_COLS + smallest_hw - 1) / smallest_hw : 1;
    size_t g_mem = GROUP_BYTES / (largest * sizeof(float));
    if (g > g_mem) g = g_mem;
    if (g < 1) g = 1;
    if (g > GROUP_MAX) g = GROUP_MAX;
    return g > (size_t)max_batch ? max_batch : (int)g;
}

// Buffer plan of one worker: which node outputs share a buffer ("slot"), and the scratch sizes.
typedef struct {
    int n_slots;
    int *slot_of;           // (nodes) slot holding each node's output
    size_t *slot_size;      // (nodes) floats of each slot
    size_t scratch;         // im2col chunk floats per part
    size_t flat_max;        // floats of the largest flattened input of a linear node
    size_t packed;          // floats of the weights packed for the direct kernel
} BufferPlan;

static void buffer_plan_free(BufferPlan *bp) {
    free(bp->slot_of);
    free(bp->slot_size);
}

// Free slot for a buffer of need floats (busy[t] < i): the smallest that is big enough, else the
// largest; a new slot when none is free.
static int best_free_slot(const BufferPlan *bp, const int *busy, int i, size_t need, int *n_slots) {
    int s = -1;
    for (int t = 0; t < *n_slots; t++) {
        if (busy[t] >= i) continue;
        if (s < 0) s = t;
        else if (bp->slot_size[t] >= need ? (bp->slot_size[s] < need || bp->slot_size[t] < bp->slot_size[s])
                                          : (bp->slot_size[s] < need && bp->slot_size[t] > bp->slot_size[s]))
            s = t;
    }
    return s >= 0 ? s : (*n_slots)++;
}

// Last reader of every node output, then greedy reuse of free buffers (a residual add writes in
// place over its first operand when it is that operand's last reader).
static void plan_buffers(const PcNet *net, int group, int direct, BufferPlan *bp) {
    const int nn = net->n_nodes;
    memset(bp, 0, sizeof *bp);
    bp->slot_of = xmalloc((size_t)nn * sizeof(int));
    bp->slot_size = xcalloc((size_t)nn, sizeof(size_t));
    bp->scratch = IM2COL_CHUNK_FLOATS;
    int *last_use = xmalloc((size_t)nn * sizeof(int));
    int *slot_busy = xmalloc((size_t)nn * sizeof(int));    // last node reading the slot's content
    for (int i = 0; i < nn; i++) last_use[i] = i;
    for (int i = 0; i < nn; i++) {
        if (net->nodes[i].input >= 0) last_use[net->nodes[i].input] = i;
        if (net->nodes[i].input2 >= 0) last_use[net->nodes[i].input2] = i;
    }
    for (int i = 0; i < nn; i++) {
        const PcNode *nd = &net->nodes[i];
        size_t need = nd->op == PC_NODE_LINEAR ? (size_t)nd->c * group : spatial_floats(nd->c, nd->h, nd->w, group);
        if (nd->op == PC_NODE_CONV) {
            // at least one output row of columns per chunk
            size_t row = (size_t)nd->p.conv.cin * nd->p.conv.k * nd->p.conv.k * cpu_ld_pad(nd->w);
            if (row > bp->scratch) bp->scratch = row;
            if (direct && cpu_use_direct(&nd->p.conv, nd->w)) bp->packed += round16(cpu_direct_pack_floats(&nd->p.conv));
        } else if (nd->op == PC_NODE_LINEAR) {
            size_t flat = (size_t)nd->p.linear.in * (size_t)group;
            if (flat > bp->flat_max) bp->flat_max = flat;
        }
        int s = nd->op == PC_NODE_ADD && nd->input >= 0 && last_use[nd->input] == i
                    ? bp->slot_of[nd->input]   // in place: out[i] = a[i] + b[i] reads before it writes
                    : best_free_slot(bp, slot_busy, i, need, &bp->n_slots);
        if (bp->slot_size[s] < need) bp->slot_size[s] = need;
        bp->slot_of[i] = s;
        slot_busy[s] = last_use[i];
    }
    free(last_use);
    free(slot_busy);
}

// Carves the arena into the workers' workspaces (input copy, slots, scratch; worker 0's scratch
// serves every thread of the layer-parallel passes) and the packed direct-kernel weights.
static void carve_arena(CpuNet *cn, const BufferPlan *bp, size_t in_floats, size_t scratch0,
                        size_t scratch1, int direct) {
    const PcNet *net = cn->net;
    const int nn = net->n_nodes;
    float *p = cn->arena;
    cn->ws = xcalloc((size_t)cn->workers, sizeof(Workspace));
    float **slot_ptr = xmalloc((size_t)(bp->n_slots ? bp->n_slots : 1) * sizeof(float *));
    for (int t = 0; t < cn->workers; t++) {
        Workspace *ws = &cn->ws[t];
        ws->input = p;
        p += round16(in_floats);
        for (int s = 0; s < bp->n_slots; s++) {
            slot_ptr[s] = p;
            p += round16(bp->slot_size[s]);
        }
        ws->out = xmalloc((size_t)nn * sizeof(float *));
        for (int i = 0; i < nn; i++) ws->out[i] = slot_ptr[bp->slot_of[i]];
        ws->scratch = p;
        p += round16(t == 0 ? scratch0 : scratch1);
    }
    free(slot_ptr);
    cn->direct_w = xcalloc((size_t)nn, sizeof(float *));
    for (int i = 0; i < nn; i++) {
        const PcNode *nd = &net->nodes[i];
        if (direct && nd->op == PC_NODE_CONV && cpu_use_direct(&nd->p.conv, nd->w)) {
            cn->direct_w[i] = p;
            cpu_direct_pack(&nd->p.conv, p);
            p += round16(cpu_direct_pack_floats(&nd->p.conv));
        }
    }
}

PcBackendNet *cpu_net_prepare(PcBackend *be, const PcNet *net, int max_batch, PcError *err) {
    cpu_blas_select_kernel();
    if (max_batch < 1) {
        pc_fail(err, "cpu_net_prepare: max_batch must be >= 1 (got %d)", max_batch);
        return NULL;
    }
    if (!net->loaded) {
        pc_fail(err, "cpu_net_prepare: network %s has no weights loaded", net->spec.arch);
        return NULL;
    }
    const CpuContext *ctx = be ? be->impl : NULL;
    int threads = ctx && ctx->threads > 0 ? ctx->threads : pc_default_threads();
    if (threads > CPU_MAX_THREADS) threads = CPU_MAX_THREADS;
    const int direct = cpu_has_avx512() && !(ctx && ctx->no_direct_conv);
    const int group = choose_group(net, max_batch);
    BufferPlan bp;
    plan_buffers(net, group, direct, &bp);

    // image-parallel passes (cpu_forward) need a workspace per thread, else one is enough
    const int workers = threads > 1 && max_batch >= 2 * threads ? threads : 1;
    size_t scratch0 = bp.scratch * (size_t)threads, scratch1 = bp.scratch;
    if (bp.flat_max > scratch0) scratch0 = bp.flat_max;
    if (bp.flat_max > scratch1) scratch1 = bp.flat_max;
    const size_t in_floats = spatial_floats(net->in_c, net->in_h, net->in_w, group);
    size_t per_worker = round16(in_floats);
    for (int s = 0; s < bp.n_slots; s++) per_worker += round16(bp.slot_size[s]);
    const size_t total = (size_t)workers * per_worker + round16(scratch0) + (size_t)(workers - 1) * round16(scratch1) +
                         bp.packed;

    CpuNet *cn = xcalloc(1, sizeof *cn);
    *cn = (CpuNet){.net = net, .max_batch = max_batch, .threads = threads, .group = group,
                   .arena_floats = total, .workers = workers, .scratch_per_part = bp.scratch};
    if (posix_memalign((void **)&cn->arena, 64, total * sizeof(float)) != 0) {
        pc_fail(err, "cpu_net_prepare: cannot allocate the %.1f MiB workspace of %s at batch %d",
                (double)total * sizeof(float) / 1048576.0, net->spec.arch, max_batch);
        free(cn);
        buffer_plan_free(&bp);
        return NULL;
    }
    carve_arena(cn, &bp, in_floats, scratch0, scratch1, direct);
    buffer_plan_free(&bp);
    return (PcBackendNet *)cn;
}

void cpu_net_release(PcBackend *be, PcBackendNet *bn) {
    (void)be;
    CpuNet *cn = (CpuNet *)bn;
    if (!cn) return;
    for (int t = 0; t < cn->workers; t++) free(cn->ws[t].out);
    free(cn->ws);
    free(cn->arena);
    free(cn->direct_w);
    cpu_quant_free(cn->quant);
    free(cn);
}

void cpu_net_attach_quant(PcBackendNet *bn, CpuQuant *q) {
    CpuNet *cn = (CpuNet *)bn;
    cpu_quant_free(cn->quant);
    cn->quant = q;
    if (!q) return;
    const PcNet *net = cn->net;
    size_t floats = 16;   // the largest 8-bit conv input of a group
    for (int i = 0; i < net->n_nodes; i++) {
        if (q->in_scale[i] == 0.0f) continue;
        int in = net->nodes[i].input;   // >= 0: an 8-bit conv never reads the network input
        size_t f = spatial_floats(net->nodes[in].c, net->nodes[in].h, net->nodes[in].w, cn->group);
        if (f > floats) floats = f;
    }
    q->workers = cn->workers;
    q->qin = xcalloc((size_t)cn->workers, sizeof(float *));
    for (int t = 0; t < cn->workers; t++) q->qin[t] = xmalloc(floats * sizeof(float));
}

int cpu_net_uses_direct(const PcBackendNet *bn, int node) { return ((const CpuNet *)bn)->direct_w[node] != NULL; }

// ---- forward ---------------------------------------------------------------------------------

static void node_in_shape(const PcNet *net, int input, int *c, int *h, int *w) {
    if (input < 0) *c = net->in_c, *h = net->in_h, *w = net->in_w;
    else *c = net->nodes[input].c, *h = net->nodes[input].h, *w = net->nodes[input].w;
}

// Copies node i's output of g images to dst as (N, C, H, W).
static void copy_out(const CpuNet *cn, const Workspace *ws, int i, int g, float *dst) {
    const PcNode *nd = &cn->net->nodes[i];
    const size_t hw = (size_t)nd->h * nd->w;
    if (nd->op == PC_NODE_LINEAR) memcpy(dst, ws->out[i], (size_t)g * nd->c * sizeof(float));
    else to_image_major(ws->out[i], dst, g, nd->c, hw, cpu_ld_pad((long)g * (long)hw));
}

// What one pass writes: logits (or NULL) and taps of the whole batch; a group writes its rows.
typedef struct {
    const CpuNet *cn;
    const float *x;         // (N, 3, H, W), the whole batch
    int n, last;
    int quant;              // the 8-bit convs on
    float *logits;
    int n_taps;
    const int *tap_nodes;
    float *const *taps;
} Pass;

// Runs nodes 0..last for images [i0, i0 + g) on workspace ws, each op split over `parts` threads.
static void run_group(const Pass *ps, const Workspace *ws, int parts, int i0, int g) {
    const CpuNet *cn = ps->cn;
    const PcNet *net = cn->net;
    const size_t in_hw = (size_t)net->in_h * net->in_w;
    to_channel_major(ps->x + (size_t)i0 * net->in_c * in_hw, ws->input, g, net->in_c, in_hw,
                     cpu_ld_pad((long)g * (long)in_hw));
    for (int i = 0; i <= ps->last; i++) {
        const PcNode *nd = &net->nodes[i];
        const float *in = nd->input < 0 ? ws->input : ws->out[nd->input];
        int ic, ih, iw;
        node_in_shape(net, nd->input, &ic, &ih, &iw);
        const long in_cs = cpu_ld_pad((long)g * ih * iw), out_cs = cpu_ld_pad((long)g * nd->h * nd->w);
        CpuPlaneJob pj = {nd, in, nd->input2 >= 0 ? ws->out[nd->input2] : NULL, ws->out[i], g, ih, iw, in_cs, out_cs};
        switch (nd->op) {
        case PC_NODE_CONV: conv_forward(cn, ws, parts, i, in, ih, iw, ws->out[i], g, ps->quant); break;
        case PC_NODE_MAXPOOL: run_parts(parts, cpu_maxpool_part, &pj); break;
        case PC_NODE_ADAPTIVE_AVG: run_parts(parts, cpu_avgpool_part, &pj); break;
        case PC_NODE_ADD: run_parts(parts, cpu_add_part, &pj); break;
        case PC_NODE_LINEAR: {
            const float *xin = in;
            if (nd->input >= 0 && net->nodes[nd->input].op != PC_NODE_LINEAR) {
                // flatten like torch.flatten(x, 1): (C, N, HW) -> (N, C*HW)
                to_image_major(in, ws->scratch, g, ic, (size_t)ih * iw, in_cs);
                xin = ws->scratch;
            }
            CpuLinearJob lj = {nd, xin, ws->out[i], g};
            run_parts(parts, cpu_linear_part, &lj);
            break;
        }
        }
        for (int t = 0; t < ps->n_taps; t++) {
            if (ps->tap_nodes[t] != i) continue;
            const size_t per_image = (size_t)nd->c * nd->h * nd->w;
            copy_out(cn, ws, i, g, ps->taps[t] + (size_t)i0 * per_image);
        }
    }
    if (ps->logits) copy_out(cn, ws, net->n_nodes - 1, g, ps->logits + (size_t)i0 * net->n_classes);
}

// Data-parallel worker: images [n*part/parts, n*(part+1)/parts) in groups, single-threaded ops.
static void images_part(void *arg, int part, int parts) {
    const Pass *ps = arg;
    const int a = (int)cpu_part_begin(ps->n, part, parts), b = (int)cpu_part_begin(ps->n, part + 1, parts);
    for (int i0 = a; i0 < b; i0 += ps->cn->group) {
        int g = b - i0 < ps->cn->group ? b - i0 : ps->cn->group;
        run_group(ps, &ps->cn->ws[part], 1, i0, g);
    }
}

// Batches of at least two images per thread are split across the threads by image, each running
// whole groups through the network on its own workspace: no synchronisation inside the pass.
// Smaller batches run group by group with every layer split across the threads.
int cpu_forward(PcBackend *be, PcBackendNet *bn, const float *x, int n, float *logits, int n_taps,
                const int *tap_nodes, float *const *taps, PcError *err) {
    return cpu_forward_ex(be, bn, x, n, logits, n_taps, tap_nodes, taps, 1, err);
}

int cpu_forward_ex(PcBackend *be, PcBackendNet *bn, const float *x, int n, float *logits, int n_taps,
                   const int *tap_nodes, float *const *taps, int quant, PcError *err) {
    CpuNet *cn = (CpuNet *)bn;
    const PcNet *net = cn->net;
    if (n < 1 || n > cn->max_batch)
        return pc_fail(err, "cpu_forward: batch of %d images, prepared for 1..%d", n, cn->max_batch);
    const CpuContext *ctx = be ? be->impl : NULL;
    const size_t in_bytes = (size_t)n * net->in_c * net->in_h * net->in_w * sizeof(float);
    if (ctx && ctx->max_alloc && in_bytes > ctx->max_alloc) {   // the simulated memory limit
        pc_fail(err, "cpu_forward: batch of %d images over the memory limit (%zu bytes)", n, ctx->max_alloc);
        return PC_ERR_OOM;
    }
    int last = logits ? net->n_nodes - 1 : -1;
    for (int t = 0; t < n_taps; t++) {
        if (tap_nodes[t] < 0 || tap_nodes[t] >= net->n_nodes)
            return pc_fail(err, "cpu_forward: tap node %d out of range (0..%d)", tap_nodes[t], net->n_nodes - 1);
        if (tap_nodes[t] > last) last = tap_nodes[t];
    }
    if (last < 0) return 0;
    if (logits && net->nodes[net->n_nodes - 1].op != PC_NODE_LINEAR)
        return pc_fail(err, "cpu_forward: %s does not end in a linear layer", net->spec.arch);

    // Our threads each run single-threaded GEMMs; restore OpenBLAS's setting afterwards.
    int blas_threads = openblas_get_num_threads();
    if (cn->threads > 1 && blas_threads != 1) openblas_set_num_threads(1);

    Pass ps = {cn, x, n, last, quant, logits, n_taps, tap_nodes, taps};
    if (cn->workers > 1 && n >= 2 * cn->threads) {
        run_parts(cn->threads, images_part, &ps);
    } else {
        for (int i0 = 0; i0 < n; i0 += cn->group) {
            int g = n - i0 < cn->group ? n - i0 : cn->group;
            run_group(&ps, &cn->ws[0], cn->threads, i0, g);
        }
    }

    if (cn->threads > 1 && blas_threads != 1) openblas_set_num_threads(blas_threads);
    return 0;
}

// ---- for cpu_backward.c ----------------------------------------------------------------------

const PcNet *cpu_net_of(const PcBackendNet *bn, int *max_batch) {
    const CpuNet *cn = (const CpuNet *)bn;
    if (max_batch) *max_batch = cn->max_batch;
    return cn->net;
}

void cpu_run_parts(int parts, CpuPartFn fn, void *arg) { run_parts(parts, fn, arg); }
