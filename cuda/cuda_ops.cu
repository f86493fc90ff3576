// cuda_ops.cu: the saliency and metric ops of the CUDA backend (backend.h, SPEC.md §2, §5-§8),
// each with the name and argument order of its CPU twin in host/cpu/cpu_ops.c. All tensors are
// device memory on the context stream; nothing here synchronises with the host except where a
// host array (masked_inputs' chans, the blur kernel taps) is staged into device memory.
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "cuda_common.cuh"
#include "index_math.h"
#include "philox.h"

// ---- shared device helpers --------------------------------------------------------------------

// Value of up(map, oh, ow) at (oy, ox) for one (h, w) map, each source value passed through f.
template <typename F>
__device__ __forceinline__ float up_sample(const float *map, int h, int w, int oh, int ow, int oy,
                                           int ox, F f) {
    int y0, y1, x0, x1;
    float ty, tx;
    pc_up_coord(oy, h, oh, &y0, &y1, &ty);
    pc_up_coord(ox, w, ow, &x0, &x1, &tx);
    float v00 = f(map[y0 * w + x0]), v01 = f(map[y0 * w + x1]);
    float v10 = f(map[y1 * w + x0]), v11 = f(map[y1 * w + x1]);
    return (1.0f - ty) * ((1.0f - tx) * v00 + tx * v01) + ty * ((1.0f - tx) * v10 + tx * v11);
}

struct Identity {
    __device__ float operator()(float v) const { return v; }
};

// u(v) of SPEC §5 given the map's lo and divisor (NaN stays NaN, as torch's clamp).
struct Unit {
    float lo, den;
    __device__ float operator()(float v) const {
        float u = (v - lo) / den;
        return u < 0.0f ? 0.0f : (u > 1.0f ? 1.0f : u);
    }
};

// ---- softmax_gather ---------------------------------------------------------------------------

// One block per row: max, sum of exp, then the class's probability.     logits (N, K) -> out (N)
// The sum and the quotient in double, like the CPU backend: the masked passes' weights are
// differences of scores near 1 (PCAM-: s0 - s_minus), where float rounding of the sum shows.
__global__ void k_softmax_gather(const float *logits, int k, int cls, float *out) {
    __shared__ float red_max[32];
    __shared__ double red_sum[32];
    const float *row = logits + (size_t)blockIdx.x * k;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;

    float mx = -INFINITY;
    for (int i = threadIdx.x; i < k; i += blockDim.x) mx = fmaxf(mx, row[i]);
    for (int o = 16; o; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if (lane == 0) red_max[warp] = mx;
    __syncthreads();
    mx = lane < nwarps ? red_max[lane] : -INFINITY;
    for (int o = 16; o; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));

    double sum = 0.0;
    for (int i = threadIdx.x; i < k; i += blockDim.x) sum += exp((double)row[i] - (double)mx);
    for (int o = 16; o; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (lane == 0) red_sum[warp] = sum;
    __syncthreads();
    if (threadIdx.x == 0) {
        double total = 0.0;
        for (int i = 0; i < nwarps; i++) total += red_sum[i];
        out[blockIdx.x] = (float)(exp((double)row[cls] - (double)mx) / total);
    }
}

void cuda_softmax_gather(PcBackend *be, const float *logits, int n, int k, int cls, float *out) {
    if (n <= 0) return;
    k_softmax_gather<<<n, 256, 0, cu_ctx(be)->stream>>>(logits, k, cls, out);
    cudaCheckLaunch();
}

// ---- per-map percentiles (SPEC §5) ------------------------------------------------------------

__global__ void k_segment_offsets(int m, int n, int *offsets) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j <= m) offsets[j] = j * n;
}

// numpy's default ("linear") percentile of n sorted values.
__device__ float percentile_sorted(const float *v, int n, double p) {
    double pos = pc_percentile_pos(p, (size_t)n);
    double fl = floor(pos);
    long i0 = (long)fl;
    if (i0 >= n - 1) return v[n - 1];
    return (float)pc_numpy_lerp(v[i0], v[i0 + 1], pos - fl);
}

// lo and the divisor of u() for each sorted map.                       sorted (M, n) -> (M), (M)
__global__ void k_map_range(const float *sorted, int m, int n, int paper, float *lo, float *den) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= m) return;
    const float *v = sorted + (size_t)j * n;
    float l = percentile_sorted(v, n, 0.1), h = percentile_sorted(v, n, 99.9);
    lo[j] = l;
    den[j] = fmaxf(paper ? h - l : h, 1e-12f);
}

// lo / den of u() for m contiguous maps of n values: segmented radix sort, then the formula.
static void map_range(CudaContext *ctx, const float *maps, int m, int n, PcNormFormula formula,
                      float *lo, float *den) {
    size_t total = (size_t)m * n;
    if (total > 0x7fffffffu) cu_die("CUDA", "map_range", __FILE__, __LINE__, "more than 2^31 values");
    float *sorted = (float *)cu_scratch(ctx, total * sizeof(float));
    int *offsets = (int *)cu_scratch(ctx, (size_t)(m + 1) * sizeof(int));
    void *temp = NULL;
    size_t temp_bytes = 0;
    if (!sorted || !offsets) goto out;   // out of memory: recorded for take_error
    k_segment_offsets<<<cu_blocks(m + 1, 256), 256, 0, ctx->stream>>>(m, n, offsets);
    cudaCheckLaunch();
    cudaCheck(cub::DeviceSegmentedRadixSort::SortKeys(NULL, temp_bytes, maps, sorted, (int)total, m,
                                                      offsets, offsets + 1, 0, 32, ctx->stream));
    temp = cu_scratch(ctx, temp_bytes);
    if (!temp) goto out;
    cudaCheck(cub::DeviceSegmentedRadixSort::SortKeys(temp, temp_bytes, maps, sorted, (int)total, m,
                                                      offsets, offsets + 1, 0, 32, ctx->stream));
    k_map_range<<<cu_blocks(m, 128), 128, 0, ctx->stream>>>(sorted, m, n, formula == PC_NORM_PAPER,
                                                           lo, den);
    cudaCheckLaunch();
out:
    cu_scratch_free(ctx, temp);
    cu_scratch_free(ctx, offsets);
    cu_scratch_free(ctx, sorted);
}

// ---- normalize_maps ---------------------------------------------------------------------------

__global__ void k_apply_unit(const float *maps, int m, int n, const float *lo, const float *den,
                             float *out) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)m * n) return;
    int j = (int)(i / n);
    Unit u = {lo[j], den[j]};
    out[i] = u(maps[i]);
}

void cuda_normalize_maps(PcBackend *be, const float *maps, int m, int h, int w,
                         PcNormFormula formula, float *out) {
    CudaContext *ctx = cu_ctx(be);
    int n = h * w;
    if (m <= 0 || n <= 0) return;
    float *range = (float *)cu_scratch(ctx, 2 * (size_t)m * sizeof(float));
    if (!range) return;   // out of memory: recorded for take_error
    map_range(ctx, maps, m, n, formula, range, range + m);
    k_apply_unit<<<cu_blocks((size_t)m * n, 256), 256, 0, ctx->stream>>>(maps, m, n, range, range + m,
                                                                          out);
    cudaCheckLaunch();
    cu_scratch_free(ctx, range);
}

// ---- resample ---------------------------------------------------------------------------------

// in (M, h, w) -> out (M, oh, ow)
__global__ void k_resample(const float *in, int m, int h, int w, int oh, int ow, float *out) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    size_t per = (size_t)oh * ow;
    if (i >= (size_t)m * per) return;
    int j = (int)(i / per), p = (int)(i % per);
    out[i] = up_sample(in + (size_t)j * h * w, h, w, oh, ow, p / ow, p % ow, Identity());
}

static void resample_on(cudaStream_t st, const float *in, int m, int h, int w, int oh, int ow,
                        float *out) {
    size_t total = (size_t)m * oh * ow;
    if (!total) return;
    k_resample<<<cu_blocks(total, 256), 256, 0, st>>>(in, m, h, w, oh, ow, out);
    cudaCheckLaunch();
}

void cuda_resample(PcBackend *be, const float *in, int m, int h, int w, int oh, int ow, float *out) {
    resample_on(cu_ctx(be)->stream, in, m, h, w, oh, ow, out);
}

// ---- masked_inputs ----------------------------------------------------------------------------

// g[j] = act[chans[j]]                                       act (K, n) -> g (M, n)
__global__ void k_gather_maps(const float *act, const int *chans, int m, int n, float *g) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)m * n) return;
    int j = (int)(i / n);
    g[i] = act[(size_t)chans[j] * n + (i % n)];
}

// Normalise + upsample + mask in one pass. One thread per (map, pixel), three colour channels.
//   g (M, h, w), x (3, s, s) -> plus (M, 3, s, s) = x * mask, minus (M, 3, s, s) = x * (1 - mask)
__global__ void k_masked_inputs(const float *g, int m, int h, int w, const float *lo,
                                const float *den, const float *x, int s, float *plus, float *minus) {
    int p = blockIdx.x * blockDim.x + threadIdx.x;
    int ss = s * s;
    if (p >= ss) return;
    for (int j = blockIdx.y; j < m; j += gridDim.y) {
        Unit u = {lo[j], den[j]};
        float mask = up_sample(g + (size_t)j * h * w, h, w, s, s, p / s, p % s, u);
        size_t base = (size_t)j * 3 * ss + p;
        for (int c = 0; c < 3; c++) {
            float xv = x[c * ss + p];
            if (plus) plus[base + (size_t)c * ss] = xv * mask;
            if (minus) minus[base + (size_t)c * ss] = xv * (1.0f - mask);
        }
    }
}

void cuda_masked_inputs(PcBackend *be, const float *act, int h, int w, const int *chans, int m,
                        const float *x, int s, PcNormFormula formula, float *plus, float *minus) {
    CudaContext *ctx = cu_ctx(be);
    int n = h * w;
    if (m <= 0 || n <= 0 || (!plus && !minus)) return;
    // chans is a host array: a pageable async copy is staged before returning, so the caller may
    // reuse it at once.
    int *d_chans = (int *)cu_scratch(ctx, (size_t)m * sizeof(int));
    float *g = (float *)cu_scratch(ctx, ((size_t)m * n + 2 * (size_t)m) * sizeof(float));
    if (!d_chans || !g) {   // out of memory: recorded for take_error
        cu_scratch_free(ctx, g);
        cu_scratch_free(ctx, d_chans);
        return;
    }
    cudaCheck(cudaMemcpyAsync(d_chans, chans, (size_t)m * sizeof(int), cudaMemcpyHostToDevice,
                              ctx->stream));
    float *lo = g + (size_t)m * n, *den = lo + m;
    k_gather_maps<<<cu_blocks((size_t)m * n, 256), 256, 0, ctx->stream>>>(act, d_chans, m, n, g);
    cudaCheckLaunch();
    map_range(ctx, g, m, n, formula, lo, den);
    dim3 grid(cu_blocks((size_t)s * s, 256), (unsigned)(m < 65535 ? m : 65535));
    k_masked_inputs<<<grid, 256, 0, ctx->stream>>>(g, m, h, w, lo, den, x, s, plus, minus);
    cudaCheckLaunch();
    cu_scratch_free(ctx, g);
    cu_scratch_free(ctx, d_chans);
}

// ---- scaled_masked_inputs (BASELINES.md B3) --------------------------------------------------

// One thread per (pixel, channel map): up() of the map at the pixel, the Philox normal of each
// colour element (recomputed per map: 10 Philox rounds are cheaper than a round trip through
// memory), out = (coef * x) * (mask + sigma * z) in float32 as the CPU twin.
//   amap (K, h, w), chans (M) device, x (3, s, s) -> out (M, 3, s, s)
__global__ void k_scaled_masked_inputs(const float *amap, int h, int w, const int *chans, int m,
                                       const float *x, int s, float coef, float sigma,
                                       uint64_t seed, uint32_t image, uint32_t sample, float *out) {
    int p = blockIdx.x * blockDim.x + threadIdx.x;
    int ss = s * s;
    if (p >= ss) return;
    for (int j = blockIdx.y; j < m; j += gridDim.y) {
        float mask = up_sample(amap + (size_t)chans[j] * h * w, h, w, s, s, p / s, p % s, Identity());
        size_t base = (size_t)j * 3 * ss + p;
        for (int c = 0; c < 3; c++) {
            float noise = 0.0f;
            if (sigma != 0.0f) noise = sigma * pc_philox_normal(seed, image, sample, (uint64_t)c * ss + p);
            float cx = coef * x[c * ss + p];
            out[base + (size_t)c * ss] = cx * __fadd_rn(mask, noise);
        }
    }
}

void cuda_scaled_masked_inputs(PcBackend *be, const float *amap, int h, int w, const int *chans, int m,
                               const float *x, int s, float coef, float sigma, uint64_t seed,
                               uint32_t image, uint32_t sample, float *out) {
    CudaContext *ctx = cu_ctx(be);
    if (m <= 0 || h * w <= 0) return;
    // chans is a host array, staged as in masked_inputs (the caller may reuse it at once)
    int *d_chans = (int *)cu_scratch(ctx, (size_t)m * sizeof(int));
    if (!d_chans) return;   // out of memory: recorded for take_error
    cudaCheck(cudaMemcpyAsync(d_chans, chans, (size_t)m * sizeof(int), cudaMemcpyHostToDevice,
                              ctx->stream));
    dim3 grid(cu_blocks((size_t)s * s, 256), (unsigned)(m < 65535 ? m : 65535));
    k_scaled_masked_inputs<<<grid, 256, 0, ctx->stream>>>(amap, h, w, d_chans, m, x, s, coef, sigma,
                                                          seed, image, sample, out);
    cudaCheckLaunch();
    cu_scratch_free(ctx, d_chans);
}

// ---- weighted_channel_sum ---------------------------------------------------------------------

// out[v, p] = relu(sum_k weights[v, k] * act[k, p]), NaN terms skipped (SPEC §7). Written as a
// direct reduction rather than a GEMM so that the NaN rule holds term by term (a GEMM would turn
// one NaN or inf*0 into a NaN sum). Block (32 pixels) x (8 k-slices); V in chunks of 4.
#define WCS_PIX 32
#define WCS_KSL 8
#define WCS_VCH 4
__global__ void k_weighted_channel_sum(const float *act, int k, int hw, const float *weights,
                                       int v, float *out) {
    __shared__ float part[WCS_KSL][WCS_VCH][WCS_PIX];
    int p = blockIdx.x * WCS_PIX + threadIdx.x;
    for (int v0 = 0; v0 < v; v0 += WCS_VCH) {
        float acc[WCS_VCH] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (p < hw) {
            for (int kk = threadIdx.y; kk < k; kk += WCS_KSL) {
                float a = act[(size_t)kk * hw + p];
#pragma unroll
                for (int q = 0; q < WCS_VCH; q++) {
                    if (v0 + q < v) {
                        float t = weights[(size_t)(v0 + q) * k + kk] * a;
                        if (!isnan(t)) acc[q] += t;
                    }
                }
            }
        }
#pragma unroll
        for (int q = 0; q < WCS_VCH; q++) part[threadIdx.y][q][threadIdx.x] = acc[q];
        __syncthreads();
        if (threadIdx.y < WCS_VCH && p < hw && v0 + (int)threadIdx.y < v) {
            int q = threadIdx.y;
            float sum = 0.0f;
            for (int s = 0; s < WCS_KSL; s++) sum += part[s][q][threadIdx.x];
            out[(size_t)(v0 + q) * hw + p] = sum > 0.0f ? sum : 0.0f;   // relu, NaN (inf-inf) -> 0
        }
        __syncthreads();
    }
}

void cuda_weighted_channel_sum(PcBackend *be, const float *act, int k, int h, int w,
                               const float *weights, int v, float *out) {
    int hw = h * w;
    if (hw <= 0 || v <= 0) return;
    dim3 block(WCS_PIX, WCS_KSL);
    k_weighted_channel_sum<<<cu_blocks(hw, WCS_PIX), block, 0, cu_ctx(be)->stream>>>(act, k, hw,
                                                                                     weights, v, out);
    cudaCheckLaunch();
}

// ---- lnorm ------------------------------------------------------------------------------------

// Paper LNorm's average pooling with kernel = stride = (sh, sw), floor mode.
//                                                    c (M, h, w) -> out (M, h / sh, w / sw)
__global__ void k_avgpool_ratio(const float *c, int m, int h, int w, int sh, int sw, float *out) {
    int ph = h / sh, pw = w / sw;
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)m * ph * pw) return;
    int j = (int)(i / ((size_t)ph * pw));
    int r = (int)(i % ((size_t)ph * pw));
    int y = r / pw, x = r % pw;
    const float *src = c + (size_t)j * h * w;
    float sum = 0.0f;
    for (int dy = 0; dy < sh; dy++)
        for (int dx = 0; dx < sw; dx++) sum += src[(y * sh + dy) * w + x * sw + dx];
    out[i] = sum / (float)(sh * sw);
}

// out = c / max(up(small, h, w), 1e-12)                 c (M, h, w), small (M, sh, sw)
__global__ void k_lnorm_divide(const float *c, const float *small, int m, int h, int w, int sh,
                               int sw, float *out) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    size_t per = (size_t)h * w;
    if (i >= (size_t)m * per) return;
    int j = (int)(i / per), p = (int)(i % per);
    float nrm = up_sample(small + (size_t)j * sh * sw, sh, sw, h, w, p / w, p % w, Identity());
    out[i] = c[i] / fmaxf(nrm, 1e-12f);
}

void cuda_lnorm(PcBackend *be, const float *c, int m, int h, int w, int th, int tw,
                PcLnormMode mode, float *out) {
    CudaContext *ctx = cu_ctx(be);
    if (m <= 0 || h <= 0 || w <= 0) return;
    int sh, sw;     // size of the coarse map N is interpolated from
    float *small;
    if (mode == PC_LNORM_PAPER) {
        int rh = th > 0 && h / th > 0 ? h / th : 1, rw = tw > 0 && w / tw > 0 ? w / tw : 1;
        sh = h / rh;
        sw = w / rw;
        small = (float *)cu_scratch(ctx, (size_t)m * sh * sw * sizeof(float));
        if (!small) return;   // out of memory: recorded for take_error
        k_avgpool_ratio<<<cu_blocks((size_t)m * sh * sw, 256), 256, 0, ctx->stream>>>(c, m, h, w,
                                                                                      rh, rw, small);
        cudaCheckLaunch();
    } else {
        sh = th;
        sw = tw;
        small = (float *)cu_scratch(ctx, (size_t)m * sh * sw * sizeof(float));
        if (!small) return;
        resample_on(ctx->stream, c, m, h, w, sh, sw, small);
    }
    size_t total = (size_t)m * h * w;
    k_lnorm_divide<<<cu_blocks(total, 256), 256, 0, ctx->stream>>>(c, small, m, h, w, sh, sw, out);
    cudaCheckLaunch();
    cu_scratch_free(ctx, small);
}

// ---- mul_relu ---------------------------------------------------------------------------------

__global__ void k_mul_relu(const float *a, const float *b, size_t n, float *out) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float v = a[i] * b[i];
        out[i] = v > 0.0f ? v : 0.0f;
    }
}

void cuda_mul_relu(PcBackend *be, const float *a, const float *b, size_t n, float *out) {
    if (!n) return;
    k_mul_relu<<<cu_blocks(n, 256), 256, 0, cu_ctx(be)->stream>>>(a, b, n, out);
    cudaCheckLaunch();
}

// ---- blur -------------------------------------------------------------------------------------

// Separable Gaussian: one 1-D pass along x (vertical == 0) or y, reflect padding; the double taps
// of index_math.h, accumulated in double in the CPU twin's order and rounded to float once per
// pass, so the baseline is the CPU's bit for bit.         x (3, s, s) -> out (3, s, s)
__global__ void k_blur_pass(const float *x, int s, const double *g, int ksize, int vertical,
                            float *out) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    size_t ss = (size_t)s * s;
    if (i >= 3 * ss) return;
    const float *plane = x + (i / ss) * ss;
    int p = (int)(i % ss), y = p / s, xx = p % s, r = ksize / 2;
    double acc = 0.0;
    for (int t = 0; t < ksize; t++) {
        float v = vertical ? plane[pc_reflect_index(y + t - r, s) * s + xx]
                           : plane[y * s + pc_reflect_index(xx + t - r, s)];
        acc = PC_DADD(acc, PC_DMUL(g[t], (double)v));
    }
    out[i] = (float)acc;
}

void cuda_blur(PcBackend *be, const float *x, int s, int ksize, float sigma, float *out) {
    CudaContext *ctx = cu_ctx(be);
    if (s <= 0 || ksize <= 0) return;
    // 1-D taps (SPEC §8), the CPU twin's doubles (index_math.h)
    double *taps = (double *)malloc((size_t)ksize * sizeof(double));
    if (!taps) cu_die("alloc", "malloc", __FILE__, __LINE__, "blur taps");
    pc_blur_taps(ksize, sigma, taps);
    size_t total = 3 * (size_t)s * s;
    double *d_taps = (double *)cu_scratch(ctx, (size_t)ksize * sizeof(double) + total * sizeof(float));
    if (!d_taps) {   // out of memory: recorded for take_error
        free(taps);
        return;
    }
    float *tmp = (float *)(d_taps + ksize);
    cudaCheck(cudaMemcpyAsync(d_taps, taps, (size_t)ksize * sizeof(double), cudaMemcpyHostToDevice,
                              ctx->stream));
    free(taps);   // the pageable copy above was staged before it returned
    k_blur_pass<<<cu_blocks(total, 256), 256, 0, ctx->stream>>>(x, s, d_taps, ksize, 0, tmp);
    cudaCheckLaunch();
    k_blur_pass<<<cu_blocks(total, 256), 256, 0, ctx->stream>>>(tmp, s, d_taps, ksize, 1, out);
    cudaCheckLaunch();
    cu_scratch_free(ctx, d_taps);
}

// ---- argsort_desc -----------------------------------------------------------------------------

// Descending float order as an ascending uint32 key (pc_float_key_desc, as the CPU backend).
__global__ void k_desc_keys(const float *map, int n, unsigned *keys, int *index) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    keys[i] = pc_float_key_desc(map[i]);
    index[i] = i;
}

void cuda_argsort_desc(PcBackend *be, const float *map, int n, int *order) {
    CudaContext *ctx = cu_ctx(be);
    if (n <= 0) return;
    unsigned *keys = (unsigned *)cu_scratch(ctx, 2 * (size_t)n * sizeof(unsigned) + (size_t)n * sizeof(int));
    if (!keys) return;   // out of memory: recorded for take_error
    unsigned *keys_sorted = keys + n;
    int *index = (int *)(keys_sorted + n);
    k_desc_keys<<<cu_blocks(n, 256), 256, 0, ctx->stream>>>(map, n, keys, index);
    cudaCheckLaunch();
    // LSD radix sort is stable: equal keys keep ascending index order (SPEC §8 tie rule)
    size_t temp_bytes = 0;
    cudaCheck(cub::DeviceRadixSort::SortPairs(NULL, temp_bytes, keys, keys_sorted, index, order, n, 0,
                                              32, ctx->stream));
    void *temp = cu_scratch(ctx, temp_bytes);
    if (temp)
        cudaCheck(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys, keys_sorted, index, order, n,
                                                  0, 32, ctx->stream));
    cu_scratch_free(ctx, temp);
    cu_scratch_free(ctx, keys);
}

// ---- insdel_samples ---------------------------------------------------------------------------

// rank[order[r]] = r                                                      order (n) -> rank (n)
__global__ void k_rank(const int *order, int n, int *rank) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n) return;
    int p = order[r];
    if (p >= 0 && p < n) rank[p] = r;
}

// Sample t0 + j: pixels of rank < min(p (t + 1), s*s) come from x (insertion) or base (deletion).
//                                        x, base (3, s, s), rank (s*s) -> out (M, 3, s, s)
__global__ void k_insdel(const float *x, const float *base, const int *rank, int s, int t0, int m,
                         long long pixels_per_step, int deletion, float *out) {
    size_t ss = (size_t)s * s;
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)m * 3 * ss) return;
    int j = (int)(i / (3 * ss));
    size_t cp = i % (3 * ss);
    int p = (int)(cp % ss);
    long long k = pixels_per_step * (long long)(t0 + j + 1);
    if (k > (long long)ss) k = (long long)ss;
    int first = rank[p] < k;
    out[i] = (first != deletion) ? x[cp] : base[cp];
}

void cuda_insdel_samples(PcBackend *be, const float *x, const float *base, const int *order, int s,
                         int t0, int m, int pixels_per_step, int deletion, float *out) {
    CudaContext *ctx = cu_ctx(be);
    int n = s * s;
    if (m <= 0 || n <= 0) return;
    int *rank = (int *)cu_scratch(ctx, (size_t)n * sizeof(int));
    if (!rank) return;   // out of memory: recorded for take_error
    k_rank<<<cu_blocks(n, 256), 256, 0, ctx->stream>>>(order, n, rank);
    cudaCheckLaunch();
    size_t total = (size_t)m * 3 * n;
    k_insdel<<<cu_blocks(total, 256), 256, 0, ctx->stream>>>(x, base, rank, s, t0, m,
                                                             (long long)pixels_per_step,
                                                             deletion ? 1 : 0, out);
    cudaCheckLaunch();
    cu_scratch_free(ctx, rank);
}
