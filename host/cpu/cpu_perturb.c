// cpu_perturb.c: the perturbation ops of the CPU backend (backend.h: rise_masks, masked_batch,
// occlusion_inputs, weighted_map_sum), the reference of cuda/cuda_perturb.cu.
// The resize must round every double operation as scipy does (no fused multiply-add), whatever
// -march a build uses.
#pragma GCC optimize("fp-contract=off")
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "cpu_internal.h"

// scipy.ndimage's map_coordinate for mode 'mirror' (skimage's 'reflect'): reflection about the
// first and last sample centres, in double as scipy does it.
static double mirror_coord(double in, int len) {
    if (len <= 1) return 0;
    const long sz2 = 2L * len - 2;
    if (in < 0) {
        in = (double)(sz2 * (long)(-in / sz2)) + in;
        in = in <= 1 - len ? in + (double)sz2 : -in;
    } else if (in > len - 1) {
        in -= (double)(sz2 * (long)(in / sz2));
        if (in >= len) in = (double)sz2 - in;
    }
    return in;
}

// Integer sample index mirrored into [0, len) (scipy's spline boundary for 'mirror').
static int mirror_index(long i, int len) { return (int)mirror_coord((double)i, len); }

// One axis of scipy's zoom (grid_mode, order 1) at output index k: the two source samples and
// their weights (get_spline_interpolation_weights: w0 = 1 - f, w1 = 1 - w0).
static void zoom_tap(int k, int cells, int up, int *i0, int *i1, double *w0, double *w1) {
    const double zoom = (double)cells / (double)up;
    double cc = ((double)k + 0.5) * zoom - 0.5;
    cc = mirror_coord(cc, cells);
    const double fl = floor(cc);
    const long start = (long)fl;
    *i0 = start < 0 || start >= cells ? mirror_index(start, cells) : (int)start;
    *i1 = start + 1 >= cells || start + 1 < 0 ? mirror_index(start + 1, cells) : (int)(start + 1);
    *w0 = 1.0 - (cc - fl);
    *w1 = 1.0 - *w0;
}

// grid (m, cells, cells) u8, offsets (m, 2) i32 -> out (m, s, s)
void cpu_rise_masks(PcBackend *be, const unsigned char *grid, const int *offsets, int m, int cells, int up, int s,
                    float *out) {
    (void)be;
    const size_t cc = (size_t)cells * cells, ss = (size_t)s * s;
    for (int i = 0; i < m; i++) {
        const unsigned char *g = grid + (size_t)i * cc;
        const int oy = offsets[2 * i], ox = offsets[2 * i + 1];
        for (int y = 0; y < s; y++) {
            int r0, r1;
            double a0, a1;
            zoom_tap(oy + y, cells, up, &r0, &r1, &a0, &a1);
            for (int x = 0; x < s; x++) {
                int c0, c1;
                double b0, b1;
                zoom_tap(ox + x, cells, up, &c0, &c1, &b0, &b1);
                // scipy's filter order: (r0, c0), (r0, c1), (r1, c0), (r1, c1); coeff * wr * wc
                double t = 0;
                t += (double)g[r0 * cells + c0] * a0 * b0;
                t += (double)g[r0 * cells + c1] * a0 * b1;
                t += (double)g[r1 * cells + c0] * a1 * b0;
                t += (double)g[r1 * cells + c1] * a1 * b1;
                out[(size_t)i * ss + (size_t)y * s + x] = (float)t;
            }
        }
    }
}

// x (3, s, s), masks (m, s, s) -> out (m, 3, s, s)
void cpu_masked_batch(PcBackend *be, const float *x, const float *masks, int m, int s, float *out) {
    (void)be;
    const size_t ss = (size_t)s * s;
    for (int i = 0; i < m; i++)
        for (int c = 0; c < 3; c++) {
            const float *mk = masks + (size_t)i * ss, *xc = x + (size_t)c * ss;
            float *o = out + ((size_t)i * 3 + c) * ss;
            for (size_t p = 0; p < ss; p++) o[p] = xc[p] * mk[p];
        }
}

// x (3, s, s) -> out (m, 3, s, s): positions t0 .. t0 + m - 1 in captum's order
void cpu_occlusion_inputs(PcBackend *be, const float *x, int s, int window, int stride, int t0, int m, float *out) {
    (void)be;
    const int npos = (s - window + stride - 1) / stride + 1;
    const size_t ss = (size_t)s * s;
    for (int i = 0; i < m; i++) {
        const int t = t0 + i, y0 = (t % npos) * stride, x0 = (t / npos) * stride;
        const int y1 = y0 + window < s ? y0 + window : s, x1 = x0 + window < s ? x0 + window : s;
        float *o = out + (size_t)i * 3 * ss;
        memcpy(o, x, 3 * ss * sizeof(float));
        for (int c = 0; c < 3; c++)
            for (int y = y0; y < y1; y++) memset(o + c * ss + (size_t)y * s + x0, 0, (size_t)(x1 - x0) * sizeof(float));
    }
}

// out (n) += w (m) ^T maps (m, n)
void cpu_weighted_map_sum(PcBackend *be, const float *maps, const float *w, int m, int n, float *out) {
    (void)be;
    if (m > 0) cblas_sgemv(CblasRowMajor, CblasTrans, m, n, 1.0f, maps, n, w, 1, 1.0f, out, 1);
}
