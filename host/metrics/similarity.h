// similarity.h: the map-similarity measures of the cascading-randomisation sanity check
// (Adebayo et al. 2018, notebooks/inceptionv3_cascading_randomization.ipynb of
// adebayoj/sanity_checks_saliency), in plain C, double precision where the libraries compute in
// double:
//   rank_abs  scipy.stats.spearmanr of |m| / max|m|            (their abs_grayscale_norm)
//   rank      scipy.stats.spearmanr of m / max|m|              (their diverging_norm)
//   ssim      skimage.metrics.structural_similarity(gaussian_weights=True) of the maps min-max
//             normalised to [0, 1] (their normalize_image), computed in float64 as their
//             skimage.measure.compare_ssim did (data_range 2: the float dtype's range)
//   hog       spearmanr of skimage.feature.hog(pixels_per_cell=(16, 16)) of the [0, 1] maps
//             (9 orientations, 3 x 3 cells per block, L2-Hys: the defaults as they called it)
// Checked against scipy 1.10 / scikit-image 0.19.3 on fixed inputs (tests/methods/test_similarity.c).
#ifndef PC_SIMILARITY_H
#define PC_SIMILARITY_H

#include <stddef.h>

#include "sanity_file.h"

// The four measures of one map against the original, in the order of sanity_file.h's PC_SIM_* (the
// /sanity layout), which also names them (pc_sim_names).
extern const char *const pc_sim_titles[PC_SIM_COUNT];   // "Spearman (abs)", ...

// scipy.stats.rankdata(x, method='average'): 1-based ranks, ties get the mean of their ranks.
void pc_rankdata(const double *x, size_t n, double *rank);

// scipy.stats.spearmanr(a, b)[0] (nan_policy='propagate'): the Pearson correlation of the average
// ranks (numpy.corrcoef, clipped to [-1, 1]); NaN when an input holds a NaN or is constant.
double pc_spearman(const double *a, const double *b, size_t n);

// skimage.metrics.structural_similarity(a, b, gaussian_weights=True, data_range=R) of two
// (h, w) images: Gaussian window sigma 1.5 truncated at 3.5 sigma (11 taps, scipy.ndimage
// 'reflect' borders), K1 0.01, K2 0.03, sample covariance; the mean of the SSIM map without its
// 5-pixel border. h, w >= 11.
double pc_ssim(const double *a, const double *b, int h, int w, double data_range);

// Length of skimage.feature.hog's feature vector (9 orientations, 3 x 3 cells per block).
size_t pc_hog_len(int h, int w, int pixels_per_cell);
// skimage.feature.hog(img, pixels_per_cell=(p, p)) of a float32 (h, w) image, as 0.19.3 computes
// it for float32 input: gradients in float32, orientation histograms in double with skimage's
// float32 cell accumulator, L2-Hys block normalisation in double, features rounded to float32.
// out (pc_hog_len).
void pc_hog(const float *img, int h, int w, int pixels_per_cell, double *out);

// The four measures of map against orig, both (s, s) float maps, as the notebook computes them.
// NaN entries for a measure that is undefined (a constant map, NaN values).
void pc_sanity_similarity(const float *orig, const float *map, int s, double out[PC_SIM_COUNT]);

#endif
