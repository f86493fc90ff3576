// cpu_direct.c: the direct convolution kernel of the CPU backend for few-channel, high-resolution
// layers (AVX-512), used by cpu_nn.c's conv_forward when the CPU has AVX-512 (see cpu_internal.h).
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

// ---- direct convolution (AVX-512) ------------------------------------------------------------
//
// im2col + GEMM moves K = Cin*k*k floats through memory per output pixel to do 2*Cout*K flops:
// for the few-channel, high-resolution layers of small networks that copy costs more than the
// GEMM. This kernel reads the input in place instead: 8 output channels x 32 output columns of
// one output row are accumulated in 16 registers while it walks (ci, ky, kx), each step one
// (masked) load of 2 x 16 input values and 8 weight broadcasts for 16 FMAs. Masked loads
// implement the zero padding at the left/right edges; rows outside the image are skipped.
// Strides 1 and 2.



int cpu_has_avx512(void) {
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

__attribute__((target("avx512f"))) void cpu_direct_part(void *arg, int part, int parts) {
    const DirectJob *j = arg;
    const long rows = (long)j->n * j->nd->h;
    const long r0 = cpu_part_begin(rows, part, parts), r1 = cpu_part_begin(rows, part + 1, parts);
    if (j->nd->p.conv.stride == 1) direct_rows(j, r0, r1, 1);
    else direct_rows(j, r0, r1, 2);
}

// Which convolutions take the direct kernel: stride 1 or 2, few output channels (where im2col costs
// more than it saves), rows long enough to fill the vectors.
int cpu_use_direct(const PcConvParams *c, int ow) {
    return (c->stride == 1 || c->stride == 2) && c->k > 1 && c->k <= 7 && c->pad < c->k && c->cout <= 64 &&
           ow >= 32;
}

size_t cpu_direct_pack_floats(const PcConvParams *c) {
    return (size_t)((c->cout + DIRECT_CO - 1) / DIRECT_CO) * c->cin * c->k * c->k * DIRECT_CO;
}

// (Cout, Cin, k, k) -> (ceil(Cout/8), Cin, k, k, 8), zeros past Cout.
void cpu_direct_pack(const PcConvParams *c, float *dst) {
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
