// cpu_nn.c: the CPU forward pass of a PcNet for a batch of images.
//
// Layout: inside the pass every spatial activation is stored channel-major, (C, N, H, W), so a
// convolution of the whole batch is ONE matrix product  out (Cout, N*OH*OW) = W (Cout, K) x
// cols (K, N*OH*OW)  with K = Cin*k*k: large GEMMs even at batch 1 for the early layers, and a
// 1x1 stride-1 convolution needs no im2col at all (its input already is the column matrix).
// Linear nodes hold (N, C). Inputs and taps are converted from / to (N, C, H, W) at the edges.
//
// Threads: the caller's T threads each take a contiguous slice of the output columns and run
// im2col -> single-threaded sgemm -> bias + ReLU on cache-sized chunks of it, so no thread waits
// on another inside a layer. (OpenBLAS is set to one thread for the duration of the pass; letting
// it split every small GEMM cost more in synchronisation than it gained.) When a layer has too few
// columns to share (late layers at small batch), the threads split the output channels instead.
//
// Workspace: cpu_net_prepare plans, for max_batch images, which node outputs can share a buffer
// (an output's buffer is reused once its last reader has run; a residual add writes in place)
// and allocates ONE arena holding the input copy, those buffers and the per-thread im2col chunks.
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
// Below this many output columns per thread a convolution splits its channels instead.
#define MIN_COLS_PER_THREAD 512

typedef struct {
    const PcNet *net;       // not owned; must outlive this struct (its params are used in place)
    int max_batch;
    int threads;
    float *arena;
    size_t arena_floats;
    float *input;           // (3, N, H, W) channel-major copy of x
    float **out;            // per node: (C, N, H, W) spatial, or (N, C) for linear nodes
    float *scratch;         // im2col chunks (threads x scratch_per_thread) or the flattened input
    size_t scratch_per_thread;
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

static inline long part_begin(long n, int part, int parts) { return n * part / parts; }

// ---- convolution -----------------------------------------------------------------------------

// Column matrix rows (ci, ky, kx) x columns of output rows [r0, r1) (r = img * OH + oy):
// in (C, N, H, W) -> dst (Cin*k*k, (r1 - r0) * OW)
static void im2col_rows(const float *in, const PcConvParams *c, int n, int h, int w, int oh, int ow,
                        long r0, long r1, float *dst) {
    const long ncols = (r1 - r0) * ow;
    const size_t plane = (size_t)h * w, chan = (size_t)n * plane;
    const int k = c->k, s = c->stride, pad = c->pad;
    for (int ci = 0; ci < c->cin; ci++) {
        for (int ky = 0; ky < k; ky++) {
            for (int kx = 0; kx < k; kx++) {
                float *d = dst + ((size_t)(ci * k + ky) * k + kx) * ncols;
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
                    const float *srow = in + ci * chan + img * plane + (size_t)iy * w;
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

typedef struct {
    const PcNode *nd;
    const float *in;        // (Cin, N, H, W)
    float *out;             // (Cout, N, OH, OW)
    int n, in_h, in_w;
    float *scratch;
    size_t scratch_per_part;
    long chunk_r0, chunk_r1;   // channel-split mode: the output rows of the current chunk
} ConvJob;

static int conv_is_pointwise(const PcConvParams *c) { return c->k == 1 && c->stride == 1 && c->pad == 0; }

// Column split: this part computes output rows [r0, r1) of every channel, chunk by chunk.
static void conv_cols_part(void *arg, int part, int parts) {
    const ConvJob *j = arg;
    const PcNode *nd = j->nd;
    const PcConvParams *c = &nd->p.conv;
    const int oh = nd->h, ow = nd->w, kk = c->cin * c->k * c->k;
    const long rows = (long)j->n * oh, cols_total = rows * ow;
    const long r0 = part_begin(rows, part, parts), r1 = part_begin(rows, part + 1, parts);
    float *scratch = j->scratch + (size_t)part * j->scratch_per_part;
    long rows_per_chunk = (long)(j->scratch_per_part / ((size_t)kk * ow));
    if (rows_per_chunk < 1) rows_per_chunk = 1;
    for (long r = r0; r < r1; r += rows_per_chunk) {
        long re = r + rows_per_chunk < r1 ? r + rows_per_chunk : r1;
        long ncols = (re - r) * ow, j0 = r * ow;
        const float *b;
        long ldb;
        if (conv_is_pointwise(c)) {
            b = j->in + j0;
            ldb = cols_total;
        } else {
            im2col_rows(j->in, c, j->n, j->in_h, j->in_w, oh, ow, r, re, scratch);
            b = scratch;
            ldb = ncols;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->cout, (int)ncols, kk, 1.0f, c->weight,
                    kk, b, (int)ldb, 0.0f, j->out + j0, (int)cols_total);
        bias_act(j->out + j0, 0, c->cout, ncols, cols_total, c->bias, nd->relu);
    }
}

// Channel split, phase 1: the parts share the im2col of the chunk's rows.
static void conv_im2col_part(void *arg, int part, int parts) {
    const ConvJob *j = arg;
    const PcNode *nd = j->nd;
    const long rows = j->chunk_r1 - j->chunk_r0;
    const long a = j->chunk_r0 + part_begin(rows, part, parts);
    const long b = j->chunk_r0 + part_begin(rows, part + 1, parts);
    if (a == b) return;
    const int kk = nd->p.conv.cin * nd->p.conv.k * nd->p.conv.k;
    // Row-block [a, b) of a (K, chunk_cols) matrix is not contiguous: write it as its own
    // (K, (b-a)*OW) matrix and let the GEMM read the pieces through per-part pointers.
    float *dst = j->scratch + (size_t)kk * (a - j->chunk_r0) * nd->w;
    im2col_rows(j->in, &nd->p.conv, j->n, j->in_h, j->in_w, nd->h, nd->w, a, b, dst);
}

// Channel split, phase 2: this part computes output channels [m0, m1) of the chunk's columns.
static void conv_chan_part(void *arg, int part, int parts) {
    const ConvJob *j = arg;
    const PcNode *nd = j->nd;
    const PcConvParams *c = &nd->p.conv;
    const int ow = nd->w, kk = c->cin * c->k * c->k;
    const long cols_total = (long)j->n * nd->h * ow;
    const int m0 = (int)part_begin(c->cout, part, parts), m1 = (int)part_begin(c->cout, part + 1, parts);
    if (m0 == m1) return;
    const long rows = j->chunk_r1 - j->chunk_r0;
    // The column matrix was written in `parts` row blocks (conv_im2col_part); multiply each.
    for (int q = 0; q < parts; q++) {
        const long a = part_begin(rows, q, parts), b = part_begin(rows, q + 1, parts);
        if (a == b) continue;
        const long ncols = (b - a) * ow, j0 = (j->chunk_r0 + a) * ow;
        const float *bm;
        long ldb;
        if (conv_is_pointwise(c)) {
            bm = j->in + j0;
            ldb = cols_total;
        } else {
            bm = j->scratch + (size_t)kk * a * ow;
            ldb = ncols;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m1 - m0, (int)ncols, kk, 1.0f,
                    c->weight + (size_t)m0 * kk, kk, bm, (int)ldb, 0.0f,
                    j->out + (size_t)m0 * cols_total + j0, (int)cols_total);
        bias_act(j->out + j0, m0, m1, ncols, cols_total, c->bias, nd->relu);
    }
}

static void conv_forward(CpuNet *cn, const PcNode *nd, const float *in, int in_h, int in_w, float *out,
                         int n) {
    ConvJob job = {nd, in, out, n, in_h, in_w, cn->scratch, cn->scratch_per_thread, 0, 0};
    const long rows = (long)n * nd->h, cols_total = rows * nd->w;
    int parts = cn->threads;
    if (parts <= 1 || cols_total >= (long)MIN_COLS_PER_THREAD * parts) {
        run_parts(parts, conv_cols_part, &job);
        return;
    }
    // Few columns: share one column matrix, split the output channels.
    const size_t kk = (size_t)nd->p.conv.cin * nd->p.conv.k * nd->p.conv.k;
    const size_t total_scratch = cn->scratch_per_thread * (size_t)cn->threads;
    long rows_per_chunk = (long)(total_scratch / (kk * (size_t)nd->w));
    if (rows_per_chunk < 1) rows_per_chunk = 1;
    for (long r = 0; r < rows; r += rows_per_chunk) {
        job.chunk_r0 = r;
        job.chunk_r1 = r + rows_per_chunk < rows ? r + rows_per_chunk : rows;
        if (!conv_is_pointwise(&nd->p.conv)) run_parts(parts, conv_im2col_part, &job);
        run_parts(parts, conv_chan_part, &job);
    }
}

// ---- pooling, residual add, linear -----------------------------------------------------------

typedef struct {
    const PcNode *nd;
    const float *in, *in2;
    float *out;
    int n, in_h, in_w;
} PlaneJob;

// Max pooling with implicit -inf padding (padded positions never win), floor output size.
static void maxpool_part(void *arg, int part, int parts) {
    const PlaneJob *j = arg;
    const PcNode *nd = j->nd;
    const int k = nd->p.pool.k, s = nd->p.pool.stride, pad = nd->p.pool.pad;
    const int h = j->in_h, w = j->in_w, oh = nd->h, ow = nd->w;
    const long planes = (long)nd->c * j->n;
    for (long p = part_begin(planes, part, parts); p < part_begin(planes, part + 1, parts); p++) {
        const float *src = j->in + (size_t)p * h * w;
        float *dst = j->out + (size_t)p * oh * ow;
        for (int oy = 0; oy < oh; oy++) {
            int y0 = oy * s - pad, y1 = y0 + k;
            if (y0 < 0) y0 = 0;
            if (y1 > h) y1 = h;
            for (int ox = 0; ox < ow; ox++) {
                int x0 = ox * s - pad, x1 = x0 + k;
                if (x0 < 0) x0 = 0;
                if (x1 > w) x1 = w;
                float m = -__builtin_inff();
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) {
                        float v = src[y * w + x];
                        // NaN propagates, as in PyTorch
                        if (v > m || v != v) m = v;
                    }
                dst[oy * ow + ox] = m;
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
        const float *src = j->in + (size_t)p * h * w;
        float *dst = j->out + (size_t)p * oh * ow;
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

static void add_part(void *arg, int part, int parts) {
    const PlaneJob *j = arg;
    const PcNode *nd = j->nd;
    const long total = (long)nd->c * j->n * nd->h * nd->w;
    const long a = part_begin(total, part, parts), b = part_begin(total, part + 1, parts);
    if (nd->relu) {
        for (long i = a; i < b; i++) {
            float v = j->in[i] + j->in2[i];
            j->out[i] = v < 0.0f ? 0.0f : v;
        }
    } else {
        for (long i = a; i < b; i++) j->out[i] = j->in[i] + j->in2[i];
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

// (N, C, HW) <-> (C, N, HW): dir 0 = to channel-major, 1 = back.
static void swap_nc(const float *src, float *dst, int n, int c, size_t hw, int to_nchw) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            size_t nchw = ((size_t)i * c + ch) * hw, cnhw = ((size_t)ch * n + i) * hw;
            if (to_nchw) memcpy(dst + nchw, src + cnhw, hw * sizeof(float));
            else memcpy(dst + cnhw, src + nchw, hw * sizeof(float));
        }
}

// ---- prepare / release -----------------------------------------------------------------------

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

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

    const int nn = net->n_nodes;
    // Buffer plan: last reader of every node output, then greedy reuse of free buffers.
    int *last_use = xmalloc((size_t)nn * sizeof(int));
    int *slot_of = xmalloc((size_t)nn * sizeof(int));
    int *slot_busy = xmalloc((size_t)nn * sizeof(int));    // last node reading the slot's content
    size_t *slot_size = xcalloc((size_t)nn, sizeof(size_t));
    int n_slots = 0;
    for (int i = 0; i < nn; i++) last_use[i] = i;
    for (int i = 0; i < nn; i++) {
        if (net->nodes[i].input >= 0) last_use[net->nodes[i].input] = i;
        if (net->nodes[i].input2 >= 0) last_use[net->nodes[i].input2] = i;
    }
    size_t scratch = IM2COL_CHUNK_FLOATS, flat_max = 0;
    for (int i = 0; i < nn; i++) {
        const PcNode *nd = &net->nodes[i];
        size_t need = (size_t)nd->c * nd->h * nd->w * (size_t)max_batch;
        if (nd->op == PC_NODE_CONV) {
            // at least one output row of columns per chunk
            size_t row = (size_t)nd->p.conv.cin * nd->p.conv.k * nd->p.conv.k * nd->w;
            if (row > scratch) scratch = row;
        } else if (nd->op == PC_NODE_LINEAR) {
            size_t flat = (size_t)nd->p.linear.in * (size_t)max_batch;
            if (flat > flat_max) flat_max = flat;
        }
        int s = -1;
        if (nd->op == PC_NODE_ADD && nd->input >= 0 && last_use[nd->input] == i) {
            s = slot_of[nd->input];   // in place: out[i] = a[i] + b[i] reads before it writes
        } else {
            for (int t = 0; t < n_slots; t++) {
                if (slot_busy[t] >= i) continue;
                // best fit among free slots: smallest that is big enough, else the largest
                if (s < 0) s = t;
                else if (slot_size[t] >= need ? (slot_size[s] < need || slot_size[t] < slot_size[s])
                                              : (slot_size[s] < need && slot_size[t] > slot_size[s]))
                    s = t;
            }
            if (s < 0) s = n_slots++;
        }
        if (slot_size[s] < need) slot_size[s] = need;
        slot_of[i] = s;
        slot_busy[s] = last_use[i];
    }
    size_t scratch_total = scratch * (size_t)threads;
    if (flat_max > scratch_total) scratch_total = flat_max;
    size_t in_floats = (size_t)net->in_c * net->in_h * net->in_w * (size_t)max_batch;
    size_t total = round16(in_floats) + round16(scratch_total);
    for (int s = 0; s < n_slots; s++) total += round16(slot_size[s]);

    CpuNet *cn = xcalloc(1, sizeof *cn);
    cn->net = net;
    cn->max_batch = max_batch;
    cn->threads = threads;
    cn->arena_floats = total;
    if (posix_memalign((void **)&cn->arena, 64, total * sizeof(float)) != 0) {
        pc_fail(err, "cpu_net_prepare: cannot allocate the %.1f MiB workspace of %s at batch %d",
                (double)total * sizeof(float) / 1048576.0, net->spec.arch, max_batch);
        free(cn);
        free(last_use), free(slot_of), free(slot_busy), free(slot_size);
        return NULL;
    }
    float *p = cn->arena;
    cn->input = p;
    p += round16(in_floats);
    cn->scratch = p;
    cn->scratch_per_thread = scratch;
    p += round16(scratch_total);
    float **slot_ptr = xmalloc((size_t)(n_slots ? n_slots : 1) * sizeof(float *));
    for (int s = 0; s < n_slots; s++) {
        slot_ptr[s] = p;
        p += round16(slot_size[s]);
    }
    cn->out = xmalloc((size_t)nn * sizeof(float *));
    for (int i = 0; i < nn; i++) cn->out[i] = slot_ptr[slot_of[i]];
    free(slot_ptr);
    free(last_use), free(slot_of), free(slot_busy), free(slot_size);
    return (PcBackendNet *)cn;
}

void cpu_net_release(PcBackend *be, PcBackendNet *bn) {
    (void)be;
    CpuNet *cn = (CpuNet *)bn;
    if (!cn) return;
    free(cn->arena);
    free(cn->out);
    free(cn);
}

// ---- forward ---------------------------------------------------------------------------------

static void node_in_shape(const PcNet *net, int input, int *c, int *h, int *w) {
    if (input < 0) *c = net->in_c, *h = net->in_h, *w = net->in_w;
    else *c = net->nodes[input].c, *h = net->nodes[input].h, *w = net->nodes[input].w;
}

// Copies node i's output of n images to dst as (N, C, H, W).
static void copy_out(const CpuNet *cn, int i, int n, float *dst) {
    const PcNode *nd = &cn->net->nodes[i];
    if (nd->op == PC_NODE_LINEAR) memcpy(dst, cn->out[i], (size_t)n * nd->c * sizeof(float));
    else swap_nc(cn->out[i], dst, n, nd->c, (size_t)nd->h * nd->w, 1);
}

int cpu_forward(PcBackend *be, PcBackendNet *bn, const float *x, int n, float *logits, int n_taps,
                const int *tap_nodes, float *const *taps, PcError *err) {
    (void)be;
    CpuNet *cn = (CpuNet *)bn;
    const PcNet *net = cn->net;
    if (n < 1 || n > cn->max_batch)
        return pc_fail(err, "cpu_forward: batch of %d images, prepared for 1..%d", n, cn->max_batch);
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

    swap_nc(x, cn->input, n, net->in_c, (size_t)net->in_h * net->in_w, 0);
    for (int i = 0; i <= last; i++) {
        const PcNode *nd = &net->nodes[i];
        const float *in = nd->input < 0 ? cn->input : cn->out[nd->input];
        int ic, ih, iw;
        node_in_shape(net, nd->input, &ic, &ih, &iw);
        PlaneJob pj = {nd, in, nd->input2 >= 0 ? cn->out[nd->input2] : NULL, cn->out[i], n, ih, iw};
        switch (nd->op) {
        case PC_NODE_CONV: conv_forward(cn, nd, in, ih, iw, cn->out[i], n); break;
        case PC_NODE_MAXPOOL: run_parts(cn->threads, maxpool_part, &pj); break;
        case PC_NODE_ADAPTIVE_AVG:
            if (ih == nd->h && iw == nd->w) memcpy(cn->out[i], in, (size_t)nd->c * n * ih * iw * sizeof(float));
            else run_parts(cn->threads, avgpool_part, &pj);
            break;
        case PC_NODE_ADD: {
            // large adds are memory bound: one thread per core is plenty
            size_t total = (size_t)nd->c * n * nd->h * nd->w;
            run_parts(total > 65536 ? cn->threads : 1, add_part, &pj);
            break;
        }
        case PC_NODE_LINEAR: {
            const float *xin = in;
            if (nd->input >= 0 && net->nodes[nd->input].op != PC_NODE_LINEAR) {
                // flatten like torch.flatten(x, 1): (C, N, HW) -> (N, C*HW)
                swap_nc(in, cn->scratch, n, ic, (size_t)ih * iw, 1);
                xin = cn->scratch;
            }
            LinearJob lj = {nd, xin, cn->out[i], n};
            run_parts(cn->threads, linear_part, &lj);
            break;
        }
        }
        for (int t = 0; t < n_taps; t++)
            if (tap_nodes[t] == i) copy_out(cn, i, n, taps[t]);
    }
    if (logits) copy_out(cn, net->n_nodes - 1, n, logits);

    if (cn->threads > 1 && blas_threads != 1) openblas_set_num_threads(blas_threads);
    return 0;
}
