// stats.h: the report's statistics over images (docs/report.md): a 95 % bootstrap confidence
// interval of a mean (BCa, as scipy.stats.bootstrap 1.14.1 computes it) and the Wilcoxon
// signed-rank p-value of paired differences (as scipy.stats.wilcoxon 1.14.1 with its defaults).
// Checked against scipy / numpy by tests/unit/test_stats.c (fixture: tools/make_stats_fixtures.py).
//
// Resample indices (the contract tools/make_stats_fixtures.py reproduces with tools/philox.py):
//   resample r (0 <= r < R, R <= 65536) of n items draws its n indices from the Philox stream
//   (seed, image PC_BOOTSTRAP_IMAGE, sample (PC_STREAM_BOOTSTRAP << 16) | r): word t of the stream
//   is word t % 4 of block t / 4 (philox.h's element order). Each word w is mapped to [0, n) by
//   Lemire's multiply-shift with rejection, which is exactly uniform: m = w * n (64 bits); the word
//   is rejected when (m mod 2^32) < (2^32 mod n), else the index is m >> 32. The resample's indices
//   are those of the first n accepted words, in stream order (a rejection, probability < n / 2^32,
//   shifts the rest by one word).
// seed is the run's [run] seed. The same (seed, n) gives the same resamples, so every method's
// and metric's interval over the same n images resamples the same images.
#ifndef PC_STATS_H
#define PC_STATS_H

#include <stdint.h>

// Philox stream of the bootstrap: after the methods' 1-5 (methods.h) and the sanity check's 6.
#define PC_STREAM_BOOTSTRAP 7u
// The image word of the bootstrap's draws: no image has this list position (RISE uses 0xFFFFFFFF).
#define PC_BOOTSTRAP_IMAGE 0xFFFFFFFEu
#define PC_BOOTSTRAP_RESAMPLES 10000
#define PC_BOOTSTRAP_MAX_RESAMPLES 65536

// The first `count` indices (count <= n) of resample r of n items (above) into out.
void pc_bootstrap_draw(uint64_t seed, uint32_t n, int r, int count, uint32_t *out);
// Fills idx (R * n) with the indices of resamples 0 .. R-1 of n items (above), resample-major.
void pc_bootstrap_indices(uint64_t seed, int n, int resamples, uint32_t *idx);

// A mean with its interval; lo = hi = NAN when it cannot be computed (n < 2, a degenerate
// distribution: see pc_bootstrap_bca).
typedef struct {
    double mean, lo, hi;
    int n;
} PcMeanCi;

// The bootstrap statistics of the report: resample indices cached per (seed, n) (the last two), so
// the many vectors of one report over the same images draw them once (R * n * 4 bytes each: 80 MB
// for 2000 images). seed may be changed between calls.
typedef struct {
    uint64_t seed;
    int resamples;
    int n[2];
    uint64_t slot_seed[2];
    uint32_t *idx[2];
    int next;           // slot replaced next
    double *theta;      // (resamples) work
} PcBootstrap;

void pc_bootstrap_init(PcBootstrap *b, uint64_t seed, int resamples);
void pc_bootstrap_free(PcBootstrap *b);

// BCa interval at `level` (0.95) of the mean of x[0 .. n), as scipy.stats.bootstrap(method='BCa')
// with the statistic "sum in index order, divided by n":
//   theta_hat = mean of x; theta*_r = the mean of resample r (its values summed in draw order);
//   z0 = ndtri((#{theta* < theta_hat} + #{theta* <= theta_hat}) / (2 R));
//   jackknife theta_i = (sum - x_i) / (n - 1), U_i = (n - 1)(mean(theta_.) - theta_i),
//   a = (1/6) (sum U^3 / n^3) / (sum U^2 / n^2)^(3/2);
//   alpha = (1 - level) / 2, z = ndtri(alpha), for z_k in (z, -z):
//   alpha_k = ndtr(z0 + (z0 + z_k) / (1 - a (z0 + z_k)));
//   lo, hi = numpy.percentile(theta*, 100 alpha_1), (..., 100 alpha_2) (linear interpolation).
// A constant sample gives lo = hi = its value (scipy gives NaN there: its a is 0 / 0); any other
// NaN of the formulas (z0 infinite: every resample on one side) gives NaN, as scipy does.
// Returns 0, or -1 when out of memory. x is not modified.
int pc_bootstrap_bca(PcBootstrap *b, const double *x, int n, double level, PcMeanCi *out);

// Two-sided p-value of the Wilcoxon signed-rank test of the differences d[0 .. n), as
// scipy.stats.wilcoxon(d) 1.14.1 with its defaults (zero_method='wilcox', correction=False,
// alternative='two-sided', method='auto'):
//   zeros are dropped (count = nonzero differences); ranks of |d| are average ranks of ties;
//   R+ = sum of the ranks of the positive differences.
//   method 'auto' is 'exact' when n <= 50 (n counts the zeros) and no difference is zero, else
//   'approx'. In scipy 1.14.1 ties do NOT switch to 'approx': the exact null distribution is then
//   used with R+ rounded, p = 2 min(sf(floor R+), cdf(ceil R+)) clipped to [0, 1], sf(k) = P(T >= k),
//   cdf(k) = P(T <= k) of the exact distribution of n ranks.
//   'approx': z = (R+ - c(c+1)/4) / sqrt((c(c+1)(2c+1) - sum(t^3 - t)/2) / 24), t the sizes of the
//   tie groups among the nonzero |d| (c the count), p = 2 ndtr(-|z|), no continuity correction.
// NaN when n = 0 or every difference is zero (scipy raises there). d must be finite.
double pc_wilcoxon_p(const double *d, int n);

// The standard normal CDF (scipy.special.ndtr) and its inverse (scipy.special.ndtri: 0 -> -inf,
// 1 -> +inf, outside [0, 1] or NaN -> NaN).
double pc_ndtr(double x);
double pc_ndtri(double p);

// numpy.percentile(v, q) (method 'linear') of the sorted values v[0 .. m), q in percent.
double pc_percentile_sorted(const double *v, int m, double q);

#endif
