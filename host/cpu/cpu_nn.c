// cpu_nn.c: the CPU forward pass of a PcNet for a batch of images.
//
// Layout: inside the pass every spatial activation is stored channel-major, (C, G, H, W) for a
// group of G images, so a convolution is ONE matrix product  out (Cout, G*OH*OW) = W (Cout, K) x
// cols (K, G*OH*OW)  with K = Cin*k*k, and a 1x1 stride-1 convolution needs no im2col at all (its
// input already is the column matrix). The channel stride is G*H*W rounded up to an odd number of
// 64-byte lines (ld_pad): with 224 x 224 planes it would otherwise be a multiple of 4 KiB and the
// rows of every channel would fall into the same L1 sets. Linear nodes hold (G, C). Inputs and
// taps are converted from / to (N, C, H, W) at the edges.
//
// Convolutions: few-channel layers with long rows (Cout <= 64, stride 1 or 2) run a direct AVX-512
// kernel that reads the input in place; the others im2col + sgemm on cache-sized chunks, then
// bias + ReLU on the chunk while it is in cache.
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
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cpu_internal.h"

#define CPU_MAX_THREADS 64
// im2col chunk per thread, in floats (4 MiB): stays in the last-level cache between the im2col
// write and the GEMM's read, and still gives GEMMs of several thousand columns.
#define IM2COL_CHUNK_FLOATS ((size_t)1 << 20)
// Below this many output columns per thread a convolution splits its channels instead.
#define MIN_COLS_PER_THREAD 512

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

// Leading dimension for n floats: a multiple of 16 floats that is an odd number of 64-byte lines,
// so consecutive rows / channels map to different L1 sets.
static long ld_pad(long n) {
    long lines = (n + 15) / 16;
    return 16 * (lines | 1);
}

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

static inline long part_begin(long n, int part, int parts) { return n * part / parts; }

// ---- im2col + GEMM convolution ---------------------------------------------------------------

// One convolution of n images: in (Cin, N, H, W), channel stride in_cs -> out (Cout, N, OH, OW),
// channel stride out_cs.
typedef struct {
    const PcNode *nd;
    const float *weight;    // (Cout, Cin, k, k): the node's, or its fake-quantised copy (8-bit)
    const float *in;
    float *out;
    int n, in_h, in_w;
    long in_cs, out_cs;
    float *scratch;
    size_t scratch_per_part;
    long chunk_r0, chunk_r1, chunk_ld;   // channel-split mode: rows of the current chunk
} ConvJob;

// Column matrix of output rows [r0, r1) (r = img * OH + oy): rows (ci, ky, kx) of dst, leading
// dimension ld, starting at column 0.
static void im2col_rows(const ConvJob *j, long r0, long r1, float *dst, long ld) {
    const PcConvParams *c = &j->nd->p.conv;
    const int h = j->in_h, w = j->in_w, oh = j->nd->h, ow = j->nd->w;
    const size_t plane = (size_t)h * w;
    const int k = c->k, s = c->stride, pad = c->pad;
    for (int ci = 0; ci < c->cin; ci++) {
        for (int ky = 0; ky < k; ky++) {
            for (int kx = 0; kx < k; kx++) {
                float *d = dst + ((size_t)(ci * k + ky) * k + kx) * ld;
                // valid output columns: 0 <= ox*s - pad + kx < w
                int lo = 0, hi = ow;
                while (lo < ow && lo * s - pad + kx < 0) lo++;
                while (hi > lo && (hi - 1) * s - pad + kx >= w) hi--;
                for (long r = r0; r < r1; r++) {
                    float *drow = d + (r - r0) * ow;
                    int img = (int)(r / oh), oy = (int)(r % oh);
                    int iy = oy * s - pad + ky;
                    if (iy < 0 || iy >= h) {
                        memset(drow, 0, (size_t)ow * sizeof(float));
                        continue;
                    }
                    const float *srow = j->in + ci * j->in_cs + img * plane + (size_t)iy * w;
                    if (lo) memset(drow, 0, (size_t)lo * sizeof(float));
                    if (s == 1) {
                        memcpy(drow + lo, srow + lo - pad + kx, (size_t)(hi - lo) * sizeof(float));
                    } else {
                        for (int ox = lo; ox < hi; ox++) drow[ox] = srow[ox * s - pad + kx];
                    }
                    if (hi < ow) memset(drow + hi, 0, (size_t)(ow - hi) * sizeof(float));
                }
            }
        }
    }
}

// rows [m0, m1) of out (M, ld), ncols columns: out = out + bias (+ ReLU). NaN stays NaN as in
// PyTorch's relu.
static void bias_act(float *out, int m0, int m1, long ncols, long ld, const float *bias, int relu) {
    for (int m = m0; m < m1; m++) {
        float *row = out + (size_t)m * ld;
        const float b = bias[m];
        if (relu) {
            for (long j = 0; j < ncols; j++) {
                float v = row[j] + b;
                row[j] = v < 0.0f ? 0.0f : v;
            }
        } else {
            for (long j = 0; j < ncols; j++) row[j] += b;
        }
    }
}

// Output rows per im2col chunk: the (kk, ld_pad(rows * ow)) column matrix must fit in budget
// floats (prepare sizes budget for at least one row: kk * ld_pad(ow)).
static long chunk_rows(size_t budget, size_t kk, int ow) {
    long rows = ((long)(budget / kk) - 31) / ow;   // ld_pad(x) <= x + 31
    return rows < 1 ? 1 : rows;
}

static int conv_is_pointwise(const PcConvParams *c) { return c->k == 1 && c->stride == 1 && c->pad == 0; }

// Column split: this part computes output rows [r0, r1) of every channel, chunk by chunk.
static void conv_cols_part(void *arg, int part, int parts) {
    const ConvJob *j = arg;
    const PcNode *nd = j->nd;
    const PcConvParams *c = &nd->p.conv;
    const int oh = nd->h, ow = nd->w, kk = c->cin * c->k * c->k;
    const long rows = (long)j->n * oh;
    const long r0 = part_begin(rows, part, parts), r1 = part_begin(rows, part + 1, parts);
    float *scratch = j->scratch + (size_t)part * j->scratch_per_part;
    const long rows_per_chunk = chunk_rows(j->scratch_per_part, kk, ow);
    for (long r = r0; r < r1; r += rows_per_chunk) {
        long re = r + rows_per_chunk < r1 ? r + rows_per_chunk : r1;
        long ncols = (re - r) * ow, j0 = r * ow;
        const float *b;
        long ldb;
        if (conv_is_pointwise(c)) {
            b = j->in + j0;
            ldb = j->in_cs;
        } else {
            ldb = ld_pad(ncols);
            im2col_rows(j, r, re, scratch, ldb);
            b = scratch;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->cout, (int)ncols, kk, 1.0f, j->weight,
                    kk, b, (int)ldb, 0.0f, j->out + j0, (int)j->out_cs);
        bias_act(j->out + j0, 0, c->cout, ncols, j->out_cs, c->bias, nd->relu);
    }
}

// Channel split, phase 1: the parts share the im2col of the chunk's rows.
static void conv_im2col_part(void *arg, int part, int parts) {
    const ConvJob *j = arg;
    const long rows = j->chunk_r1 - j->chunk_r0;
    const long a = part_begin(rows, part, parts), b = part_begin(rows, part + 1, parts);
    if (a < b) im2col_rows(j, j->chunk_r0 + a, j->chunk_r0 + b, j->scratch + a * j->nd->w, j->chunk_ld);
}

// Channel split, phase 2: this part computes output channels [m0, m1) of the chunk's columns.
static void conv_chan_part(void *arg, int part, int parts) {
    const ConvJob *j = arg;
    const PcNode *nd = j->nd;
    const PcConvParams *c = &nd->p.conv;
    const int kk = c->cin * c->k * c->k;
    const int m0 = (int)part_begin(c->cout, part, parts), m1 = (int)part_begin(c->cout, part + 1, parts);
    if (m0 == m1) return;
    const long ncols = (j->chunk_r1 - j->chunk_r0) * nd->w, j0 = j->chunk_r0 * nd->w;
    const float *b = conv_is_pointwise(c) ? j->in + j0 : j->scratch;
    const long ldb = conv_is_pointwise(c) ? j->in_cs : j->chunk_ld;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m1 - m0, (int)ncols, kk, 1.0f,
                j->weight + (size_t)m0 * kk, kk, b, (int)ldb, 0.0f, j->out + (size_t)m0 * j->out_cs + j0,
                (int)j->out_cs);
    bias_act(j->out + j0, m0, m1, ncols, j->out_cs, c->bias, nd->relu);
}

// quant: the 8-bit convs run fake-quantised (cpu_quant.c): the input rounded into the worker's qin
// first, the conv then reads it and the fake-quantised weights.
static void conv_forward(const CpuNet *cn, const Workspace *ws, int parts, int node, const float *in, int in_h,
                         int in_w, float *out, int n, int quant) {
    const PcNode *nd = &cn->net->nodes[node];
    const long in_cs = ld_pad((long)n * in_h * in_w), out_cs = ld_pad((long)n * nd->h * nd->w);
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
    ConvJob job = {nd, weight, in, out, n, in_h, in_w, in_cs, out_cs, ws->scratch, cn->scratch_per_part, 0, 0, 0};
    const long rows = (long)n * nd->h, cols_total = rows * nd->w;
    if (parts <= 1 || cols_total >= (long)MIN_COLS_PER_THREAD * parts) {
        run_parts(parts, conv_cols_part, &job);
        return;
    }
    // Few columns: share one column matrix, split the output channels.
    const size_t kk = (size_t)nd->p.conv.cin * nd->p.conv.k * nd->p.conv.k;
    const long rows_per_chunk = chunk_rows(cn->scratch_per_part * (size_t)parts, kk, nd->w);
    for (long r = 0; r < rows; r += rows_per_chunk) {
        job.chunk_r0 = r;
        job.chunk_r1 = r + rows_per_chunk < rows ? r + rows_per_chunk : rows;
        job.chunk_ld = ld_pad((job.chunk_r1 - r) * nd->w);
        if (!conv_is_pointwise(&nd->p.conv)) run_parts(parts, conv_im2col_part, &job);
        run_parts(parts, conv_chan_part, &job);
    }
}

// ---- pooling, residual add, linear -----------------------------------------------------------

// One plane-wise op over (C, N, H, W) tensors; in2 only for the residual add.
typedef struct {
    const PcNode *nd;
    const float *in, *in2;
    float *out;
    int n, in_h, in_w;
    long in_cs, out_cs;
} PlaneJob;

static inline float max_nan(float a, float b) { return (a > b || a != a) ? a : b; }

// Max pooling with implicit -inf padding (padded positions never win), floor output size, NaN
// propagating as in PyTorch. 2x2 / stride 2 (every VGG pool) has its own loop.
static void maxpool_part(void *arg, int part, int parts) {
    const PlaneJob *j = arg;
    const PcNode *nd = j->nd;
    const int k = nd->p.pool.k, s = nd->p.pool.stride, pad = nd->p.pool.pad;
    const int h = j->in_h, w = j->in_w, oh = nd->h, ow = nd->w;
    const long planes = (long)nd->c * j->n;
    for (long p = part_begin(planes, part, parts); p < part_begin(planes, part + 1, parts); p++) {
        const long ch = p / j->n, img = p % j->n;
        const float *src = j->in + ch * j->in_cs + img * (size_t)h * w;
        float *dst = j->out + ch * j->out_cs + img * (size_t)oh * ow;
        if (k == 2 && s == 2 && pad == 0) {
            for (int oy = 0; oy < oh; oy++) {
                const float *r0 = src + (size_t)2 * oy * w, *r1 = r0 + w;
                float *o = dst + (size_t)oy * ow;
                for (int ox = 0; ox < ow; ox++)
                    o[ox] = max_nan(max_nan(r0[2 * ox], r0[2 * ox + 1]), max_nan(r1[2 * ox], r1[2 * ox + 1]));
            }
            continue;
        }
        // general case, a window row at a time: columns ox with 0 <= ox*s - pad + kx < w
        for (int oy = 0; oy < oh; oy++) {
            float *o = dst + (size_t)oy * ow;
            for (int ox = 0; ox < ow; ox++) o[ox] = -__builtin_inff();
            for (int ky = 0; ky < k; ky++) {
                const int y = oy * s - pad + ky;
                if (y < 0 || y >= h) continue;
                const float *r = src + (size_t)y * w;
                for (int kx = 0; kx < k; kx++) {
                    int lo = 0, hi = ow;
                    while (lo < ow && lo * s - pad + kx < 0) lo++;
                    while (hi > lo && (hi - 1) * s - pad + kx >= w) hi--;
                    for (int ox = lo; ox < hi; ox++) o[ox] = max_nan(r[ox * s - pad + kx], o[ox]);
                }
            }
        }
    }
}

// Adaptive average pooling, PyTorch bins: [floor(i*in/out), ceil((i+1)*in/out)).
static void avgpool_part(void *arg, int part, int parts) {
    const PlaneJob *j = arg;
    const PcNode *nd = j->nd;
    const int h = j->in_h, w = j->in_w, oh = nd->h, ow = nd->w;
    const long planes = (long)nd->c * j->n;
    for (long p = part_begin(planes, part, parts); p < part_begin(planes, part + 1, parts); p++) {
        const long ch = p / j->n, img = p % j->n;
        const float *src = j->in + ch * j->in_cs + img * (size_t)h * w;
        float *dst = j->out + ch * j->out_cs + img * (size_t)oh * ow;
        for (int oy = 0; oy < oh; oy++) {
            int y0 = oy * h / oh, y1 = ((oy + 1) * h + oh - 1) / oh;
            for (int ox = 0; ox < ow; ox++) {
                int x0 = ox * w / ow, x1 = ((ox + 1) * w + ow - 1) / ow;
                float sum = 0.0f;
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) sum += src[y * w + x];
                dst[oy * ow + ox] = sum / (float)((y1 - y0) * (x1 - x0));
            }
        }
    }
}

// out = relu(in + in2); the three tensors share one shape and channel stride.
static void add_part(void *arg, int part, int parts) {
    const PlaneJob *j = arg;
    const PcNode *nd = j->nd;
    const long per_chan = (long)j->n * nd->h * nd->w;
    for (long ch = part_begin(nd->c, part, parts); ch < part_begin(nd->c, part + 1, parts); ch++) {
        const float *a = j->in + ch * j->in_cs, *b = j->in2 + ch * j->in_cs;
        float *o = j->out + ch * j->out_cs;
        if (nd->relu) {
            for (long i = 0; i < per_chan; i++) {
                float v = a[i] + b[i];
                o[i] = v < 0.0f ? 0.0f : v;
            }
        } else {
            for (long i = 0; i < per_chan; i++) o[i] = a[i] + b[i];
        }
    }
}

typedef struct {
    const PcNode *nd;
    const float *x;         // (N, in)
    float *y;               // (N, out)
    int n;
} LinearJob;

// This part computes output features [o0, o1) of every image.
static void linear_part(void *arg, int part, int parts) {
    const LinearJob *j = arg;
    const PcLinearParams *lp = &j->nd->p.linear;
    const int o0 = (int)part_begin(lp->out, part, parts), o1 = (int)part_begin(lp->out, part + 1, parts);
    if (o0 == o1) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->n, o1 - o0, lp->in, 1.0f, j->x, lp->in,
                lp->weight + (size_t)o0 * lp->in, lp->in, 0.0f, j->y + o0, lp->out);
    for (int i = 0; i < j->n; i++) {
        float *row = j->y + (size_t)i * lp->out;
        for (int o = o0; o < o1; o++) {
            float v = row[o] + lp->bias[o];
            row[o] = (j->nd->relu && v < 0.0f) ? 0.0f : v;
        }
    }
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

// Floats of a (C, N, H, W) buffer for up to g images, channel stride ld_pad(N*H*W) (ld_pad is
// monotonic, so the size for g covers every smaller group).
static size_t spatial_floats(int c, int h, int w, int g) { return (size_t)c * (size_t)ld_pad((long)g * h * w); }

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
            size_t row = (size_t)nd->p.conv.cin * nd->p.conv.k * nd->p.conv.k * ld_pad(nd->w);
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
    else to_image_major(ws->out[i], dst, g, nd->c, hw, ld_pad((long)g * (long)hw));
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
                     ld_pad((long)g * (long)in_hw));
    for (int i = 0; i <= ps->last; i++) {
        const PcNode *nd = &net->nodes[i];
        const float *in = nd->input < 0 ? ws->input : ws->out[nd->input];
        int ic, ih, iw;
        node_in_shape(net, nd->input, &ic, &ih, &iw);
        const long in_cs = ld_pad((long)g * ih * iw), out_cs = ld_pad((long)g * nd->h * nd->w);
        PlaneJob pj = {nd, in, nd->input2 >= 0 ? ws->out[nd->input2] : NULL, ws->out[i], g, ih, iw, in_cs, out_cs};
        switch (nd->op) {
        case PC_NODE_CONV: conv_forward(cn, ws, parts, i, in, ih, iw, ws->out[i], g, ps->quant); break;
        case PC_NODE_MAXPOOL: run_parts(parts, maxpool_part, &pj); break;
        case PC_NODE_ADAPTIVE_AVG: run_parts(parts, avgpool_part, &pj); break;
        case PC_NODE_ADD: run_parts(parts, add_part, &pj); break;
        case PC_NODE_LINEAR: {
            const float *xin = in;
            if (nd->input >= 0 && net->nodes[nd->input].op != PC_NODE_LINEAR) {
                // flatten like torch.flatten(x, 1): (C, N, HW) -> (N, C*HW)
                to_image_major(in, ws->scratch, g, ic, (size_t)ih * iw, in_cs);
                xin = ws->scratch;
            }
            LinearJob lj = {nd, xin, ws->out[i], g};
            run_parts(parts, linear_part, &lj);
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
    const int a = (int)part_begin(ps->n, part, parts), b = (int)part_begin(ps->n, part + 1, parts);
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
