// index_math.h: the index and rounding arithmetic that the CPU backend (host/cpu/) and the CUDA
// backend (cuda/) must compute identically, written once as static inline
// functions callable from host C and from CUDA device code (PC_HD is __host__ __device__ under
// nvcc), as ggml shares its common header between backends. Plain C, no state.
#ifndef PC_INDEX_MATH_H
#define PC_INDEX_MATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define PC_HD __host__ __device__
#else
#define PC_HD
#endif

// Reflection without repeating the edge (index -1 reads 1, index n reads n - 2; OpenCV's
// BORDER_REFLECT_101, torchvision's gaussian_blur padding), folded until inside [0, n).
static inline PC_HD int pc_reflect_index(int i, int n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

// Bilinear source coordinate of output index i of up() (SPEC §2; PyTorch's align_corners=False
// in float32): src = scale * (i + 0.5) - 0.5 clamped at 0, scale = n_in / n_out. Gives the two
// input indices and the weight t of the second (the first has 1 - t).
static inline PC_HD void pc_up_coord(int i, int n_in, int n_out, int *i0, int *i1, float *t) {
    const float scale = (float)n_in / (float)n_out;
    float src = scale * ((float)i + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    int a = (int)src;   // floor: src >= 0
    if (a > n_in - 1) a = n_in - 1;
    *i0 = a;
    *i1 = a < n_in - 1 ? a + 1 : a;
    *t = src - (float)a;
}

// A uint32 whose unsigned order is the float's total order (-NaN < -inf < ... < -0 < +0 < ...
// < +inf < +NaN): sorting or selecting on these keys is deterministic whatever the values.
static inline PC_HD uint32_t pc_float_key_asc(float v) {
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// The float of an ascending key (inverse of pc_float_key_asc).
static inline PC_HD float pc_key_to_float(uint32_t key) {
    uint32_t b = (key & 0x80000000u) ? (key & 0x7fffffffu) : ~key;
    float v;
    memcpy(&v, &b, sizeof v);
    return v;
}

// Key of the stable descending argsort (SPEC §8): ascending in the key = descending in v; -0
// ties +0, and every NaN is one canonical NaN (0x7fc00000) that sorts before +inf.
static inline PC_HD uint32_t pc_float_key_desc(float v) {
    uint32_t b = 0x7fc00000u;   // the canonical quiet NaN
    if (!isnan(v)) {
        if (v == 0.0f) v = 0.0f;
        memcpy(&b, &v, sizeof b);
    }
    return ~((b & 0x80000000u) ? ~b : (b | 0x80000000u));
}

// numpy's lerp for its "linear" percentile: a + (b - a) t, or b - (b - a)(1 - t) when t >= 0.5
// (exact at both ends).
static inline PC_HD double pc_numpy_lerp(double a, double b, double t) {
    const double diff = b - a;
    return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

// Position of the p-th percentile (0 <= p <= 100) in n sorted values, numpy's "linear" method.
static inline PC_HD double pc_percentile_pos(double p, size_t n) { return p / 100.0 * (double)(n - 1); }

// Double arithmetic rounded after every operation, in the order written (scipy's: no fused
// multiply-add). Device code says so explicitly; host files using these are compiled with
// fp-contract=off (cpu_perturb.c's pragma) or for a target without FMA.
#ifdef __CUDA_ARCH__
#define PC_DADD(a, b) __dadd_rn((a), (b))
#define PC_DMUL(a, b) __dmul_rn((a), (b))
#else
#define PC_DADD(a, b) ((a) + (b))
#define PC_DMUL(a, b) ((a) * (b))
#endif

// scipy.ndimage's map_coordinate for mode 'mirror' (skimage's 'reflect'): reflection about the
// first and last sample centres, in double as scipy does it.
static inline PC_HD double pc_mirror_coord(double in, int len) {
    if (len <= 1) return 0;
    const long long sz2 = 2LL * len - 2;
    if (in < 0) {
        in = PC_DADD((double)(sz2 * (long long)(-in / (double)sz2)), in);
        in = in <= 1 - len ? PC_DADD(in, (double)sz2) : -in;
    } else if (in > len - 1) {
        in = PC_DADD(in, -(double)(sz2 * (long long)(in / (double)sz2)));
        if (in >= len) in = PC_DADD((double)sz2, -in);
    }
    return in;
}

// One axis of scipy's zoom (grid_mode, order 1: skimage.transform.resize(order=1, mode='reflect',
// anti_aliasing=False), RISE's mask upsampling) at output index k of a cells -> up resize: the two
// source samples and their weights (get_spline_interpolation_weights: w0 = 1 - f, w1 = 1 - w0).
static inline PC_HD void pc_zoom_tap(int k, int cells, int up, int *i0, int *i1, double *w0, double *w1) {
    const double zoom = (double)cells / (double)up;
    double cc = PC_DADD(PC_DMUL(PC_DADD((double)k, 0.5), zoom), -0.5);
    cc = pc_mirror_coord(cc, cells);
    const double fl = floor(cc);
    const long long start = (long long)fl;
    *i0 = start < 0 || start >= cells ? (int)pc_mirror_coord((double)start, cells) : (int)start;
    *i1 = start + 1 >= cells || start + 1 < 0 ? (int)pc_mirror_coord((double)(start + 1), cells) : (int)(start + 1);
    *w0 = PC_DADD(1.0, -PC_DADD(cc, -fl));
    *w1 = PC_DADD(1.0, -*w0);
}

// A RISE mask value from the 0/1 grid g (cells, cells) and the taps of its row (r0, r1, a0, a1)
// and column (c0, c1, b0, b1): scipy's filter order (r0, c0), (r0, c1), (r1, c0), (r1, c1), each
// term coeff * wr * wc, summed in double and rounded once to float.
static inline PC_HD float pc_zoom_value(const unsigned char *g, int cells, int r0, int r1, double a0, double a1,
                                        int c0, int c1, double b0, double b1) {
    double t = 0;
    t = PC_DADD(t, PC_DMUL(PC_DMUL((double)g[r0 * cells + c0], a0), b0));
    t = PC_DADD(t, PC_DMUL(PC_DMUL((double)g[r0 * cells + c1], a0), b1));
    t = PC_DADD(t, PC_DMUL(PC_DMUL((double)g[r1 * cells + c0], a1), b0));
    t = PC_DADD(t, PC_DMUL(PC_DMUL((double)g[r1 * cells + c1], a1), b1));
    return (float)t;
}

// The blur baseline's 1-D Gaussian taps (SPEC §8): g[i] = exp(-0.5 ((i - ksize/2) / sigma)^2),
// normalised to sum 1, in double: both backends convolve with these doubles and accumulate in
// double, then round to float after each pass.
static inline void pc_blur_taps(int ksize, float sigma, double *g) {
    const int half = ksize / 2;
    double gsum = 0.0;
    for (int i = 0; i < ksize; i++) {
        double t = (i - half) / (double)sigma;
        g[i] = exp(-0.5 * t * t);
        gsum += g[i];
    }
    for (int i = 0; i < ksize; i++) g[i] /= gsum;
}

// Occlusion window positions per side of an s x s input (captum 0.6.0's ceil((s - window) /
// stride) + 1; 1 when the window covers the input). Position t of the window grid is at row
// (t % npos) * stride, column (t / npos) * stride (captum's order: the row varies fastest).
static inline PC_HD int pc_occlusion_positions(int s, int window, int stride) {
    return window >= s ? 1 : (s - window + stride - 1) / stride + 1;
}

#endif
