// test_cuda_quant_host.cu: the parts of the CUDA 8-bit path (cuda/cuda_quant*.cu) that run
// without a GPU, built whenever the CUDA backend is:
//  1. the cuDNN graph's operations (cu_qgraph_ops_check): every tensor, the convolution and the
//     pointwise descriptors of each graph variant (fused, fp32 accumulator, int32 conv, conv only), fp8 and
//     int8, with and without ReLU, 3x3 / 1x1 / stride 2 shapes, built and finalised by cuDNN's
//     backend API (which checks each attribute's type and value); only the operation graph and
//     what follows need a device (test_cuda_quant);
//  2. the fp8 encoding the weights use on the host and the activations on the device
//     (__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3): cuda_fp8.h's host emulation here)
//     against quant_scheme.h's pc_q_e4m3, bit for bit: 2^20 float bit patterns, every midpoint between
//     neighbouring E4M3 values and one float either side, 440 .. 600 by 1/8 (zeros by value).
#include <cuda_fp8.h>
#include <math.h>
#include <string.h>

#include "cuda_quant.cuh"
extern "C" {
#include "testutil.h"
}

static void test_ops(void) {
    struct {
        int c, h, k, r, stride, pad;
    } shapes[3] = {{16, 12, 32, 3, 1, 1}, {32, 9, 16, 1, 1, 0}, {64, 14, 64, 3, 2, 1}};
    static const char *const vname[CU_QV_LEGACY] = {"fused", "fp32 accumulator", "int32 conv", "conv only"};
    for (int f = 1; f <= 2; f++)
        for (int v = 0; v < CU_QV_LEGACY; v++)
            for (int sh = 0; sh < 3; sh++)
                for (int relu = 0; relu < 2; relu++) {
                    if (cu_qv_int8_only(v) && f != PC_QUANT_INT8) continue;
                    int o = (shapes[sh].h + 2 * shapes[sh].pad - shapes[sh].r) / shapes[sh].stride + 1;
                    CuQShape s = {(PcQuantFormat)f, 8, shapes[sh].c, shapes[sh].h, shapes[sh].h, shapes[sh].k,
                                  shapes[sh].r, shapes[sh].stride, shapes[sh].pad, o, o, relu};
                    PcError err = {{0}};
                    int n = cu_qgraph_ops_check(&s, v, &err);
                    int want = v == CU_QV_CONV_ONLY ? 1 : v == CU_QV_I32 ? 2 : relu ? 4 : 3;
                    CHECK(n == want, "%s %s c%d k%d r%d s%d relu %d: %d operations (want %d): %s",
                          f == PC_QUANT_INT8 ? "int8" : "fp8", vname[v], s.c, s.k, s.r, s.stride, relu, n, want,
                          err.msg);
                }
    printf("  graph operations: fp8 and int8, the 4 graph variants, 3 shapes, with and without ReLU: built\n");
}

static float e4m3_value(unsigned char c) {
    int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
    if (e == 15 && m == 7) return NAN;
    float v = e == 0 ? ldexpf((float)m, -9) : ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return s ? -v : v;
}

static size_t diff_one(float x, size_t *nan_bad) {
    float want = pc_q_e4m3(x), got = e4m3_value((unsigned char)__nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3));
    if (isnan(want) || isnan(got)) {
        *nan_bad += !(isnan(want) && isnan(got));
        return 0;
    }
    return want != got;
}

static void test_fp8_encoding(void) {
    size_t n = 0, diff = 0, nan_bad = 0;
    uint32_t s = 1u;
    for (int i = 0; i < (1 << 20); i++, n++) {
        s = s * 1664525u + 1013904223u;
        float x;
        memcpy(&x, &s, 4);
        diff += diff_one(x, &nan_bad);
    }
    for (int c = 0; c < 0x7e; c++) {
        float m = 0.5f * (e4m3_value((unsigned char)c) + e4m3_value((unsigned char)(c + 1)));
        const float pts[3] = {m, nextafterf(m, 0.0f), nextafterf(m, INFINITY)};
        for (int k = 0; k < 3; k++, n += 2) diff += diff_one(pts[k], &nan_bad) + diff_one(-pts[k], &nan_bad);
    }
    for (float x = 440.0f; x <= 600.0f; x += 0.125f, n += 2) diff += diff_one(x, &nan_bad) + diff_one(-x, &nan_bad);
    printf("  __nv_cvt_float_to_fp8 (host) vs pc_q_e4m3: %zu values, %zu differ, %zu NaN mismatches\n", n, diff,
           nan_bad);
    CHECK(diff == 0 && nan_bad == 0, "fp8 encoding differs from quant_scheme.h on %zu of %zu values (%zu NaN)", diff, n,
          nan_bad);
}

int main(void) {
    printf("test_cuda_quant_host (no GPU needed)\n");
    test_ops();
    test_fp8_encoding();
    return test_summary();
}
