// test_ops.c: the CPU backend's saliency and metric ops against the reference implementation's
// single-operator goldens (reference_golden.h5 ops/*) and against small hand-checked cases:
// up() (SPEC §2), code LNorm (§7) and paper LNorm at ratio 2, percentile normalisation u() (§5),
// the Gaussian blur baseline (§8), softmax, the NaN rule of the weighted channel sum, the stable
// descending argsort and the insertion/deletion samples.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "testutil.h"

#define IMG0 "ILSVRC2012_val_00010495.JPEG"
#define OPS_TOL 1e-5

static const char *golden(void) { return fixture_path("reference_golden.h5"); }

// Reads a float dataset that must exist and hold `expect` values.
static float *read_ref(const char *dset, size_t expect) {
    size_t n = 0;
    int64_t dims[8];
    int nd = 0;
    float *v = h5_read_f32(golden(), dset, &n, dims, &nd);
    CHECK(v != NULL, "dataset %s missing", dset);
    if (v && n != expect) {
        CHECK(0, "dataset %s holds %zu values, expected %zu", dset, n, expect);
        free(v);
        return NULL;
    }
    return v;
}

static void test_resample(PcBackend *be) {
    float *src = read_ref("ops/up_src_7", 49);
    float *ref224 = read_ref("ops/up_7_to_224", 224 * 224);
    float *ref14 = read_ref("ops/up_7_to_14", 14 * 14);
    if (src && ref224 && ref14) {
        float *out = xmalloc(224 * 224 * sizeof *out);
        be->resample(be, src, 1, 7, 7, 224, 224, out);
        double d224 = max_abs_diff_f32(out, ref224, 224 * 224);
        be->resample(be, src, 1, 7, 7, 14, 14, out);
        double d14 = max_abs_diff_f32(out, ref14, 14 * 14);
        printf("up 7->224 max abs err %.3g, 7->14 %.3g\n", d224, d14);
        CHECK(d224 <= OPS_TOL, "up 7->224 max abs err %g", d224);
        CHECK(d14 <= OPS_TOL, "up 7->14 max abs err %g", d14);
        free(out);
    }
    // SPEC §2: an exact factor-2 shrink equals 2x2 average pooling
    float in[4 * 6], out[2 * 3];
    for (int i = 0; i < 24; i++) in[i] = (float)((i * 7) % 11) - 3.0f;
    be->resample(be, in, 1, 4, 6, 2, 3, out);
    double worst = 0;
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++) {
            double avg = 0.25 * (in[(2 * y) * 6 + 2 * x] + in[(2 * y) * 6 + 2 * x + 1] +
                                 in[(2 * y + 1) * 6 + 2 * x] + in[(2 * y + 1) * 6 + 2 * x + 1]);
            worst = fmax(worst, fabs(out[y * 3 + x] - avg));
        }
    CHECK(worst <= 1e-6, "factor-2 shrink differs from 2x2 average pooling by %g", worst);
    free(src);
    free(ref224);
    free(ref14);
}

static void test_lnorm(PcBackend *be) {
    float *src = read_ref("ops/lnorm_src_28", 28 * 28);
    if (!src) return;
    float out[28 * 28], paper[28 * 28];
    const int sizes[3] = {14, 7, 28};
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "ops/lnorm_ref_28_by_%d", sizes[i]);
        float *ref = read_ref(name, 28 * 28);
        if (!ref) continue;
        be->lnorm(be, src, 1, 28, 28, sizes[i], sizes[i], PC_LNORM_CODE, out);
        double d = max_abs_diff_f32(out, ref, 28 * 28);
        printf("lnorm 28 by %d max abs err %.3g\n", sizes[i], d);
        CHECK(d <= OPS_TOL, "code LNorm 28 by %d max abs err %g", sizes[i], d);
        free(ref);
    }
    // SPEC §7: at a size ratio of 2 the paper's LNorm (average pooling) equals the code's
    be->lnorm(be, src, 1, 28, 28, 14, 14, PC_LNORM_CODE, out);
    be->lnorm(be, src, 1, 28, 28, 14, 14, PC_LNORM_PAPER, paper);
    double d = max_rel_diff_f32(paper, out, 28 * 28);
    CHECK(d <= 1e-6, "paper LNorm ratio 2 differs from code LNorm: rel %g", d);
    // paper LNorm at ratio 1: N = C, a 0/1 mask of C > 0
    float c1[4] = {0.0f, 2.5f, 0.25f, 0.0f}, m1[4];
    be->lnorm(be, c1, 1, 2, 2, 2, 2, PC_LNORM_PAPER, m1);
    CHECK(m1[0] == 0.0f && m1[1] == 1.0f && m1[2] == 1.0f && m1[3] == 0.0f,
          "paper LNorm ratio 1 gives %g %g %g %g, expected 0 1 1 0", m1[0], m1[1], m1[2], m1[3]);
    // paper LNorm at ratio 4 on a hand case: 4x4 map, one 4x4 window -> N = mean everywhere
    float c4[16], m4[16];
    double sum = 0;
    for (int i = 0; i < 16; i++) sum += (c4[i] = (float)(i % 5));
    be->lnorm(be, c4, 1, 4, 4, 1, 1, PC_LNORM_PAPER, m4);
    double w4 = 0;
    for (int i = 0; i < 16; i++) w4 = fmax(w4, fabs(m4[i] - c4[i] / (sum / 16)));
    CHECK(w4 <= 1e-6, "paper LNorm ratio 4 off by %g", w4);
    free(src);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// numpy "linear" percentile by a full sort in double (the test's own oracle)
static double percentile_sorted(const double *v, size_t n, double p) {
    double pos = p / 100.0 * (double)(n - 1);
    size_t k = (size_t)floor(pos);
    double frac = pos - (double)k;
    return k + 1 < n ? v[k] + frac * (v[k + 1] - v[k]) : v[k];
}

static void test_normalize(PcBackend *be) {
    float *src = read_ref("ops/normalize_src", 3 * 400);
    float *ref = read_ref("ops/normalize_ref", 3 * 400);
    if (src && ref) {
        float out[3 * 400];
        be->normalize_maps(be, src, 3, 20, 20, PC_NORM_CODE, out);
        double d = max_abs_diff_f32(out, ref, 3 * 400);
        printf("normalize (3 maps 20x20) max abs err %.3g\n", d);
        CHECK(d <= OPS_TOL, "normalize_maps max abs err %g", d);
    }
    free(src);
    free(ref);
    // Hand case with lo != 0 and hi != 1: a shuffled ramp plus an outlier tail, both formulas.
    enum { N = 1000 };
    static float map[N], code[N], paper[N];
    static double sorted[N];
    for (int i = 0; i < N; i++) {
        int j = (i * 379) % N;   // 379 is prime to 1000: a permutation
        map[i] = 0.5f + 0.01f * (float)j + (j > 995 ? 100.0f : 0.0f);
        sorted[i] = map[i];
    }
    qsort(sorted, N, sizeof sorted[0], cmp_double);
    double lo = percentile_sorted(sorted, N, 0.1), hi = percentile_sorted(sorted, N, 99.9);
    be->normalize_maps(be, map, 1, 25, 40, PC_NORM_CODE, code);
    be->normalize_maps(be, map, 1, 40, 25, PC_NORM_PAPER, paper);
    double wc = 0, wp = 0;
    for (int i = 0; i < N; i++) {
        double ec = fmin(fmax((map[i] - lo) / hi, 0.0), 1.0);
        double ep = fmin(fmax((map[i] - lo) / (hi - lo), 0.0), 1.0);
        wc = fmax(wc, fabs(code[i] - ec));
        wp = fmax(wp, fabs(paper[i] - ep));
    }
    CHECK(wc <= 1e-6, "normalize (code formula) off the sort-based oracle by %g", wc);
    CHECK(wp <= 1e-6, "normalize (paper formula) off the sort-based oracle by %g", wp);
    // an all-zero map (dead channel) normalises to zeros, not NaN
    float zeros[16] = {0}, uz[16];
    be->normalize_maps(be, zeros, 1, 4, 4, PC_NORM_CODE, uz);
    int all_zero = 1;
    for (int i = 0; i < 16; i++) all_zero &= uz[i] == 0.0f;
    CHECK(all_zero, "u() of an all-zero map is not all zero");
}

static void test_masked_inputs(PcBackend *be) {
    // act (2, 7, 7): channel 1 is the up() source of the fixture; the mask the test builds itself
    // from a sort-based u() and the (fixture-checked) resample.
    float *src = read_ref("ops/up_src_7", 49);
    if (!src) return;
    const int s = 16;
    float act[2 * 49], x[3 * 16 * 16], plus[3 * 256], minus[3 * 256];
    for (int i = 0; i < 49; i++) act[i] = 0.0f, act[49 + i] = src[i];
    for (int i = 0; i < 3 * 256; i++) x[i] = (float)((i * 13) % 17) * 0.25f - 2.0f;
    double sorted[49];
    for (int i = 0; i < 49; i++) sorted[i] = src[i];
    qsort(sorted, 49, sizeof sorted[0], cmp_double);
    double lo = percentile_sorted(sorted, 49, 0.1), hi = percentile_sorted(sorted, 49, 99.9);
    float u[49], mask[256];
    for (int i = 0; i < 49; i++) u[i] = (float)fmin(fmax((src[i] - lo) / hi, 0.0), 1.0);
    be->resample(be, u, 1, 7, 7, s, s, mask);
    const int chan = 1;
    be->masked_inputs(be, act, 7, 7, &chan, 1, x, s, PC_NORM_CODE, plus, minus);
    double wp = 0, wm = 0;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 256; i++) {
            wp = fmax(wp, fabs(plus[c * 256 + i] - x[c * 256 + i] * mask[i]));
            wm = fmax(wm, fabs(minus[c * 256 + i] - x[c * 256 + i] * (1.0f - mask[i])));
        }
    CHECK(wp <= 1e-6 && wm <= 1e-6, "masked_inputs off by %g (plus) / %g (minus)", wp, wm);
    free(src);
}

static void test_blur(PcBackend *be) {
    float *x = read_ref("inputs/" IMG0, 3 * 224 * 224);
    float *ref = read_ref("ops/blur_" IMG0, 3 * 224 * 224);
    if (x && ref) {
        float *out = xmalloc(3 * 224 * 224 * sizeof *out), *again = xmalloc(3 * 224 * 224 * sizeof *again);
        be->blur(be, x, 224, 11, 5.0f, out);
        double d = max_abs_diff_f32(out, ref, 3 * 224 * 224);
        printf("blur of img0 max abs err %.3g\n", d);
        CHECK(d <= OPS_TOL, "blur max abs err %g", d);
        be->blur(be, x, 224, 11, 5.0f, again);
        CHECK(memcmp(out, again, 3 * 224 * 224 * sizeof *out) == 0, "blur is not deterministic");
        free(out);
        free(again);
    }
    free(x);
    free(ref);
}

static void test_softmax(PcBackend *be) {
    const float logits[3 * 3] = {1000.0f, 0.0f, 1000.0f,   // huge logits must not overflow
                                 0.0f, 0.0f, 0.0f,
                                 -5.0f, 1.0986122887f, 0.0f};
    float out[3];
    be->softmax_gather(be, logits, 3, 3, 2, out);
    double e2 = 1.0 / (exp(-5.0) + 3.0 + 1.0);
    CHECK(fabs(out[0] - 0.5) <= 1e-7, "softmax of (1000, 0, 1000)[2] = %g, expected 0.5", out[0]);
    CHECK(fabs(out[1] - 1.0 / 3.0) <= 1e-7, "softmax of zeros = %g, expected 1/3", out[1]);
    CHECK(fabs(out[2] - e2) <= 1e-7, "softmax row 3 = %g, expected %g", out[2], e2);
}

static void test_weighted_sum(PcBackend *be) {
    // act (3, 2, 2), weights (2, 3): row 0 plain, row 1 with a NaN weight on channel 2
    float act[12] = {1, 2, 3, 4,
                     NAN, 1, -1, 0,
                     0.5f, 0.5f, 0.5f, 0.5f};
    float w[6] = {1.0f, 2.0f, -4.0f,
                  0.5f, 1.0f, NAN};
    float out[8];
    be->weighted_channel_sum(be, act, 3, 2, 2, w, 2, out);
    // v0: pixel 0 = 1 + (NaN -> 0) - 2 = -1 -> relu 0; pixel 1 = 2 + 2 - 2 = 2; 3 - 2 - 2 -> 0; 4 + 0 - 2 = 2
    // v1: channel 2 term NaN -> 0: 0.5 + 0 = 0.5; 1 + 1 = 2; 1.5 - 1 = 0.5; 2 + 0 = 2
    const float expect[8] = {0, 2, 0, 2, 0.5f, 2, 0.5f, 2};
    double d = max_abs_diff_f32(out, expect, 8);
    CHECK(d <= 1e-6, "weighted_channel_sum with NaN terms off by %g", d);
    // finite path (sgemm): random-ish values against a double loop
    enum { K = 37, HW = 53 };
    static float a2[K * HW], w2[3 * K], o2[3 * HW];
    for (int i = 0; i < K * HW; i++) a2[i] = (float)((i * 31) % 23) * 0.1f - 0.7f;
    for (int i = 0; i < 3 * K; i++) w2[i] = (float)((i * 7) % 13) * 0.05f - 0.2f;
    be->weighted_channel_sum(be, a2, K, 1, HW, w2, 3, o2);
    double worst = 0;
    for (int v = 0; v < 3; v++)
        for (int i = 0; i < HW; i++) {
            double acc = 0;
            for (int k = 0; k < K; k++) acc += (double)w2[v * K + k] * a2[k * HW + i];
            worst = fmax(worst, fabs(o2[v * HW + i] - fmax(acc, 0.0)));
        }
    CHECK(worst <= 1e-5, "weighted_channel_sum (sgemm path) off by %g", worst);
}

static void test_mul_relu(PcBackend *be) {
    float a[4] = {1, -2, 3, NAN}, b[4] = {2, 3, -1, 1}, o[4];
    be->mul_relu(be, a, b, 4, o);
    CHECK(o[0] == 2 && o[1] == 0 && o[2] == 0 && o[3] == 0, "mul_relu gives %g %g %g %g", o[0],
          o[1], o[2], o[3]);
}

// reference order for the argsort oracle: value descending, index ascending
static const float *g_sort_values;
static int cmp_desc_stable(const void *pa, const void *pb) {
    int a = *(const int *)pa, b = *(const int *)pb;
    float va = g_sort_values[a], vb = g_sort_values[b];
    if (va > vb) return -1;
    if (va < vb) return 1;
    return (a > b) - (a < b);
}

static void test_argsort(PcBackend *be) {
    // hand case: ties (including -0 / +0) keep ascending index order; NaN first
    const float v[10] = {1.0f, 3.0f, 3.0f, -2.0f, 0.0f, 3.0f, -0.0f, 1.0f, NAN, -INFINITY};
    const int expect[10] = {8, 1, 2, 5, 0, 7, 4, 6, 3, 9};
    int order[10];
    be->argsort_desc(be, v, 10, order);
    int same = !memcmp(order, expect, sizeof order);
    CHECK(same, "argsort_desc hand case: got %d %d %d %d %d %d %d %d %d %d", order[0], order[1],
          order[2], order[3], order[4], order[5], order[6], order[7], order[8], order[9]);
    // a 224x224 map with many ties (values quantised to 1/64, like a normalised map) against qsort
    enum { N = 224 * 224 };
    float *map = xmalloc(N * sizeof *map);
    int *got = xmalloc(N * sizeof *got), *ref = xmalloc(N * sizeof *ref);
    TestRng rng = {12345u};
    for (int i = 0; i < N; i++) {
        const uint32_t state = test_rand_u32(&rng);
        map[i] = (float)((state >> 20) % 65) / 64.0f - (i % 3 == 0 ? 0.5f : 0.0f);
        ref[i] = i;
    }
    g_sort_values = map;
    qsort(ref, N, sizeof *ref, cmp_desc_stable);
    be->argsort_desc(be, map, N, got);
    CHECK(!memcmp(got, ref, N * sizeof *got), "argsort_desc differs from the stable qsort order");
    free(map);
    free(got);
    free(ref);
}

static void test_insdel_samples(PcBackend *be) {
    // s = 2: 4 pixels, order 2, 0, 3, 1; 3 pixels per step -> steps take 3, then 4 (clamped)
    const int s = 2, order[4] = {2, 0, 3, 1};
    float x[12], base[12], out[2 * 12];
    for (int i = 0; i < 12; i++) x[i] = (float)(i + 1), base[i] = -(float)(i + 1);
    be->insdel_samples(be, x, base, order, s, 0, 2, 3, 0, out);
    // insertion t=0: pixels 2, 0, 3 from x, pixel 1 from base; t=1: everything from x
    const float ins0[12] = {1, -2, 3, 4, 5, -6, 7, 8, 9, -10, 11, 12};
    CHECK(!memcmp(out, ins0, sizeof ins0), "insertion sample t=0 wrong");
    CHECK(!memcmp(out + 12, x, sizeof x), "insertion sample t=1 is not X");
    // deletion, steps t0 = 0, one pixel per step, sample t = 1: pixels 2 and 0 from base
    be->insdel_samples(be, x, base, order, s, 1, 1, 1, 1, out);
    const float del1[12] = {-1, 2, -3, 4, -5, 6, -7, 8, -9, 10, -11, 12};
    CHECK(!memcmp(out, del1, sizeof del1), "deletion sample t=1 wrong");

    // s = 8, a permuted order, 5 pixels per step, steps 3..11 (the last two clamp at 64 pixels),
    // against a per-pixel oracle: pixel p is taken when its position in the order is < count
    enum { S8 = 8, SS = 64, M = 9 };
    int perm[SS], pos[SS];
    float x8[3 * SS], b8[3 * SS], got[M * 3 * SS];
    for (int i = 0; i < SS; i++) perm[i] = (i * 29 + 7) % SS;   // 29 is prime to 64
    for (int i = 0; i < SS; i++) pos[perm[i]] = i;
    for (int i = 0; i < 3 * SS; i++) x8[i] = (float)i, b8[i] = -1.0f - (float)i;
    for (int del = 0; del < 2; del++) {
        be->insdel_samples(be, x8, b8, perm, S8, 3, M, 5, del, got);
        int bad = 0;
        for (int j = 0; j < M; j++) {
            int count = 5 * (3 + j + 1) < SS ? 5 * (3 + j + 1) : SS;
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < SS; p++) {
                    int from_x = (pos[p] < count) != del;
                    float want = from_x ? x8[c * SS + p] : b8[c * SS + p];
                    bad += got[(j * 3 + c) * SS + p] != want;
                }
        }
        CHECK(bad == 0, "%s samples t = 3..11: %d wrong values", del ? "deletion" : "insertion", bad);
    }
}

int main(void) {
    PcBackend *be = test_cpu_backend();
    if (!be) return test_summary();
    test_resample(be);
    test_lnorm(be);
    test_normalize(be);
    test_masked_inputs(be);
    test_blur(be);
    test_softmax(be);
    test_weighted_sum(be);
    test_mul_relu(be);
    test_argsort(be);
    test_insdel_samples(be);
    be->destroy(be);
    return test_summary();
}
