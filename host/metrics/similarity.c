// similarity.c: Spearman rank correlation, SSIM and HOG similarity of saliency maps, as scipy
// and scikit-image compute them (see similarity.h for the exact calls reproduced).
#include "similarity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

const char *const pc_sim_titles[PC_SIM_COUNT] = {"Spearman rank correlation (abs)", "Spearman rank correlation",
                                                  "SSIM", "HOG similarity (Spearman)"};

// ---- ranks and Spearman ---------------------------------------------------------------------

typedef struct {
    double v;
    size_t i;
} Keyed;

static int cmp_keyed(const void *a, const void *b) {
    double x = ((const Keyed *)a)->v, y = ((const Keyed *)b)->v;
    return x < y ? -1 : x > y;
}

void pc_rankdata(const double *x, size_t n, double *rank) {
    Keyed *k = xmalloc((n + 1) * sizeof(Keyed));
    for (size_t i = 0; i < n; i++) k[i] = (Keyed){x[i], i};
    qsort(k, n, sizeof(Keyed), cmp_keyed);
    // a tie group at sorted positions [s, e) gets the mean of the 1-based ranks s+1 .. e: exact in
    // double (half-integers)
    for (size_t s = 0; s < n;) {
        size_t e = s + 1;
        while (e < n && k[e].v == k[s].v) e++;
        double r = 0.5 * (double)(s + 1 + e);
        for (size_t j = s; j < e; j++) rank[k[j].i] = r;
        s = e;
    }
    free(k);
}

double pc_spearman(const double *a, const double *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (isnan(a[i]) || isnan(b[i])) return NAN;
    if (n < 2) return NAN;
    double *ra = xmalloc(2 * n * sizeof(double)), *rb = ra + n;
    pc_rankdata(a, n, ra);
    pc_rankdata(b, n, rb);
    // numpy.corrcoef: cov / sqrt(var_a) / sqrt(var_b); the mean of the ranks is (n + 1) / 2 exactly
    double m = 0.5 * (double)(n + 1), sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        double da = ra[i] - m, db = rb[i] - m;
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    free(ra);
    double f = (double)(n - 1);
    if (saa == 0 || sbb == 0) return NAN;     // constant input: correlation undefined
    double r = sab / f / sqrt(saa / f) / sqrt(sbb / f);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

// ---- SSIM -----------------------------------------------------------------------------------

#define SSIM_R 5    // int(3.5 * 1.5 + 0.5): the radius of the 11-tap window

// scipy.ndimage's Gaussian kernel of sigma 1.5, radius 5: exp(-0.5 / sigma^2 * x^2) divided by its
// sum, the sum in numpy's pairwise order for 11 terms (8 partial sums, then the last 3).
static void ssim_kernel(double w[2 * SSIM_R + 1]) {
    const double sigma2 = 1.5 * 1.5;
    for (int x = -SSIM_R; x <= SSIM_R; x++) w[x + SSIM_R] = exp(-0.5 / sigma2 * (double)(x * x));
    double r = ((w[0] + w[1]) + (w[2] + w[3])) + ((w[4] + w[5]) + (w[6] + w[7]));
    for (int i = 8; i < 2 * SSIM_R + 1; i++) r += w[i];
    for (int i = 0; i < 2 * SSIM_R + 1; i++) w[i] /= r;
}

// ndimage 'reflect' border: ... b a | a b ... y z | z y ...
static int reflect(int i, int n) {
    while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1;
    return i;
}

// scipy.ndimage.gaussian_filter(in) of an (h, w) image: 1-D correlation along rows (axis 0) then
// columns, each as ndimage's symmetric-kernel loop: x0 w0 + sum_{j=5..1} (x_-j + x_j) w_j.
static void gauss2d(const double *in, int h, int w, const double *k, double *tmp, double *out) {
    const double *c = k + SSIM_R;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            double s = in[(size_t)i * w + j] * c[0];
            for (int t = SSIM_R; t >= 1; t--)
                s += (in[(size_t)reflect(i - t, h) * w + j] + in[(size_t)reflect(i + t, h) * w + j]) * c[t];
            tmp[(size_t)i * w + j] = s;
        }
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            const double *row = tmp + (size_t)i * w;
            double s = row[j] * c[0];
            for (int t = SSIM_R; t >= 1; t--) s += (row[reflect(j - t, w)] + row[reflect(j + t, w)]) * c[t];
            out[(size_t)i * w + j] = s;
        }
}

double pc_ssim(const double *a, const double *b, int h, int w, double data_range) {
    if (h < 2 * SSIM_R + 1 || w < 2 * SSIM_R + 1) return NAN;
    size_t n = (size_t)h * w;
    double k[2 * SSIM_R + 1];
    ssim_kernel(k);
    double *buf = xmalloc(8 * n * sizeof(double));
    double *prod = buf, *tmp = buf + n, *ux = buf + 2 * n, *uy = buf + 3 * n, *uxx = buf + 4 * n,
           *uyy = buf + 5 * n, *uxy = buf + 6 * n;
    gauss2d(a, h, w, k, tmp, ux);
    gauss2d(b, h, w, k, tmp, uy);
    for (size_t i = 0; i < n; i++) prod[i] = a[i] * a[i];
    gauss2d(prod, h, w, k, tmp, uxx);
    for (size_t i = 0; i < n; i++) prod[i] = b[i] * b[i];
    gauss2d(prod, h, w, k, tmp, uyy);
    for (size_t i = 0; i < n; i++) prod[i] = a[i] * b[i];
    gauss2d(prod, h, w, k, tmp, uxy);
    const double np_ = (2 * SSIM_R + 1) * (2 * SSIM_R + 1), cov_norm = np_ / (np_ - 1);
    const double c1 = (0.01 * data_range) * (0.01 * data_range), c2 = (0.03 * data_range) * (0.03 * data_range);
    double sum = 0;
    for (int i = SSIM_R; i < h - SSIM_R; i++)
        for (int j = SSIM_R; j < w - SSIM_R; j++) {
            size_t p = (size_t)i * w + j;
            double vx = cov_norm * (uxx[p] - ux[p] * ux[p]), vy = cov_norm * (uyy[p] - uy[p] * uy[p]);
            double vxy = cov_norm * (uxy[p] - ux[p] * uy[p]);
            double a1 = 2 * ux[p] * uy[p] + c1, a2 = 2 * vxy + c2;
            double b1 = ux[p] * ux[p] + uy[p] * uy[p] + c1, b2 = vx + vy + c2;
            sum += (a1 * a2) / (b1 * b2);
        }
    free(buf);
    return sum / ((double)(h - 2 * SSIM_R) * (w - 2 * SSIM_R));
}

// ---- HOG ------------------------------------------------------------------------------------

#define HOG_ORIENT 9
#define HOG_BLOCK 3

size_t pc_hog_len(int h, int w, int p) {
    int ncr = h / p, ncc = w / p;
    if (ncr < HOG_BLOCK || ncc < HOG_BLOCK) return 0;
    return (size_t)(ncr - HOG_BLOCK + 1) * (ncc - HOG_BLOCK + 1) * HOG_BLOCK * HOG_BLOCK * HOG_ORIENT;
}

// Orientation histograms hist (ncr, ncc, 9) of skimage's _hoghistogram.pyx: magnitude hypot(gc, gr),
// orientation rad2deg(atan2(gr, gc)) mod 180 (numpy's floor mod), bin i = [20 i, 20 (i + 1)); the
// cell sum in a float32 accumulator (its `cdef float total`), divided by the cell's pixel count.
static void hog_histograms(const float *img, int h, int w, int p, double *hist) {
    size_t n = (size_t)h * w;
    double *mag = xmalloc(2 * n * sizeof(double)), *ori = mag + n;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            size_t q = (size_t)i * w + j;
            // float32 differences, as _hog_channel_gradient on a float32 image; 0 on the border
            double gr = (i > 0 && i < h - 1) ? (double)(float)(img[q + w] - img[q - w]) : 0.0;
            double gc = (j > 0 && j < w - 1) ? (double)(float)(img[q + 1] - img[q - 1]) : 0.0;
            mag[q] = hypot(gc, gr);
            double o = atan2(gr, gc) * (180.0 / M_PI), m = fmod(o, 180.0);
            if (m != 0) {
                if (m < 0) m += 180.0;
            } else {
                m = 0.0;    // numpy: copysign(0, 180)
            }
            ori[q] = m;
        }
    int ncr = h / p, ncc = w / p;
    const double per = 180.0 / HOG_ORIENT;
    for (int o = 0; o < HOG_ORIENT; o++) {
        double start = per * (o + 1), end = per * o;
        for (int r = 0; r < ncr; r++)
            for (int c = 0; c < ncc; c++) {
                float total = 0.f;
                for (int i = r * p; i < r * p + p; i++)
                    for (int j = c * p; j < c * p + p; j++) {
                        size_t q = (size_t)i * w + j;
                        if (ori[q] >= start || ori[q] < end) continue;
                        total = (float)((double)total + mag[q]);
                    }
                hist[((size_t)r * ncc + c) * HOG_ORIENT + o] = (double)(total / (float)(p * p));
            }
    }
    free(mag);
}

void pc_hog(const float *img, int h, int w, int p, double *out) {
    int ncr = h / p, ncc = w / p, nbr = ncr - HOG_BLOCK + 1, nbc = ncc - HOG_BLOCK + 1;
    if (nbr < 1 || nbc < 1) return;
    double *hist = xmalloc((size_t)ncr * ncc * HOG_ORIENT * sizeof(double));
    hog_histograms(img, h, w, p, hist);
    const double eps2 = 1e-5 * 1e-5;
    const int bl = HOG_BLOCK * HOG_BLOCK * HOG_ORIENT;
    for (int r = 0; r < nbr; r++)
        for (int c = 0; c < nbc; c++) {
            double *o = out + ((size_t)r * nbc + c) * bl, s = 0, s2 = 0;
            int k = 0;
            for (int a = 0; a < HOG_BLOCK; a++)
                for (int b = 0; b < HOG_BLOCK; b++)
                    for (int t = 0; t < HOG_ORIENT; t++, k++) {
                        o[k] = hist[((size_t)(r + a) * ncc + c + b) * HOG_ORIENT + t];
                        s += o[k] * o[k];
                    }
            // L2-Hys: L2 normalise, clip at 0.2, L2 normalise again
            double d = sqrt(s + eps2);
            for (k = 0; k < bl; k++) {
                o[k] = o[k] / d;
                if (o[k] > 0.2) o[k] = 0.2;
                s2 += o[k] * o[k];
            }
            d = sqrt(s2 + eps2);
            for (k = 0; k < bl; k++) o[k] = (double)(float)(o[k] / d);   // 0.19.3 stores float32
        }
    free(hist);
}

// ---- the notebook's measures ----------------------------------------------------------------

// Max of |m| over the map (NaN when a value is NaN).
static float max_abs(const float *m, size_t n) {
    float mx = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(m[i])) return NAN;
        if (fabsf(m[i]) > mx) mx = fabsf(m[i]);
    }
    return mx;
}

// normalize_image: (x - min) / (max - min) in float32 (NaN everywhere for a constant map).
static void norm01(const float *m, size_t n, float *out) {
    float lo = m[0], hi = m[0];
    for (size_t i = 1; i < n; i++) {
        if (m[i] < lo) lo = m[i];
        if (m[i] > hi) hi = m[i];
    }
    for (size_t i = 0; i < n; i++) out[i] = (m[i] - lo) / (hi - lo);
}

static int any_nan(const float *m, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (isnan(m[i])) return 1;
    return 0;
}

void pc_sanity_similarity(const float *orig, const float *map, int s, double out[PC_SIM_COUNT]) {
    size_t n = (size_t)s * s, nh = pc_hog_len(s, s, 16);
    double *a = xmalloc((2 * n + 2 * nh + 1) * sizeof(double)), *b = a + n, *ha = b + n, *hb = ha + nh;
    float *fa = xmalloc(2 * n * sizeof(float)), *fb = fa + n;
    float ma = max_abs(orig, n), mb = max_abs(map, n);
    for (int abs_ = 1; abs_ >= 0; abs_--) {     // abs_grayscale_norm, then diverging_norm (float32)
        for (size_t i = 0; i < n; i++) {
            a[i] = (double)((abs_ ? fabsf(orig[i]) : orig[i]) / ma);
            b[i] = (double)((abs_ ? fabsf(map[i]) : map[i]) / mb);
        }
        out[abs_ ? PC_SIM_RANK_ABS : PC_SIM_RANK] = pc_spearman(a, b, n);
    }
    norm01(orig, n, fa);
    norm01(map, n, fb);
    if (any_nan(fa, n) || any_nan(fb, n)) {
        out[PC_SIM_SSIM] = out[PC_SIM_HOG] = NAN;
    } else {
        for (size_t i = 0; i < n; i++) a[i] = fa[i], b[i] = fb[i];
        out[PC_SIM_SSIM] = pc_ssim(a, b, s, s, 2.0);   // float dtype range (-1, 1)
        pc_hog(fa, s, s, 16, ha);
        pc_hog(fb, s, s, 16, hb);
        out[PC_SIM_HOG] = nh ? pc_spearman(ha, hb, nh) : NAN;
    }
    free(a);
    free(fa);
}
