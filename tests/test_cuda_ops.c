// test_cuda_ops.c: every saliency / metric op of the CUDA backend (backend.h) on random inputs
// against the CPU backend, the reference: softmax_gather, normalize_maps (both formulas, ties,
// NaN), resample (up and down, odd sizes), masked_inputs (plus / minus / plus only),
// scaled_masked_inputs (Score-CAM family: coefficient, Philox noise on the device, a NaN channel), weighted
// channel sums (incl. NaN and inf weights), LNorm (code and paper, ratios 1, 2, 4, non-integer),
// mul_relu, blur (incl. kernels wider than the image), argsort (ties, -0, NaN: identical order)
// and insertion / deletion samples (identical). Max abs and relative (max |d| / max |ref|)
// errors are printed; non-finite values must sit at the same places in both.
// Skips (exit 77) when the CUDA backend is not compiled in or no device is present.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "testutil.h"
#include "cpu_backend.h"
#include "cuda_backend.h"

static PcBackend *cpu, *gpu;

// ---- helpers ----------------------------------------------------------------------------------

static TestRng rng = {12345u};
static float frand(void) { return test_rand01(&rng); }      // [0, 1)
static float nrand(void) { return test_rand_normal(&rng); } // roughly N(0, 1)

// Max abs / relative error of got vs ref over the finite reference values; non-finite values
// must match in kind (NaN, +inf, -inf) and place. Checks rel <= tol (abs <= tol when ref is 0).
static void compare(const char *what, const float *got, const float *ref, size_t n, double tol) {
    double max_abs = 0, max_ref = 0;
    size_t bad_nonfinite = 0, nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(ref[i]) || !isfinite(got[i])) {
            nonfinite++;
            int same = (isnan(ref[i]) && isnan(got[i])) || (ref[i] == got[i]);
            bad_nonfinite += !same;
            continue;
        }
        double d = fabs((double)got[i] - (double)ref[i]);
        if (d > max_abs) max_abs = d;
        if (fabs(ref[i]) > max_ref) max_ref = fabs(ref[i]);
    }
    double rel = max_ref > 0 ? max_abs / max_ref : max_abs;
    printf("  %-44s n=%-8zu max abs %.2e  rel %.2e%s\n", what, n, max_abs, rel,
           nonfinite ? "  (non-finite values compared)" : "");
    CHECK(rel <= tol, "%s: relative error %.3g > %.1g", what, rel, tol);
    CHECK(bad_nonfinite == 0, "%s: %zu of %zu non-finite values differ", what, bad_nonfinite,
          nonfinite);
}

static void compare_int(const char *what, const int *got, const int *ref, size_t n) {
    size_t diff = 0, first = n;
    for (size_t i = 0; i < n; i++)
        if (got[i] != ref[i]) {
            if (!diff) first = i;
            diff++;
        }
    printf("  %-44s n=%-8zu %zu differences\n", what, n, diff);
    CHECK(diff == 0, "%s: %zu differences, first at %zu (%d vs %d)", what, diff, first,
          first < n ? got[first] : 0, first < n ? ref[first] : 0);
}

// ---- ops --------------------------------------------------------------------------------------

static void test_memory(void) {
    size_t n = 1000;
    float *d = gpu->alloc(gpu, n * sizeof(float));
    float *h = test_download(gpu, d, n * sizeof(float));
    int zero = 1;
    for (size_t i = 0; i < n; i++) zero &= h[i] == 0.0f;
    CHECK(zero, "alloc: memory is not zeroed");
    for (size_t i = 0; i < n; i++) h[i] = (float)i * 0.5f;
    gpu->upload(gpu, d, h, n * sizeof(float));
    float *back = test_download(gpu, d, n * sizeof(float));
    CHECK(memcmp(back, h, n * sizeof(float)) == 0, "upload/download round trip differs");
    free(back);
    free(h);
    gpu->release(gpu, d);
}

static void test_softmax(void) {
    const int n = 37, k = 1000, cls = 17;
    float *logits = xmalloc((size_t)n * k * sizeof(float));
    for (int i = 0; i < n * k; i++) logits[i] = 8.0f * nrand();
    float ref[37], *d_logits = test_upload(gpu, logits, (size_t)n * k * sizeof(float));
    float *d_out = gpu->alloc(gpu, n * sizeof(float));
    cpu->softmax_gather(cpu, logits, n, k, cls, ref);
    gpu->softmax_gather(gpu, d_logits, n, k, cls, d_out);
    float *got = test_download(gpu, d_out, n * sizeof(float));
    compare("softmax_gather 37 x 1000", got, ref, n, 1e-5);
    free(got), free(logits);
    gpu->release(gpu, d_logits), gpu->release(gpu, d_out);
}

static void normalize_case(const char *what, const float *maps, int m, int h, int w) {
    size_t n = (size_t)m * h * w;
    float *d_maps = test_upload(gpu, maps, n * sizeof(float));
    float *d_out = gpu->alloc(gpu, n * sizeof(float));
    float *ref = xmalloc(n * sizeof(float));
    for (int f = 0; f < 2; f++) {
        PcNormFormula formula = f ? PC_NORM_PAPER : PC_NORM_CODE;
        cpu->normalize_maps(cpu, maps, m, h, w, formula, ref);
        gpu->normalize_maps(gpu, d_maps, m, h, w, formula, d_out);
        float *got = test_download(gpu, d_out, n * sizeof(float));
        char label[128];
        snprintf(label, sizeof label, "normalize_maps %s (%s)", what, f ? "paper" : "code");
        compare(label, got, ref, n, 1e-5);
        free(got);
    }
    free(ref);
    gpu->release(gpu, d_maps), gpu->release(gpu, d_out);
}

static void test_normalize(void) {
    float *a = xmalloc(3 * 20 * 20 * sizeof(float));
    for (int i = 0; i < 1200; i++) a[i] = floorf(frand() * 5.0f);   // many ties
    normalize_case("3x20x20 ties", a, 3, 20, 20);
    free(a);
    a = xmalloc(4 * 56 * 56 * sizeof(float));
    for (int i = 0; i < 4 * 56 * 56; i++) a[i] = fmaxf(0.0f, nrand());
    normalize_case("4x56x56 relu", a, 4, 56, 56);
    free(a);
    a = xmalloc(5 * 7 * 7 * sizeof(float));
    for (int i = 0; i < 5 * 49; i++) a[i] = nrand() * 3.0f;
    a[10] = -0.0f, a[11] = 0.0f, a[60] = NAN, a[200] = INFINITY;
    normalize_case("5x7x7 signed, -0, NaN, inf", a, 5, 7, 7);
    free(a);
    a = xmalloc(2 * 224 * 224 * sizeof(float));
    for (int i = 0; i < 2 * 224 * 224; i++) a[i] = frand();
    normalize_case("2x224x224", a, 2, 224, 224);
    free(a);
}

static void test_resample(void) {
    static const int sizes[][4] = {{7, 7, 224, 224}, {14, 14, 7, 7}, {28, 28, 14, 14}, {13, 17, 29, 11},
                                   {224, 224, 56, 56}, {1, 1, 5, 5}};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int h = sizes[t][0], w = sizes[t][1], oh = sizes[t][2], ow = sizes[t][3], m = 3;
        size_t n_in = (size_t)m * h * w, n_out = (size_t)m * oh * ow;
        float *in = xmalloc(n_in * sizeof(float)), *ref = xmalloc(n_out * sizeof(float));
        for (size_t i = 0; i < n_in; i++) in[i] = nrand();
        float *d_in = test_upload(gpu, in, n_in * sizeof(float)), *d_out = gpu->alloc(gpu, n_out * sizeof(float));
        cpu->resample(cpu, in, m, h, w, oh, ow, ref);
        gpu->resample(gpu, d_in, m, h, w, oh, ow, d_out);
        float *got = test_download(gpu, d_out, n_out * sizeof(float));
        char label[128];
        snprintf(label, sizeof label, "resample 3x%dx%d -> %dx%d", h, w, oh, ow);
        compare(label, got, ref, n_out, 1e-5);
        free(got), free(in), free(ref);
        gpu->release(gpu, d_in), gpu->release(gpu, d_out);
    }
}

static void masked_case(int k, int h, int w, int s, const int *chans, int m) {
    size_t n_act = (size_t)k * h * w, n_x = (size_t)3 * s * s, n_out = (size_t)m * n_x;
    float *act = xmalloc(n_act * sizeof(float)), *x = xmalloc(n_x * sizeof(float));
    for (size_t i = 0; i < n_act; i++) act[i] = fmaxf(0.0f, nrand());
    for (size_t i = 0; i < n_x; i++) x[i] = 2.0f * nrand();
    float *plus = xmalloc(n_out * sizeof(float)), *minus = xmalloc(n_out * sizeof(float));
    float *d_act = test_upload(gpu, act, n_act * sizeof(float)), *d_x = test_upload(gpu, x, n_x * sizeof(float));
    float *d_plus = gpu->alloc(gpu, n_out * sizeof(float)), *d_minus = gpu->alloc(gpu, n_out * sizeof(float));
    for (int f = 0; f < 2; f++) {
        PcNormFormula formula = f ? PC_NORM_PAPER : PC_NORM_CODE;
        cpu->masked_inputs(cpu, act, h, w, chans, m, x, s, formula, plus, minus);
        gpu->masked_inputs(gpu, d_act, h, w, chans, m, d_x, s, formula, d_plus, d_minus);
        float *gp = test_download(gpu, d_plus, n_out * sizeof(float)), *gm = test_download(gpu, d_minus, n_out * sizeof(float));
        char label[128];
        snprintf(label, sizeof label, "masked_inputs %dx%dx%d -> %d x 3x%dx%d plus (%s)", k, h, w, m, s, s,
                 f ? "paper" : "code");
        compare(label, gp, plus, n_out, 1e-5);
        snprintf(label, sizeof label, "masked_inputs %dx%dx%d -> %d x 3x%dx%d minus (%s)", k, h, w, m, s, s,
                 f ? "paper" : "code");
        compare(label, gm, minus, n_out, 1e-5);
        free(gp), free(gm);
    }
    // plus only: minus untouched
    float *zeros = xcalloc(n_out, sizeof(float));
    gpu->upload(gpu, d_minus, zeros, n_out * sizeof(float));
    gpu->masked_inputs(gpu, d_act, h, w, chans, m, d_x, s, PC_NORM_CODE, d_plus, NULL);
    cpu->masked_inputs(cpu, act, h, w, chans, m, x, s, PC_NORM_CODE, plus, NULL);
    float *gp = test_download(gpu, d_plus, n_out * sizeof(float)), *gm = test_download(gpu, d_minus, n_out * sizeof(float));
    compare("masked_inputs plus only", gp, plus, n_out, 1e-5);
    CHECK(memcmp(gm, zeros, n_out * sizeof(float)) == 0, "masked_inputs wrote minus when it was NULL");
    free(gp), free(gm), free(zeros);
    free(act), free(x), free(plus), free(minus);
    gpu->release(gpu, d_act), gpu->release(gpu, d_x), gpu->release(gpu, d_plus), gpu->release(gpu, d_minus);
}

static void test_masked(void) {
    const int chans_a[5] = {3, 0, 15, 7, 7};
    masked_case(16, 14, 14, 32, chans_a, 5);
    const int chans_b[3] = {511, 2, 100};
    masked_case(512, 7, 7, 224, chans_b, 3);
    const int chans_c[2] = {1, 0};
    masked_case(2, 112, 112, 224, chans_c, 2);
}

// scaled_masked_inputs (Score-CAM family): min-max-like maps in [0, 1] with a NaN channel,
// coef 1 / 5.5, sigma 0 / 2 (the Philox noise drawn on the device vs on the host).
static void scaled_masked_case(int k, int h, int w, int s, const int *chans, int m, float coef, float sigma) {
    size_t n_act = (size_t)k * h * w, n_x = (size_t)3 * s * s, n_out = (size_t)m * n_x;
    float *amap = xmalloc(n_act * sizeof(float)), *x = xmalloc(n_x * sizeof(float));
    for (size_t i = 0; i < n_act; i++) amap[i] = frand();
    for (int i = 0; i < h * w; i++) amap[i] = NAN;   // channel 0: dead (NaN after min-max)
    for (size_t i = 0; i < n_x; i++) x[i] = 2.0f * nrand();
    float *out = xmalloc(n_out * sizeof(float));
    float *d_a = test_upload(gpu, amap, n_act * sizeof(float)), *d_x = test_upload(gpu, x, n_x * sizeof(float));
    float *d_out = gpu->alloc(gpu, n_out * sizeof(float));
    cpu->scaled_masked_inputs(cpu, amap, h, w, chans, m, x, s, coef, sigma, 42, 7, (3u << 16) | 5u, out);
    gpu->scaled_masked_inputs(gpu, d_a, h, w, chans, m, d_x, s, coef, sigma, 42, 7, (3u << 16) | 5u, d_out);
    float *g = test_download(gpu, d_out, n_out * sizeof(float));
    char label[128];
    snprintf(label, sizeof label, "scaled_masked_inputs %dx%dx%d -> %d x 3x%dx%d c %.2g s %.1g", k, h, w, m, s, s,
             coef, sigma);
    compare(label, g, out, n_out, 1e-5);
    free(g), free(amap), free(x), free(out);
    gpu->release(gpu, d_a), gpu->release(gpu, d_x), gpu->release(gpu, d_out);
}

static void test_scaled_masked(void) {
    const int chans_a[4] = {3, 0, 15, 7};
    scaled_masked_case(16, 14, 14, 32, chans_a, 4, 1.0f, 0.0f);
    scaled_masked_case(16, 14, 14, 32, chans_a, 4, 1.0f, 2.0f);
    const int chans_b[3] = {511, 2, 100};
    scaled_masked_case(512, 7, 7, 224, chans_b, 3, 5.5f, 0.0f);
    scaled_masked_case(512, 7, 7, 224, chans_b, 3, 1.0f, 2.0f);
}

static void wcs_case(const char *what, int k, int h, int w, int v, int special) {
    size_t hw = (size_t)h * w, n_act = (size_t)k * hw, n_out = (size_t)v * hw;
    float *act = xmalloc(n_act * sizeof(float)), *wt = xmalloc((size_t)v * k * sizeof(float));
    for (size_t i = 0; i < n_act; i++) act[i] = fmaxf(0.0f, nrand());
    for (int i = 0; i < v * k; i++) wt[i] = nrand() * 0.1f;
    if (special) {
        wt[1] = NAN;                    // a NaN weight counts as 0
        wt[k + 2] = INFINITY;           // inf * 0 = NaN -> 0; inf * positive = inf
        wt[2 * k + 3] = -INFINITY;
    }
    float *ref = xmalloc(n_out * sizeof(float));
    float *d_act = test_upload(gpu, act, n_act * sizeof(float)), *d_w = test_upload(gpu, wt, (size_t)v * k * sizeof(float));
    float *d_out = gpu->alloc(gpu, n_out * sizeof(float));
    cpu->weighted_channel_sum(cpu, act, k, h, w, wt, v, ref);
    gpu->weighted_channel_sum(gpu, d_act, k, h, w, d_w, v, d_out);
    float *got = test_download(gpu, d_out, n_out * sizeof(float));
    compare(what, got, ref, n_out, 1e-4);
    free(got), free(act), free(wt), free(ref);
    gpu->release(gpu, d_act), gpu->release(gpu, d_w), gpu->release(gpu, d_out);
}

static void test_weighted_sum(void) {
    wcs_case("weighted_channel_sum K=64 28x28 V=3", 64, 28, 28, 3, 0);
    wcs_case("weighted_channel_sum K=2048 7x7 V=5", 2048, 7, 7, 5, 0);
    wcs_case("weighted_channel_sum K=64 224x224 V=1", 64, 224, 224, 1, 0);
    wcs_case("weighted_channel_sum NaN / inf weights", 32, 14, 14, 3, 1);
}

static void lnorm_case(int m, int h, int w, int th, int tw, int sparse) {
    size_t n = (size_t)m * h * w;
    float *c = xmalloc(n * sizeof(float)), *ref = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) c[i] = sparse ? fmaxf(0.0f, nrand() - 1.0f) : fmaxf(0.0f, nrand()) + 0.1f;
    float *d_c = test_upload(gpu, c, n * sizeof(float)), *d_out = gpu->alloc(gpu, n * sizeof(float));
    for (int mode = 0; mode < 2; mode++) {
        PcLnormMode lm = mode ? PC_LNORM_PAPER : PC_LNORM_CODE;
        cpu->lnorm(cpu, c, m, h, w, th, tw, lm, ref);
        gpu->lnorm(gpu, d_c, m, h, w, th, tw, lm, d_out);
        float *got = test_download(gpu, d_out, n * sizeof(float));
        char label[128];
        snprintf(label, sizeof label, "lnorm %dx%d by %dx%d %s (%s)", h, w, th, tw, sparse ? "sparse" : "dense",
                 mode ? "paper" : "code");
        compare(label, got, ref, n, 1e-4);
        free(got);
    }
    free(c), free(ref);
    gpu->release(gpu, d_c), gpu->release(gpu, d_out);
}

static void test_lnorm(void) {
    lnorm_case(4, 28, 28, 14, 14, 0);
    lnorm_case(4, 28, 28, 7, 7, 0);
    lnorm_case(4, 28, 28, 28, 28, 0);
    lnorm_case(2, 56, 56, 14, 14, 1);
    lnorm_case(2, 13, 13, 7, 7, 1);
    lnorm_case(1, 112, 112, 56, 56, 1);
}

static void test_mul_relu(void) {
    size_t n = 100003;
    float *a = xmalloc(n * sizeof(float)), *b = xmalloc(n * sizeof(float)), *ref = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) a[i] = nrand(), b[i] = nrand();
    float *d_a = test_upload(gpu, a, n * sizeof(float)), *d_b = test_upload(gpu, b, n * sizeof(float));
    float *d_out = gpu->alloc(gpu, n * sizeof(float));
    cpu->mul_relu(cpu, a, b, n, ref);
    gpu->mul_relu(gpu, d_a, d_b, n, d_out);
    float *got = test_download(gpu, d_out, n * sizeof(float));
    compare("mul_relu", got, ref, n, 0.0);
    free(a), free(b), free(ref), free(got);
    gpu->release(gpu, d_a), gpu->release(gpu, d_b), gpu->release(gpu, d_out);
}

static void test_blur(void) {
    static const int cases[][2] = {{224, 11}, {16, 11}, {4, 11}, {33, 5}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int s = cases[t][0], ks = cases[t][1];
        size_t n = (size_t)3 * s * s;
        float *x = xmalloc(n * sizeof(float)), *ref = xmalloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) x[i] = 2.0f * nrand();
        float *d_x = test_upload(gpu, x, n * sizeof(float)), *d_out = gpu->alloc(gpu, n * sizeof(float));
        cpu->blur(cpu, x, s, ks, 5.0f, ref);
        gpu->blur(gpu, d_x, s, ks, 5.0f, d_out);
        float *got = test_download(gpu, d_out, n * sizeof(float));
        char label[128];
        snprintf(label, sizeof label, "blur 3x%dx%d kernel %d sigma 5", s, s, ks);
        compare(label, got, ref, n, 1e-5);
        free(got), free(x), free(ref);
        gpu->release(gpu, d_x), gpu->release(gpu, d_out);
    }
}

static void argsort_case(const char *what, const float *map, int n) {
    int *ref = xmalloc((size_t)n * sizeof(int));
    float *d_map = test_upload(gpu, map, (size_t)n * sizeof(float));
    int *d_order = (int *)gpu->alloc(gpu, (size_t)n * sizeof(int));
    cpu->argsort_desc(cpu, map, n, ref);
    gpu->argsort_desc(gpu, d_map, n, d_order);
    int *got = (int *)test_download(gpu, d_order, (size_t)n * sizeof(int));
    compare_int(what, got, ref, (size_t)n);
    free(got), free(ref);
    gpu->release(gpu, d_map), gpu->release(gpu, d_order);
}

static void test_argsort(void) {
    int n = 224 * 224;
    float *map = xmalloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) map[i] = floorf(frand() * 100.0f) / 100.0f;   // many ties
    argsort_case("argsort_desc 224x224 with ties", map, n);
    for (int i = 0; i < n; i++) map[i] = nrand();
    map[5] = -0.0f, map[6] = 0.0f, map[7] = -0.0f, map[100] = NAN, map[101] = INFINITY,
    map[102] = -INFINITY, map[103] = -NAN;
    argsort_case("argsort_desc signed, -0, NaN, inf", map, n);
    for (int i = 0; i < n; i++) map[i] = 0.0f;
    argsort_case("argsort_desc all equal", map, n);
    free(map);
}

static void insdel_case(int s, int t0, int m, int p) {
    size_t ss = (size_t)s * s, n_x = 3 * ss, n_out = (size_t)m * n_x;
    float *x = xmalloc(n_x * sizeof(float)), *base = xmalloc(n_x * sizeof(float));
    float *map = xmalloc(ss * sizeof(float));
    for (size_t i = 0; i < n_x; i++) x[i] = nrand(), base[i] = nrand();
    for (size_t i = 0; i < ss; i++) map[i] = floorf(frand() * 50.0f);
    int *order = xmalloc(ss * sizeof(int));
    cpu->argsort_desc(cpu, map, (int)ss, order);
    float *d_x = test_upload(gpu, x, n_x * sizeof(float)), *d_base = test_upload(gpu, base, n_x * sizeof(float));
    int *d_order = (int *)test_upload(gpu, order, ss * sizeof(int));
    float *d_out = gpu->alloc(gpu, n_out * sizeof(float)), *ref = xmalloc(n_out * sizeof(float));
    for (int del = 0; del < 2; del++) {
        cpu->insdel_samples(cpu, x, base, order, s, t0, m, p, del, ref);
        gpu->insdel_samples(gpu, d_x, d_base, d_order, s, t0, m, p, del, d_out);
        float *got = test_download(gpu, d_out, n_out * sizeof(float));
        char label[128];
        snprintf(label, sizeof label, "insdel_samples %s s=%d t0=%d m=%d p=%d", del ? "deletion" : "insertion",
                 s, t0, m, p);
        compare(label, got, ref, n_out, 0.0);
        free(got);
    }
    free(x), free(base), free(map), free(order), free(ref);
    gpu->release(gpu, d_x), gpu->release(gpu, d_base), gpu->release(gpu, d_order), gpu->release(gpu, d_out);
}

static void test_insdel(void) {
    insdel_case(32, 5, 7, 4);
    insdel_case(224, 0, 8, 224);
    insdel_case(224, 220, 4, 224);   // the last steps: every pixel taken
}

int main(void) {
    PcError err = {{0}};
    PcBackendOptions opt = {.precision = PC_PREC_FP32};
    gpu = pc_backend_cuda_create(&opt, &err);
    if (!gpu) test_skip(err.msg);
    cpu = pc_backend_cpu_create(&opt, &err);
    CHECK(cpu != NULL, "CPU backend: %s", err.msg);
    if (!cpu) return test_summary();
    printf("test_cuda_ops on %s vs %s\n", gpu->device_name, cpu->device_name);
    test_memory();
    test_softmax();
    test_normalize();
    test_resample();
    test_masked();
    test_scaled_masked();
    test_weighted_sum();
    test_lnorm();
    test_mul_relu();
    test_blur();
    test_argsort();
    test_insdel();
    gpu->destroy(gpu);
    cpu->destroy(cpu);
    return test_summary();
}
