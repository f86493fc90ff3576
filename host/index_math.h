// index_math.h: the index and rounding arithmetic that the CPU backend (host/cpu/cpu_ops.c) and
// the CUDA backend (cuda/cuda_ops.cu) must compute identically, written once as static inline
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

#endif
