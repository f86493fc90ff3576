// cpu_ops.c: the saliency and metric ops of the CPU backend (backend.h, "saliency and metric ops"):
// softmax score, percentile normalisation u() (SPEC §5), bilinear up() (SPEC §2), masked inputs
// (SPEC §6) and the Score-CAM family's (BASELINES.md B3), weighted channel sums and LNorm
// (SPEC §7), the Gaussian blur baseline, the stable descending argsort and the insertion/deletion samples (SPEC §8). Single-threaded and
// deterministic: the same inputs give the same output bits on every run; the forward passes, not
// these ops, dominate the CPU time.
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"
#include "index_math.h"
#include "philox.h"

// ---- softmax ------------------------------------------------------------------------------------

void cpu_softmax_gather(PcBackend *be, const float *logits, int n, int k, int cls, float *out) {
    (void)be;
    for (int i = 0; i < n; i++) {
        const float *row = logits + (size_t)i * k;
        float row_max = row[0];
        for (int j = 1; j < k; j++)
            if (row[j] > row_max) row_max = row[j];
        // double sum with max subtraction: no overflow, and the class term is exact enough
        double denom = 0.0;
        for (int j = 0; j < k; j++) denom += exp((double)row[j] - (double)row_max);
        out[i] = (float)(exp((double)row[cls] - (double)row_max) / denom);
    }
}

// ---- percentile normalisation u() (SPEC §5) ----------------------------------------------------

// Moves the k-th smallest key of a[0..n) to a[k], smaller ones before it, larger after
// (Hoare-style quickselect with a median-of-three pivot; O(n) expected).
static void select_kth(uint32_t *a, size_t n, size_t k) {
    size_t lo = 0, hi = n - 1;
    while (hi > lo) {
        size_t mid = lo + (hi - lo) / 2;
        // order a[lo], a[mid], a[hi] so the pivot a[mid] is their median
        if (a[mid] < a[lo]) { uint32_t t = a[mid]; a[mid] = a[lo]; a[lo] = t; }
        if (a[hi] < a[lo]) { uint32_t t = a[hi]; a[hi] = a[lo]; a[lo] = t; }
        if (a[hi] < a[mid]) { uint32_t t = a[hi]; a[hi] = a[mid]; a[mid] = t; }
        uint32_t pivot = a[mid];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                uint32_t t = a[i]; a[i] = a[j]; a[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        // now a[lo..j] <= pivot <= a[i..hi], and everything between equals the pivot
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return;
    }
}

static uint32_t min_key(const uint32_t *a, size_t n) {
    uint32_t m = a[0];
    for (size_t i = 1; i < n; i++)
        if (a[i] < m) m = a[i];
    return m;
}

// The 0.1 and 99.9 "linear" percentiles of n values (numpy.percentile's default method).
// keys is scratch of n entries; selection, not a full sort.
static void percentiles_lo_hi(const float *v, size_t n, uint32_t *keys, float *lo, float *hi) {
    for (size_t i = 0; i < n; i++) keys[i] = pc_float_key_asc(v[i]);
    const double q[2] = {0.1, 99.9};
    float result[2];
    // the 0.1 percentile is selected first; the 99.9 one lies at or above it, so its selection
    // can start at the lower position and reuse the partition
    size_t start = 0;
    for (int p = 0; p < 2; p++) {
        double pos = pc_percentile_pos(q[p], n);
        size_t k = (size_t)floor(pos);
        double frac = pos - (double)k;
        select_kth(keys + start, n - start, k - start);
        double a = pc_key_to_float(keys[k]);
        double b = (k + 1 < n) ? pc_key_to_float(min_key(keys + k + 1, n - k - 1)) : a;
        result[p] = (float)pc_numpy_lerp(a, b, frac);
        start = k;
    }
    *lo = result[0];
    *hi = result[1];
}

// u(M) of one map of n values, in float32 like the reference: clamp((M - lo) / d, 0, 1) with
// d = max(hi, 1e-12) (code) or max(hi - lo, 1e-12) (paper).
static void normalize_one(const float *map, size_t n, PcNormFormula formula, uint32_t *keys,
                          float *out) {
    float lo, hi;
    percentiles_lo_hi(map, n, keys, &lo, &hi);
    float denom = formula == PC_NORM_PAPER ? hi - lo : hi;
    if (!(denom > 1e-12f)) denom = 1e-12f;
    for (size_t i = 0; i < n; i++) {
        float u = (map[i] - lo) / denom;
        out[i] = u < 0.0f ? 0.0f : (u > 1.0f ? 1.0f : u);   // NaN stays NaN, as torch's clamp
    }
}

void cpu_normalize_maps(PcBackend *be, const float *maps, int m, int h, int w,
                        PcNormFormula formula, float *out) {
    (void)be;
    size_t n = (size_t)h * w;
    uint32_t *keys = xmalloc(n * sizeof *keys);
    for (int i = 0; i < m; i++) normalize_one(maps + i * n, n, formula, keys, out + i * n);
    free(keys);
}

// ---- bilinear resampling up() (SPEC §2) ---------------------------------------------------------

// Source taps of one output index: value = w0 * v[i0] + w1 * v[i1] (pc_up_coord: PyTorch's
// float32 expressions).
typedef struct {
    int i0, i1;
    float w0, w1;
} LerpTap;

static void lerp_taps(int n_in, int n_out, LerpTap *taps) {
    for (int i = 0; i < n_out; i++) {
        pc_up_coord(i, n_in, n_out, &taps[i].i0, &taps[i].i1, &taps[i].w1);
        taps[i].w0 = 1.0f - taps[i].w1;
    }
}

// Resampler for one (h, w) -> (oh, ow) geometry: taps and a horizontal pass buffer, reused over
// the maps of one call.
typedef struct {
    int h, w, oh, ow;
    LerpTap *ty, *tx;
    float *rows;        // (h, ow): input rows interpolated along x
} Resampler;

static void resampler_init(Resampler *r, int h, int w, int oh, int ow) {
    r->h = h, r->w = w, r->oh = oh, r->ow = ow;
    r->ty = xmalloc((size_t)oh * sizeof *r->ty);
    r->tx = xmalloc((size_t)ow * sizeof *r->tx);
    r->rows = xmalloc((size_t)h * ow * sizeof *r->rows);
    lerp_taps(h, oh, r->ty);
    lerp_taps(w, ow, r->tx);
}

static void resampler_free(Resampler *r) {
    free(r->ty);
    free(r->tx);
    free(r->rows);
}

// in (h, w) -> out (oh, ow). Same sums as PyTorch's kernel:
// h0 * (w0 * v00 + w1 * v01) + h1 * (w0 * v10 + w1 * v11).
static void resample_one(Resampler *r, const float *in, float *out) {
    const int w = r->w, ow = r->ow;
    for (int y = 0; y < r->h; y++) {
        const float *src = in + (size_t)y * w;
        float *dst = r->rows + (size_t)y * ow;
        for (int x = 0; x < ow; x++) {
            const LerpTap t = r->tx[x];
            dst[x] = t.w0 * src[t.i0] + t.w1 * src[t.i1];
        }
    }
    for (int y = 0; y < r->oh; y++) {
        const LerpTap t = r->ty[y];
        const float *r0 = r->rows + (size_t)t.i0 * ow, *r1 = r->rows + (size_t)t.i1 * ow;
        float *dst = out + (size_t)y * ow;
        for (int x = 0; x < ow; x++) dst[x] = t.w0 * r0[x] + t.w1 * r1[x];
    }
}

void cpu_resample(PcBackend *be, const float *in, int m, int h, int w, int oh, int ow, float *out) {
    (void)be;
    Resampler r;
    resampler_init(&r, h, w, oh, ow);
    for (int i = 0; i < m; i++) resample_one(&r, in + (size_t)i * h * w, out + (size_t)i * oh * ow);
    resampler_free(&r);
}

// ---- masked inputs (SPEC §6) --------------------------------------------------------------------

void cpu_masked_inputs(PcBackend *be, const float *act, int h, int w, const int *chans, int m,
                       const float *x, int s, PcNormFormula formula, float *plus, float *minus) {
    (void)be;
    const size_t hw = (size_t)h * w, ss = (size_t)s * s;
    uint32_t *keys = xmalloc(hw * sizeof *keys);
    float *u = xmalloc(hw * sizeof *u);           // (h, w)
    float *mask = xmalloc(ss * sizeof *mask);     // (s, s)
    Resampler r;
    resampler_init(&r, h, w, s, s);
    for (int j = 0; j < m; j++) {
        normalize_one(act + (size_t)chans[j] * hw, hw, formula, keys, u);
        resample_one(&r, u, mask);
        for (int c = 0; c < 3; c++) {
            const float *xc = x + c * ss;
            if (plus) {
                float *dst = plus + ((size_t)j * 3 + c) * ss;
                for (size_t i = 0; i < ss; i++) dst[i] = xc[i] * mask[i];
            }
            if (minus) {
                float *dst = minus + ((size_t)j * 3 + c) * ss;
                for (size_t i = 0; i < ss; i++) dst[i] = xc[i] * (1.0f - mask[i]);
            }
        }
    }
    resampler_free(&r);
    free(mask);
    free(u);
    free(keys);
}

// ---- Score-CAM family masked inputs (BASELINES.md B3) -------------------------------------------

// out[j] = (coef * x) * (up(amap[chans[j]]) + sigma * z): z drawn once per call (shared by the m
// channels), each channel's mask upsampled once and applied to the three colour planes.
void cpu_scaled_masked_inputs(PcBackend *be, const float *amap, int h, int w, const int *chans, int m,
                              const float *x, int s, float coef, float sigma, uint64_t seed,
                              uint32_t image, uint32_t sample, float *out) {
    (void)be;
    const size_t hw = (size_t)h * w, ss = (size_t)s * s;
    float *mask = xmalloc(ss * sizeof *mask);                 // (s, s)
    float *noise = xcalloc(3 * ss, sizeof *noise);            // (3, s, s) sigma * z, or 0
    float *cx = xmalloc(3 * ss * sizeof *cx);                 // (3, s, s) coef * x
    if (sigma != 0.0f)
        for (size_t i = 0; i < 3 * ss; i++) noise[i] = sigma * pc_philox_normal(seed, image, sample, i);
    for (size_t i = 0; i < 3 * ss; i++) cx[i] = coef * x[i];
    Resampler r;
    resampler_init(&r, h, w, s, s);
    for (int j = 0; j < m; j++) {
        resample_one(&r, amap + (size_t)chans[j] * hw, mask);
        for (int c = 0; c < 3; c++) {
            const float *xc = cx + c * ss, *nc = noise + c * ss;
            float *dst = out + ((size_t)j * 3 + c) * ss;
            for (size_t i = 0; i < ss; i++) dst[i] = xc[i] * (mask[i] + nc[i]);
        }
    }
    resampler_free(&r);
    free(mask);
    free(noise);
    free(cx);
}

// ---- weighted channel sum (SPEC §7) -------------------------------------------------------------

static int any_nonfinite(const float *v, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad |= !isfinite(v[i]);
    return bad;
}

void cpu_weighted_channel_sum(PcBackend *be, const float *act, int k, int h, int w,
                              const float *weights, int v, float *out) {
    (void)be;
    const size_t hw = (size_t)h * w;
    if (!any_nonfinite(act, (size_t)k * hw) && !any_nonfinite(weights, (size_t)v * k)) {
        // out (V, hw) = weights (V, K) x act (K, hw)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, v, (int)hw, k, 1.0f, weights, k,
                    act, (int)hw, 0.0f, out, (int)hw);
    } else {
        // torch.nansum semantics: a NaN product (NaN operand, or inf * 0) adds nothing
        for (int vi = 0; vi < v; vi++) {
            float *dst = out + vi * hw;
            memset(dst, 0, hw * sizeof *dst);
            for (int ki = 0; ki < k; ki++) {
                const float wk = weights[(size_t)vi * k + ki];
                const float *src = act + ki * hw;
                for (size_t i = 0; i < hw; i++) {
                    float term = wk * src[i];
                    if (!isnan(term)) dst[i] += term;
                }
            }
        }
    }
    const size_t n = (size_t)v * hw;
    for (size_t i = 0; i < n; i++) out[i] = out[i] > 0.0f ? out[i] : 0.0f;
}

// ---- LNorm (SPEC §7) ----------------------------------------------------------------------------

// Average pooling with a (sy, sx) window and stride, no padding: c (h, w) -> out (h/sy, w/sx).
static void avgpool_one(const float *c, int h, int w, int sy, int sx, float *out) {
    const int ph = h / sy, pw = w / sx;
    const float inv = 1.0f / (float)(sy * sx);
    for (int y = 0; y < ph; y++)
        for (int x = 0; x < pw; x++) {
            float sum = 0.0f;
            for (int dy = 0; dy < sy; dy++)
                for (int dx = 0; dx < sx; dx++) sum += c[(size_t)(y * sy + dy) * w + x * sx + dx];
            out[(size_t)y * pw + x] = sum * inv;
        }
}

void cpu_lnorm(PcBackend *be, const float *c, int m, int h, int w, int th, int tw, PcLnormMode mode,
               float *out) {
    (void)be;
    const size_t hw = (size_t)h * w;
    int ph = th, pw = tw;           // size of the pooled map
    int sy = 1, sx = 1;
    if (mode == PC_LNORM_PAPER) {
        sy = h / th > 0 ? h / th : 1;
        sx = w / tw > 0 ? w / tw : 1;
        ph = h / sy, pw = w / sx;
    }
    float *pooled = xmalloc((size_t)ph * pw * sizeof *pooled);   // (ph, pw)
    float *norm = xmalloc(hw * sizeof *norm);                    // (h, w)
    Resampler down, up;
    resampler_init(&down, h, w, ph, pw);
    resampler_init(&up, ph, pw, h, w);
    for (int i = 0; i < m; i++) {
        const float *ci = c + i * hw;
        if (mode == PC_LNORM_PAPER) avgpool_one(ci, h, w, sy, sx, pooled);
        else resample_one(&down, ci, pooled);
        resample_one(&up, pooled, norm);
        float *dst = out + i * hw;
        for (size_t j = 0; j < hw; j++) dst[j] = ci[j] / (norm[j] > 1e-12f ? norm[j] : 1e-12f);
    }
    resampler_free(&down);
    resampler_free(&up);
    free(norm);
    free(pooled);
}

// ---- elementwise --------------------------------------------------------------------------------

void cpu_mul_relu(PcBackend *be, const float *a, const float *b, size_t n, float *out) {
    (void)be;
    for (size_t i = 0; i < n; i++) {
        float p = a[i] * b[i];
        out[i] = p > 0.0f ? p : 0.0f;   // NaN -> 0
    }
}

// ---- Gaussian blur baseline (SPEC §8) -----------------------------------------------------------

void cpu_blur(PcBackend *be, const float *x, int s, int ksize, float sigma, float *out) {
    (void)be;
    const int half = ksize / 2;
    const size_t ss = (size_t)s * s;
    double *g = xmalloc((size_t)ksize * sizeof *g);
    pc_blur_taps(ksize, sigma, g);
    int *col = xmalloc((size_t)(s + 2 * half) * sizeof *col);   // padded index -> source index
    for (int i = -half; i < s + half; i++) col[i + half] = pc_reflect_index(i, s);
    float *tmp = xmalloc(ss * sizeof *tmp);   // (s, s) after the horizontal pass
    for (int c = 0; c < 3; c++) {
        const float *src = x + c * ss;
        for (int y = 0; y < s; y++)
            for (int xo = 0; xo < s; xo++) {
                double acc = 0.0;
                for (int i = 0; i < ksize; i++) acc += g[i] * src[(size_t)y * s + col[xo + i]];
                tmp[(size_t)y * s + xo] = (float)acc;
            }
        float *dst = out + c * ss;
        for (int y = 0; y < s; y++)
            for (int xo = 0; xo < s; xo++) {
                double acc = 0.0;
                for (int i = 0; i < ksize; i++) acc += g[i] * tmp[(size_t)col[y + i] * s + xo];
                dst[(size_t)y * s + xo] = (float)acc;
            }
    }
    free(tmp);
    free(col);
    free(g);
}

// ---- stable descending argsort ------------------------------------------------------------------

// LSD radix sort on keys where a smaller key means a larger value; LSD radix is stable, so ties
// keep ascending index order. -0 and +0 tie; every NaN counts as larger than +inf (so NaNs come
// first, as after flipping torch's ascending argsort) and NaNs tie among themselves.
void cpu_argsort_desc(PcBackend *be, const float *map, int n, int *order) {
    (void)be;
    if (n <= 0) return;
    uint32_t *key = xmalloc((size_t)n * sizeof *key), *key2 = xmalloc((size_t)n * sizeof *key2);
    int *idx2 = xmalloc((size_t)n * sizeof *idx2);
    for (int i = 0; i < n; i++) {
        key[i] = pc_float_key_desc(map[i]);
        order[i] = i;
    }
    uint32_t *kin = key, *kout = key2;
    int *iin = order, *iout = idx2;
    for (int shift = 0; shift < 32; shift += 8) {
        size_t count[257] = {0};
        for (int i = 0; i < n; i++) count[((kin[i] >> shift) & 0xffu) + 1]++;
        if (count[((kin[0] >> shift) & 0xffu) + 1] == (size_t)n) continue;   // byte all equal
        for (int b = 0; b < 256; b++) count[b + 1] += count[b];
        for (int i = 0; i < n; i++) {
            size_t dst = count[(kin[i] >> shift) & 0xffu]++;
            kout[dst] = kin[i];
            iout[dst] = iin[i];
        }
        uint32_t *kt = kin; kin = kout; kout = kt;
        int *it = iin; iin = iout; iout = it;
    }
    if (iin != order) memcpy(order, iin, (size_t)n * sizeof *order);
    free(idx2);
    free(key2);
    free(key);
}

// ---- insertion / deletion samples (SPEC §8) -----------------------------------------------------

void cpu_insdel_samples(PcBackend *be, const float *x, const float *base, const int *order, int s,
                        int t0, int m, int pixels_per_step, int deletion, float *out) {
    (void)be;
    const size_t ss = (size_t)s * s, img = 3 * ss;
    const float *taken = deletion ? base : x;     // the first ordered pixels come from here
    const float *rest = deletion ? x : base;
    // each sample is the previous one plus the next pixels_per_step ordered pixels, so only the
    // first sample of the call is built from scratch
    size_t done = 0;                              // ordered pixels already taken in the sample
    for (int j = 0; j < m; j++) {
        unsigned long long want = (unsigned long long)pixels_per_step * (unsigned long long)(t0 + j + 1);
        const size_t n_taken = want < ss ? (size_t)want : ss;
        float *dst = out + (size_t)j * img;
        memcpy(dst, j == 0 ? rest : dst - img, img * sizeof *dst);
        for (size_t i = done; i < n_taken; i++) {
            const size_t p = (size_t)order[i];
            dst[p] = taken[p];
            dst[ss + p] = taken[ss + p];
            dst[2 * ss + p] = taken[2 * ss + p];
        }
        done = n_taken;
    }
}
