// test_similarity.c: the sanity check's similarity measures (host/metrics/similarity.c) against scipy 1.10 /
// scikit-image 0.19.3 on the fixed inputs of tests/fixtures/sanity_similarity.h5
// (tools/make_sanity_fixtures.py): Spearman with ties, SSIM, HOG features, and the notebook's four
// measures on map pairs (smooth, signed, CAM-like ties, quantised, identical, uncorrelated,
// constant -> NaN). Tolerance 1e-5 absolute.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "similarity.h"
#include "testutil.h"

#define TOL 1e-5

static int same(double got, double want) { return isnan(want) ? isnan(got) : fabs(got - want) <= TOL; }

static void test_raw(const char *fx) {
    size_t n, m;
    double *x = h5_read_f64(fx, "raw/spearman_x", &n), *y = h5_read_f64(fx, "raw/spearman_y", &m);
    double *want = h5_read_f64(fx, "raw/spearman", &m);
    double got = pc_spearman(x, y, n);
    CHECK(same(got, want[0]), "spearman with ties: %.12g vs scipy %.12g", got, want[0]);
    // ranks: ties share the mean of their ranks (x holds three 5s at ranks 8..10 -> 9, two 1s -> 1.5)
    double r[16];
    pc_rankdata(x, n, r);
    CHECK(r[4] == 9 && r[8] == 9 && r[10] == 9 && r[1] == 1.5 && r[3] == 1.5, "rankdata average ties");
    free(x), free(y), free(want);

    int64_t dims[8];
    int nd;
    float *hin = h5_read_f32(fx, "raw/hog_in", &n, dims, &nd);
    double *hw = h5_read_f64(fx, "raw/hog", &m);
    size_t nh = pc_hog_len((int)dims[0], (int)dims[1], 16);
    CHECK(nh == m, "hog length %zu vs skimage %zu", nh, m);
    double *hg = calloc(nh + 1, sizeof(double)), worst = 0;
    pc_hog(hin, (int)dims[0], (int)dims[1], 16, hg);
    for (size_t i = 0; i < nh && nh == m; i++) worst = fmax(worst, fabs(hg[i] - hw[i]));
    CHECK(worst <= 1e-6, "hog features: max |diff| %.3g vs skimage", worst);
    free(hin), free(hw), free(hg);

    float *pa = h5_read_f32(fx, "raw/ssim_a", &n, dims, &nd), *pb = h5_read_f32(fx, "raw/ssim_b", &m, dims, &nd);
    double *a = h5_read_f64(fx, "raw/ssim_a", &n), *b = h5_read_f64(fx, "raw/ssim_b", &m);
    want = h5_read_f64(fx, "raw/ssim", &m);
    got = pc_ssim(a, b, (int)dims[0], (int)dims[1], 2.0);
    CHECK(same(got, want[0]), "ssim (%dx%d): %.12g vs skimage %.12g", (int)dims[0], (int)dims[1], got, want[0]);
    CHECK(fabs(pc_ssim(a, a, (int)dims[0], (int)dims[1], 2.0) - 1) < 1e-12, "ssim of an image with itself is 1");
    free(pa), free(pb), free(a), free(b), free(want);
}

static void test_pair(const char *fx, const char *name) {
    char pa[128], pb[128], pe[128];
    snprintf(pa, sizeof pa, "pairs/%s/a", name);
    snprintf(pb, sizeof pb, "pairs/%s/b", name);
    snprintf(pe, sizeof pe, "pairs/%s/expected", name);
    size_t n, m;
    int64_t dims[8];
    int nd;
    float *a = h5_read_f32(fx, pa, &n, dims, &nd), *b = h5_read_f32(fx, pb, &m, dims, &nd);
    double *want = h5_read_f64(fx, pe, &m);
    if (!a || !b || !want || m != PC_SIM_COUNT) {
        CHECK(0, "fixture %s missing", name);
        return;
    }
    double got[PC_SIM_COUNT];
    pc_sanity_similarity(a, b, (int)dims[0], got);
    for (int k = 0; k < PC_SIM_COUNT; k++)
        CHECK(same(got[k], want[k]), "%s %s: %.9g vs reference %.9g", name, pc_sim_names[k], got[k], want[k]);
    free(a), free(b), free(want);
}

int main(void) {
    const char *fx = fixture_path("sanity_similarity.h5");
    static char path[1024];
    snprintf(path, sizeof path, "%s", fx);
    test_raw(path);
    const char *cases[] = {"smooth", "signed", "cam_ties", "quantised", "identical", "uncorrelated", "constant",
                           "smooth224"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_pair(path, cases[i]);
    return test_summary();
}
