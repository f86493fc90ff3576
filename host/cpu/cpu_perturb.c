// cpu_perturb.c: the perturbation ops of the CPU backend (backend.h: rise_masks, masked_batch,
// occlusion_inputs, weighted_map_sum), the reference of cuda/cuda_perturb.cu.
// The resize must round every double operation as scipy does (no fused multiply-add), whatever
// -march a build uses.
#pragma GCC optimize("fp-contract=off")
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "cpu_internal.h"
#include "index_math.h"

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
            pc_zoom_tap(oy + y, cells, up, &r0, &r1, &a0, &a1);
            for (int x = 0; x < s; x++) {
                int c0, c1;
                double b0, b1;
                pc_zoom_tap(ox + x, cells, up, &c0, &c1, &b0, &b1);
                out[(size_t)i * ss + (size_t)y * s + x] = pc_zoom_value(g, cells, r0, r1, a0, a1, c0, c1, b0, b1);
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
    const int npos = pc_occlusion_positions(s, window, stride);
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
