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
// for the direct kernel. PC_NO_DIRECT_CONV in the environment turns the direct kernel off (tests
// use it to check the GEMM path on every layer).
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
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->cout, (int)ncols, kk, 1.0f, c->weight,
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
                c->weight + (size_t)m0 * kk, kk, b, (int)ldb, 0.0f, j->out + (size_t)m0 * j->out_cs + j0,
                (int)j->out_cs);
    bias_act(j->out + j0, m0, m1, ncols, j->out_cs, c->bias, nd->relu);
}

// ---- direct convolution (AVX-512) ------------------------------------------------------------
//
// im2col + GEMM moves K = Cin*k*k floats through memory per output pixel to do 2*Cout*K flops:
// for the few-channel, high-resolution layers of small networks that copy costs more than the
// GEMM. This kernel reads the input in place instead: 8 output channels x 32 output columns of
// one output row are accumulated in 16 registers while it walks (ci, ky, kx), each step one
// (masked) load of 2 x 16 input values and 8 weight broadcasts for 16 FMAs. Masked loads
// implement the zero padding at the left/right edges; rows outside the image are skipped.
// Strides 1 and 2.

#define DIRECT_CO 8         // output channels per register block

typedef struct {
    const PcNode *nd;
    const float *in;        // (Cin, N, H, W), channel stride in_cs
    float *out;             // (Cout, N, OH, OW), channel stride out_cs
    const float *wpack;     // (ceil(Cout/8), Cin, k, k, 8), zero-padded past Cout
    int n, h, w;
    long in_cs, out_cs;
} DirectJob;

static int cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

// Lanes l of a 16-lane vector with lo <= l < hi.
static inline unsigned lane_mask(int lo, int hi) {
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    return hi <= lo ? 0u : ((1u << (hi - lo)) - 1u) << lo;
}

// One register block: channels [co0, co0+8) x output columns [x0, x0 + 16*NV) of output row oy
// of image img. NV (1 or 2 vectors) and the stride S (1 or 2) are compile-time constants after
// inlining. With S = 2 a vector of 16 outputs needs 32 consecutive inputs: two loads, and a
// permute keeps the even lanes.
__attribute__((target("avx512f"), always_inline)) static inline void
direct_block(const DirectJob *j, const float *wb, int co0, int img, int oy, int ky_lo, int ky_hi, int x0,
             const int NV, const int S) {
    const PcConvParams *c = &j->nd->p.conv;
    const int k = c->k, pad = c->pad, w = j->w, ow = j->nd->w;
    const size_t in_plane = (size_t)j->h * w;
    __m512 acc[DIRECT_CO][2];
#pragma GCC unroll 8
    for (int q = 0; q < DIRECT_CO; q++) acc[q][0] = acc[q][1] = _mm512_setzero_ps();
    // load masks per kx (k <= 7 on this path), vector and half: input column base + lane in [0, w)
    __mmask16 lm[7][2][2];
    for (int kx = 0; kx < k; kx++)
        for (int v = 0; v < NV; v++)
            for (int half = 0; half < S; half++) {
                int base = S * (x0 + 16 * v) + kx - pad + 16 * half;
                lm[kx][v][half] = (__mmask16)lane_mask(-base, w - base);
            }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int ci = 0; ci < c->cin; ci++) {
        const float *plane = j->in + ci * j->in_cs + img * in_plane;
        const float *wc = wb + (size_t)ci * k * k * DIRECT_CO;
        for (int ky = ky_lo; ky < ky_hi; ky++) {
            // masked-off lanes are never read, so these pointers may point outside the plane
            const float *row = plane + (size_t)(oy * S + ky - pad) * w + S * x0 - pad;
            const float *wk = wc + (size_t)ky * k * DIRECT_CO;
            for (int kx = 0; kx < k; kx++, wk += DIRECT_CO) {
                __m512 in[2];
                for (int v = 0; v < NV; v++) {
                    const float *src = row + kx + 16 * S * v;
                    if (S == 1) {
                        in[v] = _mm512_maskz_loadu_ps(lm[kx][v][0], src);
                    } else {
                        __m512 lo = _mm512_maskz_loadu_ps(lm[kx][v][0], src);
                        __m512 hi = _mm512_maskz_loadu_ps(lm[kx][v][1], src + 16);
                        in[v] = _mm512_permutex2var_ps(lo, even, hi);
                    }
                }
#pragma GCC unroll 8
                for (int q = 0; q < DIRECT_CO; q++) {
                    __m512 wv = _mm512_set1_ps(wk[q]);
                    acc[q][0] = _mm512_fmadd_ps(wv, in[0], acc[q][0]);
                    if (NV > 1) acc[q][1] = _mm512_fmadd_ps(wv, in[1], acc[q][1]);
                }
            }
        }
    }
    const size_t out_plane = (size_t)j->nd->h * ow;
    float *orow = j->out + img * out_plane + (size_t)oy * ow + x0;
    const __m512 zero = _mm512_setzero_ps();
    const int n_co = c->cout - co0 < DIRECT_CO ? c->cout - co0 : DIRECT_CO;
#pragma GCC unroll 8
    for (int q = 0; q < DIRECT_CO; q++) {
        if (q >= n_co) break;
        const __m512 b = _mm512_set1_ps(c->bias[co0 + q]);
        float *dst = orow + (size_t)(co0 + q) * j->out_cs;
        for (int v = 0; v < NV; v++) {
            __m512 r = _mm512_add_ps(acc[q][v], b);
            if (j->nd->relu) r = _mm512_max_ps(zero, r);   // max(0, NaN) = NaN, as PyTorch
            _mm512_mask_storeu_ps(dst + 16 * v, (__mmask16)lane_mask(0, ow - x0 - 16 * v), r);
        }
    }
}

// Output rows of one part, all channel blocks; S = the stride (compile-time after inlining).
__attribute__((target("avx512f"), always_inline)) static inline void direct_rows(const DirectJob *j, long r0,
                                                                                  long r1, const int S) {
    const PcNode *nd = j->nd;
    const PcConvParams *c = &nd->p.conv;
    const int oh = nd->h, ow = nd->w, k = c->k, pad = c->pad;
    const int n_blocks = (c->cout + DIRECT_CO - 1) / DIRECT_CO;
    for (long r = r0; r < r1; r++) {
        const int img = (int)(r / oh), oy = (int)(r % oh);
        // input row oy*S + ky - pad must lie inside the image
        const int ky_lo = pad - oy * S > 0 ? pad - oy * S : 0;
        const int ky_hi = j->h + pad - oy * S < k ? j->h + pad - oy * S : k;
        for (int cb = 0; cb < n_blocks; cb++) {
            const float *wb = j->wpack + (size_t)cb * c->cin * k * k * DIRECT_CO;
            int x0 = 0;
            for (; x0 + 16 < ow; x0 += 32) direct_block(j, wb, cb * DIRECT_CO, img, oy, ky_lo, ky_hi, x0, 2, S);
            if (x0 < ow) direct_block(j, wb, cb * DIRECT_CO, img, oy, ky_lo, ky_hi, x0, 1, S);
        }
    }
}

__attribute__((target("avx512f"))) static void direct_part(void *arg, int part, int parts) {
    const DirectJob *j = arg;
    const long rows = (long)j->n * j->nd->h;
    const long r0 = part_begin(rows, part, parts), r1 = part_begin(rows, part + 1, parts);
    if (j->nd->p.conv.stride == 1) direct_rows(j, r0, r1, 1);
    else direct_rows(j, r0, r1, 2);
}

// Which convolutions take the direct kernel: stride 1 or 2, few output channels (where im2col costs
// more than it saves), rows long enough to fill the vectors.
static int use_direct(const PcConvParams *c, int ow) {
    return (c->stride == 1 || c->stride == 2) && c->k > 1 && c->k <= 7 && c->pad < c->k && c->cout <= 64 &&
           ow >= 32;
}

static size_t direct_pack_floats(const PcConvParams *c) {
    return (size_t)((c->cout + DIRECT_CO - 1) / DIRECT_CO) * c->cin * c->k * c->k * DIRECT_CO;
}

// (Cout, Cin, k, k) -> (ceil(Cout/8), Cin, k, k, 8), zeros past Cout.
static void direct_pack(const PcConvParams *c, float *dst) {
    const int kk = c->k * c->k, n_blocks = (c->cout + DIRECT_CO - 1) / DIRECT_CO;
    for (int cb = 0; cb < n_blocks; cb++)
        for (int ci = 0; ci < c->cin; ci++)
            for (int t = 0; t < kk; t++)
                for (int q = 0; q < DIRECT_CO; q++) {
                    int co = cb * DIRECT_CO + q;
                    dst[(((size_t)cb * c->cin + ci) * kk + t) * DIRECT_CO + q] =
                        co < c->cout ? c->weight[((size_t)co * c->cin + ci) * kk + t] : 0.0f;
                }
}

static void conv_forward(const CpuNet *cn, const Workspace *ws, int parts, int node, const float *in, int in_h,
                         int in_w, float *out, int n) {
    const PcNode *nd = &cn->net->nodes[node];
    const long in_cs = ld_pad((long)n * in_h * in_w), out_cs = ld_pad((long)n * nd->h * nd->w);
    if (cn->direct_w[node]) {
        DirectJob dj = {nd, in, out, cn->direct_w[node], n, in_h, in_w, in_cs, out_cs};
        run_parts(parts, direct_part, &dj);
        return;
    }
    ConvJob job = {nd, in, out, n, in_h, in_w, in_cs, out_cs, ws->scratch, cn->scratch_per_part, 0, 0, 0};
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
    const int avx512 = cpu_has_avx512() && !getenv("PC_NO_DIRECT_CONV");
    const int group = choose_group(net, max_batch);

    const int nn = net->n_nodes;
    // Buffer plan for one worker: last reader of every node output, then greedy reuse of free
    // buffers.
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
    size_t scratch = IM2COL_CHUNK_FLOATS, flat_max = 0, packed = 0;
    for (int i = 0; i < nn; i++) {
        const PcNode *nd = &net->nodes[i];
        size_t need = nd->op == PC_NODE_LINEAR ? (size_t)nd->c * group : spatial_floats(nd->c, nd->h, nd->w, group);
        if (nd->op == PC_NODE_CONV) {
            // at least one output row of columns per chunk
            size_t row = (size_t)nd->p.conv.cin * nd->p.conv.k * nd->p.conv.k * ld_pad(nd->w);
            if (row > scratch) scratch = row;
            if (avx512 && use_direct(&nd->p.conv, nd->w)) packed += round16(direct_pack_floats(&nd->p.conv));
        } else if (nd->op == PC_NODE_LINEAR) {
            size_t flat = (size_t)nd->p.linear.in * (size_t)group;
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
    // Worker 0 also runs the layer-parallel passes (small batches): its scratch serves all threads.
    size_t scratch0 = scratch * (size_t)threads, scratch1 = scratch;
    if (flat_max > scratch0) scratch0 = flat_max;
    if (flat_max > scratch1) scratch1 = flat_max;
    size_t in_floats = spatial_floats(net->in_c, net->in_h, net->in_w, group);
    size_t per_worker = round16(in_floats);
    for (int s = 0; s < n_slots; s++) per_worker += round16(slot_size[s]);
    // image-parallel passes (cpu_forward) need a workspace per thread, else one is enough
    const int workers = threads > 1 && max_batch >= 2 * threads ? threads : 1;
    size_t total = (size_t)workers * per_worker + round16(scratch0) + (size_t)(workers - 1) * round16(scratch1) + packed;

    CpuNet *cn = xcalloc(1, sizeof *cn);
    cn->net = net;
    cn->max_batch = max_batch;
    cn->threads = threads;
    cn->group = group;
    cn->arena_floats = total;
    cn->scratch_per_part = scratch;
    if (posix_memalign((void **)&cn->arena, 64, total * sizeof(float)) != 0) {
        pc_fail(err, "cpu_net_prepare: cannot allocate the %.1f MiB workspace of %s at batch %d",
                (double)total * sizeof(float) / 1048576.0, net->spec.arch, max_batch);
        free(cn);
        free(last_use), free(slot_of), free(slot_busy), free(slot_size);
        return NULL;
    }
    float *p = cn->arena;
    cn->workers = workers;
    cn->ws = xcalloc((size_t)workers, sizeof(Workspace));
    float **slot_ptr = xmalloc((size_t)(n_slots ? n_slots : 1) * sizeof(float *));
    for (int t = 0; t < workers; t++) {
        Workspace *ws = &cn->ws[t];
        ws->input = p;
        p += round16(in_floats);
        for (int s = 0; s < n_slots; s++) {
            slot_ptr[s] = p;
            p += round16(slot_size[s]);
        }
        ws->out = xmalloc((size_t)nn * sizeof(float *));
        for (int i = 0; i < nn; i++) ws->out[i] = slot_ptr[slot_of[i]];
        ws->scratch = p;
        p += round16(t == 0 ? scratch0 : scratch1);
    }
    cn->direct_w = xcalloc((size_t)nn, sizeof(float *));
    for (int i = 0; i < nn; i++) {
        const PcNode *nd = &net->nodes[i];
        if (avx512 && nd->op == PC_NODE_CONV && use_direct(&nd->p.conv, nd->w)) {
            cn->direct_w[i] = p;
            direct_pack(&nd->p.conv, p);
            p += round16(direct_pack_floats(&nd->p.conv));
        }
    }
    free(slot_ptr);
    free(last_use), free(slot_of), free(slot_busy), free(slot_size);
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
    free(cn);
}

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
        case PC_NODE_CONV: conv_forward(cn, ws, parts, i, in, ih, iw, ws->out[i], g); break;
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

    Pass ps = {cn, x, n, last, logits, n_taps, tap_nodes, taps};
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
