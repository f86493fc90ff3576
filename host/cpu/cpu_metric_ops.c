// cpu_metric_ops.c: the perturbation metrics' ops of the CPU backend (backend.h: road_impute,
// region_samples, uniform_baseline), the reference of cuda/cuda_metric_ops.cu. Index and value
// arithmetic shared with the CUDA twins: host/metric_math.h.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"
#include "metric_math.h"
#include "philox.h"

// LAPACK (OpenBLAS ships it): solves A X = B for a symmetric positive definite band matrix A
// (kd super-diagonals, upper band storage ab(kd + 1 + i - j, j) = A(i, j), column-major) and
// nrhs right-hand sides; info > 0 when A is not positive definite.
extern void dpbsv_(const char *uplo, const int *n, const int *kd, const int *nrhs, double *ab, const int *ldab,
                   double *b, const int *ldb, int *info);

// The imputation system of one mask: unknowns numbered in row-major pixel order (var[p] >= 0),
// M = diag(weight sum) - W (W the neighbour weights between unknowns), B[:, c] = the weighted sum
// of the known neighbours' values of channel c. M is the negative of the reference's matrix A,
// B of its b: the same solution. Returns the number of unknowns; *kd_out the band width.
static int road_unknowns(const unsigned char *removed, int s, int *var, int *kd_out) {
    const int ss = s * s;
    int n = 0, kd = 0;
    for (int p = 0; p < ss; p++) var[p] = removed[p] ? n++ : -1;
    for (int p = 0; p < ss; p++) {
        if (var[p] < 0) continue;
        const int y = p / s, x = p % s;
        for (int k = 0; k < PC_ROAD_NEIGHBOURS; k++) {
            int q;
            double w;
            if (!pc_road_neighbour_at(k, y, x, s, &q, &w) || var[q] < 0) continue;
            const int d = abs(var[q] - var[p]);
            if (d > kd) kd = d;
        }
    }
    *kd_out = kd;
    return n;
}

// Fills the band matrix (upper, ldab = kd + 1) and the right-hand sides (n, 3) column-major.
static void road_system(const float *x, int s, const int *var, int n, int kd, double *ab, double *b) {
    const int ss = s * s, ldab = kd + 1;
    memset(ab, 0, (size_t)ldab * n * sizeof *ab);
    memset(b, 0, (size_t)3 * n * sizeof *b);
    for (int p = 0; p < ss; p++) {
        const int i = var[p];
        if (i < 0) continue;
        const int y = p / s, x0 = p % s;
        ab[(size_t)kd + (size_t)i * ldab] = pc_road_weight_sum(y, x0, s);
        for (int k = 0; k < PC_ROAD_NEIGHBOURS; k++) {
            int q;
            double w;
            if (!pc_road_neighbour_at(k, y, x0, s, &q, &w)) continue;
            const int j = var[q];
            if (j < 0) {
                for (int c = 0; c < 3; c++) b[i + (size_t)c * n] += w * (double)x[(size_t)c * ss + q];
            } else if (i < j) {
                ab[(size_t)(kd + i - j) + (size_t)j * ldab] = -w;   // A(i, j), i < j
            }
        }
    }
}

// x (3, s, s), order (s*s) -> out (m, 3, s, s)
void cpu_road_impute(PcBackend *be, const float *x, const int *order, int s, const int *counts, int m, int from_end,
                     float noise, uint64_t seed, uint32_t image, const uint32_t *samples, float *out) {
    (void)be;
    const int ss = s * s;
    unsigned char *removed = xmalloc((size_t)ss);
    int *var = xmalloc((size_t)ss * sizeof *var);
    for (int j = 0; j < m; j++) {
        float *o = out + (size_t)j * 3 * ss;
        memcpy(o, x, (size_t)3 * ss * sizeof *o);
        const int k = counts[j] < 0 ? 0 : counts[j] > ss ? ss : counts[j];
        memset(removed, 0, (size_t)ss);
        for (int i = 0; i < k; i++) removed[order[from_end ? ss - k + i : i]] = 1;
        int kd, info = 0;
        const int n = road_unknowns(removed, s, var, &kd);
        if (n == 0) continue;
        const int ldab = kd + 1, nrhs = 3;
        // (kd + 1) n doubles: at most (s + 2) s^2, 90 MB for s = 224
        double *ab = xmalloc((size_t)ldab * n * sizeof *ab), *b = xmalloc((size_t)3 * n * sizeof *b);
        road_system(x, s, var, n, kd, ab, b);
        dpbsv_("U", &n, &kd, &nrhs, ab, &ldab, b, &n, &info);
        for (int p = 0; p < ss; p++) {
            if (var[p] < 0) continue;
            for (int c = 0; c < 3; c++) {
                const float z = pc_philox_normal(seed, image, samples[j], (uint64_t)c * ss + p);
                // info != 0: no known pixel (every pixel removed): the system is singular
                o[(size_t)c * ss + p] = info ? NAN : pc_road_value(b[var[p] + (size_t)c * n], noise, z);
            }
        }
        free(ab);
        free(b);
    }
    free(removed);
    free(var);
}

// x, base (3, s, s), rank (patches) -> out (m, 3, s, s)
void cpu_region_samples(PcBackend *be, const float *x, const float *base, const int *rank, int s, int patch, int t0,
                        int m, float *out) {
    (void)be;
    const size_t ss = (size_t)s * s;
    for (int j = 0; j < m; j++) {
        float *o = out + (size_t)j * 3 * ss;
        for (int y = 0; y < s; y++)
            for (int xx = 0; xx < s; xx++) {
                const size_t p = (size_t)y * s + xx;
                const float *src = rank[pc_region_of(y, xx, s, patch)] <= t0 + j ? base : x;
                for (int c = 0; c < 3; c++) o[c * ss + p] = src[c * ss + p];
            }
    }
}

// -> out (3, s, s)
void cpu_uniform_baseline(PcBackend *be, int s, float lo, float hi, uint64_t seed, uint32_t image, uint32_t sample,
                          float *out) {
    (void)be;
    const size_t ss = (size_t)s * s;
    pc_philox_fill_uniform(seed, image, sample, 0, 3 * ss, out);
    for (int c = 0; c < 3; c++)
        for (size_t p = 0; p < ss; p++) out[c * ss + p] = pc_uniform_baseline_value(out[c * ss + p], lo, hi, c);
}
