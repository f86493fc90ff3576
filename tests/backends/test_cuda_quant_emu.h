// test_cuda_quant_emu.h: the in-test emulation of the CUDA backend's 8-bit convolutions
// (host/shared/quant_scheme.h), written here from quant_scheme.h's functions alone so that test_cuda_quant.c and
// test_cuda_quant_nets.c do not depend on the CPU backend's emulation: the fp16 storage of the
// half path (_Float16: round to nearest even), the decoders of the device's 8-bit codes, the
// per-channel weight quantisation and a direct convolution in double.
#ifndef PC_TEST_CUDA_QUANT_EMU_H
#define PC_TEST_CUDA_QUANT_EMU_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quant_scheme.h"

// The C entry points of cuda/cuda_quant.cu (only in a CUDA build: PC_HAVE_CUDA).
#ifdef PC_HAVE_CUDA
int pc_cuda_quant_codes_f32(const float *x, size_t n, float inv_s, int format, unsigned char *codes, char *msg,
                            size_t msg_size);
int pc_cuda_quant_codes_f16(const uint16_t *x, size_t n, float inv_s, int format, unsigned char *codes, char *msg,
                            size_t msg_size);
int pc_cuda_quant_fallbacks(const PcBackendNet *bn, int *nodes, int max);
#endif

// x rounded to fp16 (the half path's storage) and back.
static inline float emu_half(float x) { return (float)(_Float16)x; }

static inline float emu_half_bits(uint16_t b) {
    _Float16 h;
    memcpy(&h, &b, 2);
    return (float)h;
}

// Value of an E4M3 code (OCP e4m3fn: bias 7, no infinities, S.1111.111 = NaN), decoded by hand.
static inline float emu_e4m3_value(unsigned char c) {
    int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
    if (e == 15 && m == 7) return NAN;
    float v = e == 0 ? ldexpf((float)m, -9) : ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return s ? -v : v;
}

// Value of a device code of format f.
static inline float emu_code_value(unsigned char c, PcQuantFormat f) {
    return f == PC_QUANT_INT8 ? (float)(signed char)c : emu_e4m3_value(c);
}

// Conv weights quantised as quant_scheme.h says: s_w (K) and the values q_w (K, C, R, R) = Q(w / s_w)
// (the codes' values, not rescaled). Without a format (PC_QUANT_NONE): the weights rounded to
// half and s_w = 1 (the fp16 path).
static inline void emu_weights(const float *w, int k, int c, int r, PcQuantFormat f, float *s_w, float *q_w) {
    const long per = (long)c * r * r;
    if (f == PC_QUANT_NONE) {
        for (long i = 0; i < (long)k * per; i++) q_w[i] = emu_half(w[i]);
        for (int o = 0; o < k; o++) s_w[o] = 1.0f;
        return;
    }
    pc_quant_weight_scales(w, k, per, f, s_w);
    for (int o = 0; o < k; o++) {
        const float inv = 1.0f / s_w[o];
        for (long j = 0; j < per; j++) q_w[(long)o * per + j] = pc_q_round(w[(long)o * per + j] * inv, f);
    }
}

// One image's convolution, NCHW: x (C, H, W) as stored (half values), q_w (K, C, R, R) from
// emu_weights, bias (K) -> y (K, OH, OW) and sumabs (K, OH, OW) (the sum of |terms| scaled like
// y, for tolerances; may be NULL). 8-bit (f != NONE): q_x = Q(x * inv_s), acc = sum q_x q_w in
// double, y = relu?((float)acc * (s_x * s_w[k]) + b[k]) in fp32 operations, as the device's
// pointwise ops; fp16 path: acc = sum x q_w, y = relu?((float)acc + b). Output not rounded.
static inline void emu_conv(const float *x, int c, int h, int w, const float *q_w, const float *s_w, const float *bias,
                            int k, int r, int stride, int pad, int relu, PcQuantFormat f, float s_x, float *y,
                            double *sumabs) {
    const int oh = (h + 2 * pad - r) / stride + 1, ow = (w + 2 * pad - r) / stride + 1;
    const float inv_s = f == PC_QUANT_NONE ? 1.0f : 1.0f / s_x;
    float *xq = (float *)malloc((size_t)c * h * w * sizeof(float));
    for (size_t i = 0; i < (size_t)c * h * w; i++) xq[i] = f == PC_QUANT_NONE ? x[i] : pc_q_round(x[i] * inv_s, f);
    for (int o = 0; o < k; o++) {
        const float desc = f == PC_QUANT_NONE ? 1.0f : s_x * s_w[o];
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                double acc = 0, sa = 0;
                for (int ch = 0; ch < c; ch++)
                    for (int dy = 0; dy < r; dy++) {
                        int yy = oy * stride - pad + dy;
                        if (yy < 0 || yy >= h) continue;
                        for (int dx = 0; dx < r; dx++) {
                            int xx = ox * stride - pad + dx;
                            if (xx < 0 || xx >= w) continue;
                            double t = (double)xq[((size_t)ch * h + yy) * w + xx] *
                                       q_w[(((size_t)o * c + ch) * r + dy) * r + dx];
                            acc += t, sa += fabs(t);
                        }
                    }
                float v = (float)acc * desc;
                v = v + bias[o];
                if (relu && v < 0.0f) v = 0.0f;
                size_t at = ((size_t)o * oh + oy) * ow + ox;
                y[at] = v;
                if (sumabs) sumabs[at] = sa * desc;
            }
    }
    free(xq);
}

#endif
