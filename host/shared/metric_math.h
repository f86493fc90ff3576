// metric_math.h: the index and value arithmetic of the perturbation metrics' backend ops
// (backend.h: road_impute, region_samples, uniform_baseline; docs/metrics.md) that the CPU twins
// (host/cpu/cpu_metric_ops.c) and the CUDA twins (cuda/cuda_metric_ops.cu) must compute
// identically: static inline, __host__ __device__ under nvcc (PC_HD), as index_math.h.
#ifndef PC_METRIC_MATH_H
#define PC_METRIC_MATH_H

#include <stdint.h>

#include "index_math.h"

// Philox streams of the perturbation metrics (philox.h; the sample word is (stream << 16) | k):
// ROAD's imputation noise, k = (order << 8) | percentage index (order 0 MoRF, 1 LeRF); the uniform
// baseline of pixel flipping and region perturbation, k = 0.
enum { PC_STREAM_ROAD = 16, PC_STREAM_PERTURB_BASE = 17 };

// ROAD's noisy linear imputation (Rong et al. 2022, tleemann/road_evaluation imputations.py): an
// imputed pixel is the weighted mean of its 8 neighbours inside the image, weight 1/6 for the 4
// edge neighbours and 1/12 for the 4 corner ones. Neighbour n (0..7) as (dy, dx) and weight, in
// the reference's order.
#define PC_ROAD_NEIGHBOURS 8
static inline PC_HD void pc_road_neighbour(int n, int *dy, int *dx, double *w) {
    const int ty[8] = {1, 0, -1, 1, 0, -1, 1, -1}, tx[8] = {1, 1, 1, -1, -1, -1, 0, 0};
    *dy = ty[n];
    *dx = tx[n];
    *w = (ty[n] != 0 && tx[n] != 0) ? 1.0 / 12.0 : 1.0 / 6.0;
}

// Neighbour n of pixel (y, x) of an s x s image: 1 with its flat index y' * s + x' in *q and its
// weight in *w, or 0 when it lies outside the image.
static inline PC_HD int pc_road_neighbour_at(int n, int y, int x, int s, int *q, double *w) {
    int dy, dx;
    pc_road_neighbour(n, &dy, &dx, w);
    const int yy = y + dy, xx = x + dx;
    *q = yy * s + xx;
    return yy >= 0 && yy < s && xx >= 0 && xx < s;
}

// The sum of the weights of pixel (y, x)'s neighbours inside an s x s image: the diagonal of
// the imputation system (1 inside, less at the border).
static inline PC_HD double pc_road_weight_sum(int y, int x, int s) {
    double sum = 0.0, w;
    int q;
    for (int n = 0; n < PC_ROAD_NEIGHBOURS; n++)
        if (pc_road_neighbour_at(n, y, x, s, &q, &w)) sum += w;
    return sum;
}

// An imputed value: the solution rounded to float plus noise * z in float32, as pytorch-grad-cam
// (res.float() + noise * randn) computes it.
static inline PC_HD float pc_road_value(double solution, float noise, float z) {
    return (float)solution + noise * z;
}

// Region perturbation (Samek et al. 2017; Quantus RegionPerturbation): square patches of side
// `patch` on a grid padded by pad = (patch - s % patch) % patch pixels, pad / 2 of them before the
// first row / column (Quantus's get_padding_size). Patches per side and the patch of pixel (y, x).
static inline PC_HD int pc_region_pad_total(int s, int patch) { return (patch - s % patch) % patch; }
static inline PC_HD int pc_region_per_side(int s, int patch) { return (s + pc_region_pad_total(s, patch)) / patch; }
static inline PC_HD int pc_region_of(int y, int x, int s, int patch) {
    const int pad = pc_region_pad_total(s, patch) / 2;
    return ((y + pad) / patch) * pc_region_per_side(s, patch) + (x + pad) / patch;
}

// The uniform baseline's value of channel c: u uniform in [0, 1) over the pixel range [lo, hi)
// (image units), normalised as the input: (lo + (hi - lo) u - mean_c) / std_c, in float32.
static inline PC_HD float pc_uniform_baseline_value(float u, float lo, float hi, int c) {
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    return (lo + (hi - lo) * u - mean[c]) / std[c];
}

#endif
