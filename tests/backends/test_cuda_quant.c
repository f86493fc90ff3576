// test_cuda_quant.c: the CUDA backend's 8-bit precisions (fp8 E4M3, int8; host/shared/quant_scheme.h), part 1.
//  a. Rounding: the codes the device's quantisation kernels give (cuda/cuda_quant.cu, the kernels
//     the 8-bit convs run) against quant_scheme.h's pc_q_e4m3 / pc_q_int8 on the host, bit for bit:
//     every representable value, every midpoint between neighbours and one float either side of
//     it, the saturation region (fp8 448 .. 480 and beyond, int8 126.5 .. 128.5), infinities and
//     NaN, subnormals, 2^20 random float bit patterns (inv_s = 1 and a non-power-of-two), and all
//     65,536 half values through the half-input kernel (4 scales). Zeros compare by value (quant_scheme.h
//     gives +0 for the input -0, the device -0; the same value in a conv). int8: a NaN input gives
//     code 0 (int8 has no NaN), checked separately.
//  b. One 8-bit conv (3x3 pad 1, 1x1, 3x3 stride 2, 1x1 stride 2, 64 channels; with and without
//     ReLU; batch 4) through the backend (net_prepare, net_set_quant, forward with a
//     tap) against the emulation in this test (test_cuda_quant_emu.h: quant_scheme.h's functions and a
//     conv in double) given the same scales, element by element: |gpu - ref| <= 2^-10 |ref| (the
//     half output's rounding, with a factor 2) + acc_tol * sum|terms| (the accumulation: int8
//     4e-5, fp8 2e-3, see kAccTolFp8) + 1e-7. Not measured on a GPU yet: the errors are printed
//     for the first run to state. That the 8-bit path ran is checked by the rms distance to the
//     unquantised conv (must be 4x the rms distance to the emulation) and by
//     pc_cuda_quant_fallbacks (no node fell back to fp16).
//     Also: the net before net_set_quant and after net_set_quant(NULL) gives the fp16 backend's
//     output bit for bit; the backward of an 8-bit net equals the fp16 backend's (quant ignored);
//     net_set_quant refuses a scale on a non-conv node, a negative scale, the wrong format and a
//     wrong node count with one line.
// fp8 needs compute capability 8.9: on an older GPU its parts skip with the reason printed.
// Skips (exit 77) when the CUDA backend is not compiled in or no device is present.
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "testutil.h"
#include "test_cuda_quant_emu.h"
#include "cuda_backend.h"

// The accumulation's share of the tolerance, times the sum of |terms| of each output. int8: int32
// sums are exact, fp32 conversion and the descale multiply leave ~1e-7. fp8: Hopper's fp8 tensor
// cores keep about 14 bits in their accumulation (DeepSeek-V3 technical report, 2024) unless the
// kernel promotes partial sums to fp32; 2e-3 allows that (a wrong layout or rounding is O(1)).
static const double kAccTolFp8 = 2e-3, kAccTolInt8 = 4e-5;

static PcBackend *gpu16;           // fp16, the reference of "runs as fp16"
static PcBackend *gpu8[2];         // fp8, int8 (NULL when the device lacks it)
static const char *const kFmt[2] = {"fp8", "int8"};

static TestRng rng = {2024u};
static float frand(void) { return test_rand01(&rng); }

// ---- a. rounding ------------------------------------------------------------------------------

#ifdef PC_HAVE_CUDA
// Device codes of x * inv_s (f32 or half input) vs quant_scheme.h; prints one line.
static void round_case(const char *what, const float *x, const uint16_t *xh, size_t n, float inv_s, PcQuantFormat f) {
    unsigned char *codes = xmalloc(n ? n : 1);
    char msg[256] = "";
    int rc = xh ? pc_cuda_quant_codes_f16(xh, n, inv_s, f, codes, msg, sizeof msg)
                : pc_cuda_quant_codes_f32(x, n, inv_s, f, codes, msg, sizeof msg);
    CHECK(rc == 0, "%s: device quantisation failed: %s", what, msg);
    size_t diff = 0, first = n, nan_bad = 0, zeros_signed = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        float in = xh ? emu_half_bits(xh[i]) : x[i];
        float v = in * inv_s, want = pc_q_round(v, f), got = emu_code_value(codes[i], f);
        if (isnan(v) && f == PC_QUANT_INT8) {   // int8 has no NaN: code 0
            nan_bad += codes[i] != 0;
            continue;
        }
        if (isnan(want) || isnan(got)) {
            nan_bad += !(isnan(want) && isnan(got));
            continue;
        }
        if (want == 0.0f && got == 0.0f) {
            zeros_signed += signbit(want) != signbit(got);
            continue;
        }
        if (memcmp(&want, &got, sizeof want)) {
            if (!diff) first = i;
            diff++;
        }
    }
    printf("  %-58s n=%-8zu %zu differ, %zu NaN mismatches (%zu zeros differ in sign only)\n", what, n, diff,
           nan_bad, zeros_signed);
    if (diff) {
        float in = xh ? emu_half_bits(xh[first]) : x[first];
        CHECK(0, "%s: %zu of %zu codes differ from quant_scheme.h; first: x=%.9g (x*inv_s=%.9g) device %.9g (code 0x%02x) "
              "host %.9g", what, diff, n, in, in * inv_s, emu_code_value(codes[first], f), codes[first],
              pc_q_round(in * inv_s, f));
    }
    CHECK(nan_bad == 0, "%s: %zu NaN inputs give the wrong code", what, nan_bad);
    free(codes);
}

// The representable values of f (positive), ascending; returns the count.
static int grid_values(PcQuantFormat f, float *v) {
    int n = 0;
    if (f == PC_QUANT_INT8) {
        for (int i = 0; i <= 127; i++) v[n++] = (float)i;
        return n;
    }
    for (int c = 0; c < 0x7f; c++) v[n++] = emu_e4m3_value((unsigned char)c);
    return n;
}

// Every value, midpoint and neighbour float (both signs), the saturation region and specials.
static void test_rounding_grid(PcQuantFormat f) {
    float grid[256];
    int g = grid_values(f, grid);
    float *x = xmalloc(20000 * sizeof(float));
    size_t n = 0;
    for (int i = 0; i < g; i++) {
        float a = grid[i], mid = i + 1 < g ? 0.5f * (grid[i] + grid[i + 1]) : a + (f == PC_QUANT_INT8 ? 0.5f : 16.0f);
        float pts[6] = {a, nextafterf(a, INFINITY), mid, nextafterf(mid, 0.0f), nextafterf(mid, INFINITY),
                        i > 0 ? nextafterf(a, 0.0f) : 0.0f};
        for (int k = 0; k < 6; k++) x[n++] = pts[k], x[n++] = -pts[k];
    }
    // saturation: fp8 448 .. 480 (464 is the midpoint to the next binade's first step) and beyond;
    // int8 126.5 .. 140
    const float top = pc_q_max(f), span = f == PC_QUANT_INT8 ? 13.0f : 64.0f;
    for (int i = 0; i <= 1024; i++) {
        float v = top + span * (float)i / 1024.0f;
        x[n++] = v, x[n++] = -v;
    }
    const float specials[] = {INFINITY, -INFINITY, NAN, -NAN, 1e30f, -1e30f, FLT_MAX, -FLT_MAX, 1e-30f, -1e-30f,
                              1e-45f, -1e-45f, 0.0f, -0.0f, ldexpf(1.0f, -10), -ldexpf(1.0f, -10),
                              ldexpf(3.0f, -11), ldexpf(1.0f, -7) * 1.0625f, 464.0f, -464.0f, 463.99997f, 480.0f};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) x[n++] = specials[i];
    // tiny magnitudes: fp8 subnormals (step 2^-9) and the round-to-zero boundary
    for (int i = 0; i < 2048; i++) {
        float v = ldexpf((float)i, -14);
        x[n++] = v, x[n++] = -v;
    }
    char what[96];
    snprintf(what, sizeof what, "%s: values, midpoints +-1 ulp, saturation, specials", kFmt[f == PC_QUANT_INT8]);
    round_case(what, x, NULL, n, 1.0f, f);
    free(x);
}

static void test_rounding_random(PcQuantFormat f) {
    const size_t n = (size_t)1 << 20;
    float *x = xmalloc(n * sizeof(float));
    TestRng bits_rng = {99u};
    for (size_t i = 0; i < n; i++) {
        const uint32_t bits = test_rand_u32(&bits_rng);
        // half of them random bit patterns (every exponent, NaN, inf), half in the format's range
        if (i % 2) memcpy(&x[i], &bits, 4);
        else x[i] = (frand() * 2.0f - 1.0f) * pc_q_max(f) * 1.2f;
    }
    char what[96];
    snprintf(what, sizeof what, "%s: 2^20 random floats, inv_s = 1", kFmt[f == PC_QUANT_INT8]);
    round_case(what, x, NULL, n, 1.0f, f);
    snprintf(what, sizeof what, "%s: 2^20 random floats, inv_s = 1/0.0371", kFmt[f == PC_QUANT_INT8]);
    round_case(what, x, NULL, n, 1.0f / 0.0371f, f);
    free(x);
}

// Every half value through the half-input kernel (the activations' path).
static void test_rounding_half(PcQuantFormat f) {
    const size_t n = 65536;
    uint16_t *xh = xmalloc(n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) xh[i] = (uint16_t)i;
    const float scales[4] = {1.0f, 8.0f, 1.0f / 0.0123f, pc_q_max(f) / 65504.0f};
    for (int k = 0; k < 4; k++) {
        char what[96];
        snprintf(what, sizeof what, "%s: all 65536 half values, inv_s = %.6g", kFmt[f == PC_QUANT_INT8], scales[k]);
        round_case(what, NULL, xh, n, scales[k], f);
    }
    free(xh);
}
#endif

static void test_rounding(void) {
#ifdef PC_HAVE_CUDA
    for (int fi = 0; fi < 2; fi++) {
        PcQuantFormat f = fi ? PC_QUANT_INT8 : PC_QUANT_FP8;
        if (!gpu8[fi]) {
            printf("  %s rounding: skipped (backend unavailable)\n", kFmt[fi]);
            continue;
        }
        test_rounding_grid(f);
        test_rounding_random(f);
        test_rounding_half(f);
    }
#else
    printf("  rounding: not compiled with CUDA\n");
#endif
}

// ---- b. one 8-bit conv ------------------------------------------------------------------------

typedef struct {
    int c, k, hw, r, stride, pad, relu;
} ConvCase;

// input (C, H, W) -> maxpool 1x1 (the stored half copy) -> conv -> adaptive avg 1x1 ("logits").
static void make_conv_net(const ConvCase *cc, PcNet *net) {
    memset(net, 0, sizeof *net);
    const int oh = (cc->hw + 2 * cc->pad - cc->r) / cc->stride + 1;
    const size_t nw = (size_t)cc->k * cc->c * cc->r * cc->r;
    net->n_nodes = 3;
    net->nodes = xcalloc(3, sizeof(PcNode));
    net->in_c = cc->c, net->in_h = net->in_w = cc->hw;
    net->n_classes = cc->k;
    net->n_params = nw + cc->k;
    net->params = xmalloc(net->n_params * sizeof(float));
    net->loaded = 1;
    // weights of varied magnitude per output channel (per-channel scales matter), bias
    for (int o = 0; o < cc->k; o++) {
        float gain = 0.05f + 0.5f * frand();
        for (size_t j = 0; j < nw / cc->k; j++) net->params[(size_t)o * (nw / cc->k) + j] = gain * (frand() - 0.5f);
        net->params[nw + o] = 0.3f * (frand() - 0.5f);
    }
    if (cc->k > 1)   // an all-zero channel: s_w = 1
        for (size_t j = 0; j < nw / cc->k; j++) net->params[j] = 0.0f;
    PcNode *p = &net->nodes[0], *cv = &net->nodes[1], *av = &net->nodes[2];
    p->op = PC_NODE_MAXPOOL, p->input = -1, p->input2 = -1, p->c = cc->c, p->h = p->w = cc->hw;
    p->p.pool.k = 1, p->p.pool.stride = 1, p->p.pool.pad = 0;
    cv->op = PC_NODE_CONV, cv->input = 0, cv->input2 = -1, cv->relu = cc->relu, cv->c = cc->k, cv->h = cv->w = oh;
    snprintf(cv->name, sizeof cv->name, "conv");
    cv->p.conv = (PcConvParams){.cin = cc->c, .cout = cc->k, .k = cc->r, .stride = cc->stride, .pad = cc->pad,
                                .weight = net->params, .bias = net->params + nw};
    av->op = PC_NODE_ADAPTIVE_AVG, av->input = 1, av->input2 = -1, av->c = cc->k, av->h = av->w = 1;
    av->p.apool.out_h = av->p.apool.out_w = 1;
}

// Forward of n images through be's prepared net, conv (node 1) tapped: (n, K, OH, OW).
static float *conv_out(PcBackend *be, PcBackendNet *bn, const float *d_x, int n, size_t out_count) {
    PcError err = {{0}};
    float *d_y = be->alloc(be, (size_t)n * out_count * sizeof(float));
    int tap = 1;
    float *taps[1] = {d_y};
    int rc = be->forward(be, bn, d_x, n, NULL, 1, &tap, taps, &err);
    CHECK(rc == 0, "forward: %s", err.msg);
    float *y = test_download(be, d_y, (size_t)n * out_count * sizeof(float));
    be->release(be, d_y);
    return y;
}

static int same_bits(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

// Element-wise check of the 8-bit output against the emulation (tolerance in the header; acc_tol
// the share of the sum of |terms|: the accumulation's rounding).
static void compare_conv(const char *what, const float *got, const float *ref, const double *sumabs,
                         const float *unq, size_t n, double acc_tol) {
    double max_abs = 0, max_rel = 0, max_acc = 0, ss = 0, ss_unq = 0;
    size_t bad = 0, first = n;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]), tol = ldexp(fabs(ref[i]), -10) + acc_tol * sumabs[i] + 1e-7;
        if (!(d <= tol)) {
            if (!bad) first = i;
            bad++;
        }
        max_abs = fmax(max_abs, d);
        if (fabs(ref[i]) > 1e-3) max_rel = fmax(max_rel, d / fabs(ref[i]));
        if (sumabs[i] > 0) max_acc = fmax(max_acc, fmax(d - ldexp(fabs(ref[i]), -11), 0.0) / sumabs[i]);
        ss += d * d;
        ss_unq += ((double)got[i] - unq[i]) * ((double)got[i] - unq[i]);
    }
    double rms = sqrt(ss / (double)n), rms_unq = sqrt(ss_unq / (double)n);
    printf("  %-44s max |d| %.2e, max rel (|ref|>1e-3) %.2e, beyond the half rounding %.2e of sum|terms| "
           "(tol %.0e); rms %.2e vs unquantised %.2e\n", what, max_abs, max_rel, max_acc, acc_tol, rms, rms_unq);
    CHECK(bad == 0, "%s: %zu of %zu values outside the tolerance; first at %zu: gpu %.9g emulation %.9g", what, bad,
          n, first, first < n ? got[first] : 0.0f, first < n ? ref[first] : 0.0f);
    CHECK(rms_unq > 4 * rms, "%s: the output is as close to the unquantised conv (rms %.3g) as to the 8-bit "
          "emulation (rms %.3g): did the 8-bit path run?", what, rms_unq, rms);
}

// The emulation of the whole batch: 8-bit (f) or unquantised in double (f NONE, weights unrounded).
static void emulate_batch(const ConvCase *cc, const PcNet *net, const float *xh, int n, PcQuantFormat f, float s_x,
                          float *y, double *sumabs) {
    const int oh = (cc->hw + 2 * cc->pad - cc->r) / cc->stride + 1;
    const size_t nw = (size_t)cc->k * cc->c * cc->r * cc->r, in = (size_t)cc->c * cc->hw * cc->hw,
                 out = (size_t)cc->k * oh * oh;
    float *s_w = xmalloc((size_t)cc->k * sizeof(float)), *q_w = xmalloc(nw * sizeof(float));
    if (f == PC_QUANT_NONE) {
        memcpy(q_w, net->params, nw * sizeof(float));
        for (int o = 0; o < cc->k; o++) s_w[o] = 1.0f;
    } else {
        emu_weights(net->params, cc->k, cc->c, cc->r, f, s_w, q_w);
    }
    for (int i = 0; i < n; i++)
        emu_conv(xh + i * in, cc->c, cc->hw, cc->hw, q_w, s_w, net->params + nw, cc->k, cc->r, cc->stride, cc->pad,
                 cc->relu, f, s_x, y + i * out, sumabs ? sumabs + i * out : NULL);
    free(s_w), free(q_w);
}

// net_set_quant's refusals: one line each, and the net keeps running unquantised.
static void check_refusals(PcBackend *be, PcBackendNet *bn, PcQuantFormat f) {
    float sc[3] = {0.0f, 0.01f, 0.0f};
    PcQuant q = {f, 3, sc};
    PcError err = {{0}};
    sc[2] = 0.01f;   // the adaptive pool
    CHECK(be->net_set_quant(be, bn, &q, &err) == -1 && strstr(err.msg, "node 2"),
          "a scale on a non-conv node: expected a refusal naming node 2, got '%s'", err.msg);
    printf("  refused: %s\n", err.msg);
    sc[2] = 0.0f, sc[1] = -1.0f;
    CHECK(be->net_set_quant(be, bn, &q, &err) == -1 && strstr(err.msg, "node 1"),
          "a negative scale: expected a refusal naming node 1, got '%s'", err.msg);
    sc[1] = 0.01f;
    q.format = f == PC_QUANT_FP8 ? PC_QUANT_INT8 : PC_QUANT_FP8;
    CHECK(be->net_set_quant(be, bn, &q, &err) == -1, "scales of the other format accepted");
    q.format = f, q.n_nodes = 2;
    CHECK(be->net_set_quant(be, bn, &q, &err) == -1, "scales for 2 nodes accepted on a 3-node net");
}

// The backward of an 8-bit net (scales set) equals the fp16 backend's bit for bit: quant ignored.
static void check_backward(PcBackendNet *bn16, PcBackend *be8, PcBackendNet *bn8, const float *d_x16,
                           const float *d_x8, int n, size_t in_count) {
    int cls[4] = {1, 5, 7, 2};
    PcError err = {{0}};
    float *g16 = gpu16->alloc(gpu16, n * in_count * sizeof(float)), *g8 = be8->alloc(be8, n * in_count * sizeof(float));
    int rc = gpu16->backward(gpu16, bn16, d_x16, n, cls, NULL, 0, NULL, NULL, NULL, g16, &err);
    CHECK(rc == 0, "fp16 backward: %s", err.msg);
    rc = be8->backward(be8, bn8, d_x8, n, cls, NULL, 0, NULL, NULL, NULL, g8, &err);
    CHECK(rc == 0, "8-bit net backward: %s", err.msg);
    float *h16 = test_download(gpu16, g16, n * in_count * sizeof(float));
    float *h8 = test_download(be8, g8, n * in_count * sizeof(float));
    printf("  backward of the 8-bit net vs fp16: %s\n", same_bits(h16, h8, n * in_count) ? "identical" : "DIFFERENT");
    CHECK(same_bits(h16, h8, n * in_count), "backward of an 8-bit net differs from the fp16 backward");
    free(h16), free(h8);
    gpu16->release(gpu16, g16), be8->release(be8, g8);
}

static void conv_case(int fi, const ConvCase *cc, int extras) {
    const PcQuantFormat f = fi ? PC_QUANT_INT8 : PC_QUANT_FP8;
    PcBackend *be = gpu8[fi];
    PcNet net;
    make_conv_net(cc, &net);
    // batch = max_batch: every forward runs at 4 (a size seen thrice would get a plan of its own,
    // whose cuDNN algorithm may differ in the last bits from the fp16 backend's bucket)
    const int n = 4, oh = net.nodes[1].h;
    const size_t in = (size_t)cc->c * cc->hw * cc->hw, out = (size_t)cc->k * oh * oh;
    float *x = xmalloc(n * in * sizeof(float)), *xh = xmalloc(n * in * sizeof(float));
    float amax = 0;
    for (size_t i = 0; i < n * in; i++) {
        x[i] = (frand() - 0.5f) * 4.0f * (i % 97 == 0 ? 8.0f : 1.0f);   // a few outliers
        xh[i] = emu_half(x[i]);
        amax = fmaxf(amax, fabsf(xh[i]));
    }
    const float s_x = 0.9f * amax / pc_q_max(f);   // clip 0.9: the outliers saturate
    PcError err = {{0}};
    PcBackendNet *bn16 = gpu16->net_prepare(gpu16, &net, 4, &err), *bn8 = be->net_prepare(be, &net, 4, &err);
    CHECK(bn16 && bn8, "net_prepare: %s", err.msg);
    if (!bn16 || !bn8) return;
    float *d_x16 = test_upload(gpu16, x, n * in * sizeof(float)), *d_x8 = test_upload(be, x, n * in * sizeof(float));
    char what[128];
    snprintf(what, sizeof what, "%s c%d k%d %dx%d r%d s%d p%d%s", kFmt[fi], cc->c, cc->k, cc->hw, cc->hw, cc->r,
             cc->stride, cc->pad, cc->relu ? " relu" : "");
    float *y16 = conv_out(gpu16, bn16, d_x16, n, out), *y_pre = conv_out(be, bn8, d_x8, n, out);
    CHECK(same_bits(y16, y_pre, n * out), "%s: before net_set_quant the output differs from fp16", what);
    float sc[3] = {0.0f, s_x, 0.0f};
    PcQuant q = {f, 3, sc};
    CHECK(be->net_set_quant(be, bn8, &q, &err) == 0, "%s: net_set_quant: %s", what, err.msg);
    float *y8 = conv_out(be, bn8, d_x8, n, out);
    float *ref = xmalloc(n * out * sizeof(float)), *unq = xmalloc(n * out * sizeof(float));
    double *sumabs = xmalloc(n * out * sizeof(double));
    emulate_batch(cc, &net, xh, n, f, s_x, ref, sumabs);
    emulate_batch(cc, &net, xh, n, PC_QUANT_NONE, 1.0f, unq, NULL);
    compare_conv(what, y8, ref, sumabs, unq, n * out, f == PC_QUANT_FP8 ? kAccTolFp8 : kAccTolInt8);
#ifdef PC_HAVE_CUDA
    int fb[4], nfb = pc_cuda_quant_fallbacks(bn8, fb, 4);
    CHECK(nfb == 0, "%s: the conv fell back to fp16 (no cuDNN engine; see the warning above)", what);
#endif
    if (extras) check_backward(bn16, be, bn8, d_x16, d_x8, n, in);
    CHECK(be->net_set_quant(be, bn8, NULL, &err) == 0, "%s: net_set_quant(NULL): %s", what, err.msg);
    float *y_post = conv_out(be, bn8, d_x8, n, out);
    CHECK(same_bits(y16, y_post, n * out), "%s: after net_set_quant(NULL) the output differs from fp16", what);
    printf("  %-52s unquantised before / after: %s / %s the fp16 output\n", what,
           same_bits(y16, y_pre, n * out) ? "equal to" : "DIFFERENT from",
           same_bits(y16, y_post, n * out) ? "equal to" : "DIFFERENT from");
    if (extras) check_refusals(be, bn8, f);
    free(y16), free(y_pre), free(y8), free(y_post), free(ref), free(unq), free(sumabs), free(x), free(xh);
    gpu16->release(gpu16, d_x16), be->release(be, d_x8);
    gpu16->net_release(gpu16, bn16), be->net_release(be, bn8);
    pc_net_free(&net);
}

static void test_convs(void) {
    static const ConvCase cases[] = {
        {16, 32, 12, 3, 1, 1, 1}, {32, 16, 9, 1, 1, 0, 0}, {16, 16, 14, 3, 2, 1, 1},
        {32, 48, 8, 1, 2, 0, 1},  {64, 64, 7, 3, 1, 1, 0},
    };
    for (int fi = 0; fi < 2; fi++) {
        if (!gpu8[fi]) continue;
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) conv_case(fi, &cases[k], k == 0);
    }
}

int main(void) {
    PcError err = {{0}};
    PcBackendOptions o16 = {.precision = PC_PREC_FP16};
    gpu16 = pc_backend_cuda_create(&o16, &err);
    if (!gpu16) test_skip(err.msg);
    printf("test_cuda_quant on %s\n", gpu16->device_name);
    for (int fi = 0; fi < 2; fi++) {
        PcBackendOptions o = {.precision = fi ? PC_PREC_INT8 : PC_PREC_FP8};
        gpu8[fi] = pc_backend_cuda_create(&o, &err);
        if (!gpu8[fi]) printf("SKIP (%s parts): %s\n", kFmt[fi], err.msg);
    }
    if (!gpu8[0] && !gpu8[1]) test_skip("neither fp8 nor int8 is available on this device");
    printf("a. device rounding vs quant_scheme.h\n");
    test_rounding();
    printf("b. one 8-bit conv vs the in-test emulation (same scales)\n");
    test_convs();
    for (int fi = 0; fi < 2; fi++)
        if (gpu8[fi]) gpu8[fi]->destroy(gpu8[fi]);
    gpu16->destroy(gpu16);
    return test_summary();
}
