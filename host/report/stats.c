// stats.c: bootstrap intervals and the Wilcoxon signed-rank test of the report (stats.h). Every
// formula follows scipy 1.14.1 / numpy 2.1 line by line, so that the fixtures of
// tools/make_stats_fixtures.py agree to rounding.
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "philox.h"

// ---- resample indices ---------------------------------------------------------------------------

void pc_bootstrap_draw(uint64_t seed, uint32_t n, int r, int count, uint32_t *out) {
    if (n == 0) return;
    // Lemire: reject the words whose low product bits fall below 2^32 mod n, so that each of the n
    // results has exactly floor(2^32 / n) accepted words behind it.
    const uint32_t threshold = (uint32_t)((UINT64_C(1) << 32) % (uint64_t)n);
    const uint32_t sample = (PC_STREAM_BOOTSTRAP << 16) | (uint32_t)r;
    int got = 0;
    for (uint64_t b = 0; got < count; b++) {
        const PcPhilox4 o = pc_philox_block(seed, PC_BOOTSTRAP_IMAGE, sample, b);
        for (int w = 0; w < 4 && got < count; w++) {
            const uint64_t m = (uint64_t)o.v[w] * (uint64_t)n;
            if ((uint32_t)m < threshold) continue;
            out[got++] = (uint32_t)(m >> 32);
        }
    }
}

void pc_bootstrap_indices(uint64_t seed, int n, int resamples, uint32_t *idx) {
    for (int r = 0; r < resamples && n > 0; r++) pc_bootstrap_draw(seed, (uint32_t)n, r, n, idx + (size_t)r * n);
}

void pc_bootstrap_init(PcBootstrap *b, uint64_t seed, int resamples) {
    memset(b, 0, sizeof *b);
    b->seed = seed;
    b->resamples = resamples;
}

void pc_bootstrap_free(PcBootstrap *b) {
    free(b->idx[0]);
    free(b->idx[1]);
    free(b->theta);
    memset(b, 0, sizeof *b);
}

// The (R, n) indices for (b->seed, n), drawn once (two cached).
static const uint32_t *indices_for(PcBootstrap *b, int n) {
    for (int s = 0; s < 2; s++)
        if (b->idx[s] && b->n[s] == n && b->slot_seed[s] == b->seed) return b->idx[s];
    int s = b->next;
    b->next ^= 1;
    free(b->idx[s]);
    b->idx[s] = malloc((size_t)b->resamples * (size_t)n * sizeof(uint32_t));
    b->n[s] = b->idx[s] ? n : 0;
    b->slot_seed[s] = b->seed;
    if (b->idx[s]) pc_bootstrap_indices(b->seed, n, b->resamples, b->idx[s]);
    return b->idx[s];
}

// ---- normal distribution ------------------------------------------------------------------------

double pc_ndtr(double x) {
    if (isnan(x)) return NAN;
    return 0.5 * erfc(-x * M_SQRT1_2);
}

// Acklam's rational approximation (relative error 1.2e-9), then one Halley step on erfc, which
// brings it to a few ulps: ndtri to the precision of scipy's cephes ndtri.
static double ndtri_acklam(double p) {
    static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                                1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                6.680131188771972e+01,  -1.328068155288572e+01};
    static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                3.754408661907416e+00};
    const double lo = 0.02425, hi = 1 - 0.02425;
    if (p < lo) {
        double q = sqrt(-2 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > hi) {
        double q = sqrt(-2 * log1p(-p));
        return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

double pc_ndtri(double p) {
    if (isnan(p) || p < 0 || p > 1) return NAN;
    if (p == 0) return -INFINITY;
    if (p == 1) return INFINITY;
    // work in the lower tail (the upper by symmetry), where erfc has no cancellation
    int upper = p > 0.5;
    double t = upper ? 1 - p : p, x = ndtri_acklam(t);
    for (int it = 0; it < 2; it++) {
        double e = 0.5 * erfc(-x * M_SQRT1_2) - t;
        double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
        x = x - u / (1 + x * u / 2);
    }
    return upper ? -x : x;
}

// ---- percentile ---------------------------------------------------------------------------------

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// numpy 2.1 _quantile, method 'linear': virtual index (m - 1) q, q = percent / 100, neighbours
// floor and floor + 1 (the last value at or above m - 1), then _lerp.
double pc_percentile_sorted(const double *v, int m, double q) {
    if (m <= 0 || isnan(q)) return NAN;
    double quant = q / 100, vi = (m - 1) * quant;
    double prev = floor(vi);
    long i0 = (long)prev, i1 = i0 + 1;
    if (vi >= m - 1) i0 = i1 = m - 1;
    if (vi < 0) i0 = i1 = 0;
    double a = v[i0], bb = v[i1], t = vi - prev;
    double diff = bb - a, r = a + diff * t;
    if (t >= 0.5) r = bb - diff * (1 - t);
    return r;
}

// ---- BCa ----------------------------------------------------------------------------------------

// a of the BCa interval from the jackknife means of x (stats.h).
static double bca_acceleration(const double *x, int n, double sum) {
    double dot = 0;
    for (int i = 0; i < n; i++) dot += (sum - x[i]) / (n - 1);
    dot /= n;
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        double u = (n - 1) * (dot - (sum - x[i]) / (n - 1));
        num += u * u * u;
        den += u * u;
    }
    double nn = n;
    return 1.0 / 6 * (num / (nn * nn * nn)) / pow(den / (nn * nn), 1.5);
}

int pc_bootstrap_bca(PcBootstrap *b, const double *x, int n, double level, PcMeanCi *out) {
    out->n = n;
    out->mean = out->lo = out->hi = NAN;
    if (n < 1) return 0;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += x[i];
    const double theta_hat = sum / n;
    out->mean = theta_hat;
    if (n < 2) return 0;
    int constant = 1;
    for (int i = 1; i < n && constant; i++) constant = x[i] == x[0];
    if (constant) {
        out->lo = out->hi = x[0];
        return 0;
    }
    const int R = b->resamples;
    const uint32_t *idx = indices_for(b, n);
    if (!b->theta) b->theta = malloc((size_t)R * sizeof(double));
    if (!idx || !b->theta) return -1;
    double *theta = b->theta;
    long below = 0, at_or_below = 0;
    for (int r = 0; r < R; r++) {
        const uint32_t *ix = idx + (size_t)r * n;
        double s = 0;
        for (int j = 0; j < n; j++) s += x[ix[j]];   // draw order: numpy's cumsum in the fixture
        theta[r] = s / n;
        below += theta[r] < theta_hat;
        at_or_below += theta[r] <= theta_hat;
    }
    const double z0 = pc_ndtri((double)(below + at_or_below) / (2.0 * R));
    const double a = bca_acceleration(x, n, sum);
    const double alpha = (1 - level) / 2, z_alpha = pc_ndtri(alpha), z_1alpha = -z_alpha;
    const double num1 = z0 + z_alpha, num2 = z0 + z_1alpha;
    const double alpha_1 = pc_ndtr(z0 + num1 / (1 - a * num1));
    const double alpha_2 = pc_ndtr(z0 + num2 / (1 - a * num2));
    qsort(theta, (size_t)R, sizeof(double), cmp_double);
    out->lo = pc_percentile_sorted(theta, R, alpha_1 * 100);
    out->hi = pc_percentile_sorted(theta, R, alpha_2 * 100);
    return 0;
}

// ---- Wilcoxon signed-rank -----------------------------------------------------------------------

typedef struct {
    double abs;
    int positive;
} AbsDiff;

static int cmp_abs(const void *a, const void *b) {
    double x = ((const AbsDiff *)a)->abs, y = ((const AbsDiff *)b)->abs;
    return (x > y) - (x < y);
}

// pmf of the sum of the ranks of the positives among n (scipy's _get_wilcoxon_distr): (n(n+1)/2 + 1)
// values, malloc'd.
static double *wilcoxon_pmf(int n) {
    int len = n * (n + 1) / 2 + 1;
    double *c = calloc((size_t)len, sizeof(double)), *prev = calloc((size_t)len, sizeof(double));
    if (!c || !prev) {
        free(c);
        free(prev);
        return NULL;
    }
    c[0] = 1;
    for (int k = 1; k <= n; k++) {
        int m = (k - 1) * k / 2 + 1, size = k * (k + 1) / 2 + 1;
        memcpy(prev, c, (size_t)m * sizeof(double));
        for (int i = 0; i < size; i++) c[i] = 0;
        for (int i = 0; i < m; i++) c[i] = prev[i] * 0.5;
        for (int i = 0; i < m; i++) c[size - m + i] += prev[i] * 0.5;
    }
    free(prev);
    return c;
}

static double pmf_sum(const double *pmf, int len, long from, long to) {   // sum of pmf[from .. to]
    double s = 0;
    for (long i = from < 0 ? 0 : from; i <= to && i < len; i++) s += pmf[i];
    return s;
}

// Exact two-sided p of R+ (scipy's WilcoxonDistribution cdf / sf branches).
static double wilcoxon_exact(int n, double r_plus) {
    int len = n * (n + 1) / 2 + 1;
    double *pmf = wilcoxon_pmf(n);
    if (!pmf) return NAN;
    double mn = n * (n + 1) / 4.0;
    long k_sf = (long)floor(r_plus), k_cdf = (long)ceil(r_plus);
    double sf = k_sf <= mn ? pmf_sum(pmf, len, k_sf, len - 1) : 1 - pmf_sum(pmf, len, 0, k_sf - 1);
    double cdf = k_cdf <= mn ? pmf_sum(pmf, len, 0, k_cdf) : 1 - pmf_sum(pmf, len, k_cdf + 1, len - 1);
    free(pmf);
    double p = 2 * (sf < cdf ? sf : cdf);
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

double pc_wilcoxon_p(const double *d, int n) {
    if (n <= 0) return NAN;
    AbsDiff *v = malloc((size_t)n * sizeof(AbsDiff));
    if (!v) return NAN;
    int count = 0;
    for (int i = 0; i < n; i++)
        if (d[i] != 0) v[count++] = (AbsDiff){fabs(d[i]), d[i] > 0};
    const int exact = n <= 50 && count == n;
    if (count == 0) {
        free(v);
        return NAN;
    }
    qsort(v, (size_t)count, sizeof(AbsDiff), cmp_abs);
    double r_plus = 0, ties = 0;
    for (int i = 0; i < count;) {
        int j = i;
        while (j + 1 < count && v[j + 1].abs == v[i].abs) j++;
        double t = j - i + 1, rank = (i + 1) + (t - 1) / 2;   // average rank of the group
        for (int k = i; k <= j; k++) r_plus += v[k].positive ? rank : 0;
        ties += t * t * t - t;
        i = j + 1;
    }
    free(v);
    if (exact) return wilcoxon_exact(count, r_plus);
    double c = count, mn = c * (c + 1.) * 0.25, se = c * (c + 1.) * (2. * c + 1.);
    se -= ties / 2;
    se = sqrt(se / 24);
    double z = (r_plus - mn) / se;
    return 2 * pc_ndtr(-fabs(z));
}
