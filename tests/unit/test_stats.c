// test_stats.c: host/report/stats.c against scipy 1.14.1 / numpy 2.1.3 (tests/fixtures/stats.h5, made by
// tools/make_stats_fixtures.py): the bootstrap resample indices (Philox + Lemire's rejection, also
// on a large n where a quarter of the words are rejected), the BCa intervals of means and of paired
// mean differences, and the Wilcoxon signed-rank p-values ('exact' with and without ties,
// 'approx' with zeros and ties, n > 50, n = 2000), all within 1e-6.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "testutil.h"

static const char *g_file;

static int64_t read_scalar_i64(const char *dset) {
    size_t n = 0;
    int64_t *v = h5_read_i64(g_file, dset, &n);
    int64_t out = v && n == 1 ? v[0] : -1;
    free(v);
    return out;
}

// The indices of one case: the first four resamples exactly, every resample's index sum.
static void check_indices(const char *name, uint64_t seed, int n) {
    char path[128];
    size_t cnt = 0;
    snprintf(path, sizeof path, "/%s/first_indices", name);
    int64_t *first = h5_read_i64(g_file, path, &cnt);
    snprintf(path, sizeof path, "/%s/index_sums", name);
    size_t n_sums = 0;
    int64_t *sums = h5_read_i64(g_file, path, &n_sums);
    CHECK(first && cnt == (size_t)4 * n && sums && n_sums == PC_BOOTSTRAP_RESAMPLES, "%s: index datasets", name);
    if (!first || !sums || cnt != (size_t)4 * n || n_sums != PC_BOOTSTRAP_RESAMPLES) return;
    uint32_t *idx = malloc((size_t)PC_BOOTSTRAP_RESAMPLES * n * sizeof(uint32_t));
    pc_bootstrap_indices(seed, n, PC_BOOTSTRAP_RESAMPLES, idx);
    int bad_first = 0, bad_sums = 0;
    for (size_t i = 0; i < cnt; i++) bad_first += idx[i] != (uint32_t)first[i];
    for (int r = 0; r < PC_BOOTSTRAP_RESAMPLES; r++) {
        int64_t s = 0;
        for (int j = 0; j < n; j++) s += idx[(size_t)r * n + j];
        bad_sums += s != sums[r];
    }
    CHECK(bad_first == 0, "%s: first 4 resamples equal numpy's (%d differ)", name, bad_first);
    CHECK(bad_sums == 0, "%s: index sums of the 10,000 resamples equal numpy's (%d differ)", name, bad_sums);
    free(idx);
    free(first);
    free(sums);
}

static void check_ci(const char *name, const char *what, PcBootstrap *b, const double *v, int n) {
    char path[128];
    size_t cnt = 0;
    snprintf(path, sizeof path, "/%s/%s", name, what);
    double *want = h5_read_f64(g_file, path, &cnt);
    PcMeanCi ci;
    CHECK(want && cnt == 3 && pc_bootstrap_bca(b, v, n, 0.95, &ci) == 0, "%s %s: computed", name, what);
    if (want && cnt == 3) {
        double err = fmax(fabs(ci.mean - want[0]), fmax(fabs(ci.lo - want[1]), fabs(ci.hi - want[2])));
        CHECK(err <= 1e-6, "%s %s: mean %.9f [%.9f, %.9f], scipy %.9f [%.9f, %.9f] (err %.2g)", name, what, ci.mean,
              ci.lo, ci.hi, want[0], want[1], want[2], err);
        CHECK(ci.lo < ci.mean && ci.mean < ci.hi, "%s %s: the interval holds the mean", name, what);
    }
    free(want);
}

static void check_case(const char *name) {
    char path[128];
    size_t nx = 0, ny = 0, np = 0;
    snprintf(path, sizeof path, "/%s/x", name);
    double *x = h5_read_f64(g_file, path, &nx);
    snprintf(path, sizeof path, "/%s/y", name);
    double *y = h5_read_f64(g_file, path, &ny);
    snprintf(path, sizeof path, "/%s/wilcoxon_p", name);
    double *p = h5_read_f64(g_file, path, &np);
    snprintf(path, sizeof path, "/%s/seed", name);
    uint64_t seed = (uint64_t)read_scalar_i64(path);
    CHECK(x && y && p && nx == ny && np == 1, "%s: fixture datasets", name);
    if (x && y && p && nx == ny && np == 1) {
        int n = (int)nx;
        check_indices(name, seed, n);
        double *d = malloc(nx * sizeof(double));
        for (int i = 0; i < n; i++) d[i] = x[i] - y[i];
        PcBootstrap b;
        pc_bootstrap_init(&b, seed, PC_BOOTSTRAP_RESAMPLES);
        check_ci(name, "ci_x", &b, x, n);
        check_ci(name, "ci_d", &b, d, n);
        pc_bootstrap_free(&b);
        double got = pc_wilcoxon_p(d, n);
        // within 1e-6, and relatively so for the tiny p of n = 2000
        CHECK(fabs(got - p[0]) <= 1e-6 * fmin(1, p[0]), "%s: Wilcoxon p %.12g, scipy %.12g", name, got, p[0]);
        free(d);
    }
    free(x);
    free(y);
    free(p);
}

// Lemire's rejection: n = 2^30 + 1 rejects a quarter of the words.
static void check_rejection(void) {
    size_t cnt = 0;
    int64_t *want = h5_read_i64(g_file, "/rejection/indices", &cnt);
    int64_t n = read_scalar_i64("/rejection/n"), seed = read_scalar_i64("/rejection/seed");
    CHECK(want && cnt == 4 * 64 && n == (INT64_C(1) << 30) + 1, "rejection: fixture datasets");
    if (!want || cnt != 4 * 64) return;
    int bad = 0;
    for (int r = 0; r < 4; r++) {
        uint32_t got[64];
        pc_bootstrap_draw((uint64_t)seed, (uint32_t)n, r, 64, got);
        for (int j = 0; j < 64; j++) bad += got[j] != (uint64_t)want[r * 64 + j];
    }
    CHECK(bad == 0, "rejection path: the first 64 indices of 4 resamples equal numpy's (%d differ)", bad);
    free(want);
}

static void check_normal(void) {
    // scipy.special.ndtri / ndtr reference values (scipy 1.14.1)
    CHECK(fabs(pc_ndtri(0.025) - -1.959963984540054) < 1e-14, "ndtri(0.025) = %.17g", pc_ndtri(0.025));
    CHECK(fabs(pc_ndtri(0.975) - 1.959963984540054) < 1e-14, "ndtri(0.975)");
    CHECK(fabs(pc_ndtri(1e-10) - -6.361340902404056) < 1e-12, "ndtri(1e-10) = %.17g", pc_ndtri(1e-10));
    CHECK(pc_ndtri(0.5) == 0 || fabs(pc_ndtri(0.5)) < 1e-16, "ndtri(0.5)");
    CHECK(isinf(pc_ndtri(0)) && pc_ndtri(0) < 0 && isinf(pc_ndtri(1)) && isnan(pc_ndtri(1.5)), "ndtri edges");
    CHECK(fabs(pc_ndtr(-1.959963984540054) - 0.025) < 1e-15, "ndtr");
    for (double p = 1e-6; p < 1; p += 0.0137) {
        double x = pc_ndtri(p);
        if (fabs(pc_ndtr(x) - p) > 1e-14 * p) {
            CHECK(0, "ndtr(ndtri(%g)) = %.17g", p, pc_ndtr(x));
            break;
        }
    }
}

static void check_degenerate(void) {
    PcBootstrap b;
    pc_bootstrap_init(&b, 0, 1000);
    double c[4] = {0.5, 0.5, 0.5, 0.5}, one = 0.3;
    PcMeanCi ci;
    pc_bootstrap_bca(&b, c, 4, 0.95, &ci);
    CHECK(ci.mean == 0.5 && ci.lo == 0.5 && ci.hi == 0.5, "a constant sample: [c, c]");
    pc_bootstrap_bca(&b, &one, 1, 0.95, &ci);
    CHECK(ci.mean == 0.3 && isnan(ci.lo) && isnan(ci.hi) && ci.n == 1, "one value: no interval");
    pc_bootstrap_free(&b);
    double z[3] = {0, 0, 0};
    CHECK(isnan(pc_wilcoxon_p(z, 3)) && isnan(pc_wilcoxon_p(z, 0)), "Wilcoxon of zero differences: NaN");
    double sorted[5] = {1, 2, 3, 4, 5};   // numpy.percentile([1..5], q)
    CHECK(pc_percentile_sorted(sorted, 5, 50) == 3 && pc_percentile_sorted(sorted, 5, 10) == 1.4 &&
              pc_percentile_sorted(sorted, 5, 100) == 5 && pc_percentile_sorted(sorted, 5, 0) == 1,
          "percentile: linear interpolation as numpy");
}

int main(void) {
    g_file = fixture_path("stats.h5");
    if (!h5_exists(g_file, "/n2000")) test_skip("tests/fixtures/stats.h5 missing");
    static const char *cases[] = {"n5", "small", "ties_exact", "zeros", "n60", "n2000"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(cases[i]);
    check_rejection();
    check_normal();
    check_degenerate();
    return test_summary();
}
