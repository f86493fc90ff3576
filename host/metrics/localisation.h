// localisation.h: the localisation measures of SPEC §10: how much of a saliency map falls on the
// object's ground-truth mask (input/mask.h reads the masks).
//
// Beside them (docs/metrics-localisation-randomisation.md):
//   pointing game with a tolerance (Zhang et al. 2018, "Top-down neural attention by excitation
//   backprop", as TorchRay 6a198ee's PointingGame.evaluate computes it): the point is the first
//   row-major maximum of the map (torch.argmax); a hit when some object pixel (r, c) lies at
//   (r - r0)^2 + (c - c0)^2 < tol^2 (strictly, TorchRay's acceptance disk). tol = 0 is SPEC §10's
//   exact rule: the object pixel under the point.
//
//   relevance rank accuracy (Arras et al. 2022, CLEVR-XAI; Quantus 0.6.0 RelevanceRankAccuracy):
//   with K = |mask|, the fraction of the K highest-ranked pixels that lie in the mask; ties are
//   ranked by ascending row-major index (SPEC §8's order; Quantus's np.argsort quicksort leaves a
//   tie across the K-th place to chance). NaN for an empty mask, as Quantus.
//
// Relevance mass accuracy (Quantus RelevanceMassAccuracy, sum(S G) / sum(S)) is SPEC §10's energy
// in mask (pc_energy_in_mask), which the fixtures check against Quantus.
#ifndef PC_LOCALISATION_H
#define PC_LOCALISATION_H

// Energy of saliency s (S*S) inside mask g: sum(s*g)/sum(s), 0 when sum(s) == 0.
double pc_energy_in_mask(const float *s, const unsigned char *g, int n);
// g at the first row-major position of max(s).
int pc_pointing_hit(const float *s, const unsigned char *g, int n);

// The localisation of one S x S map (SPEC §10): energy in mask and pointing hit; a map
// with a NaN (the libraries' constant-map case) gets energy NaN and hit -1 (not computed).
void pc_localise(const float *map, const unsigned char *mask, int n, double *energy, int *hit);

// [data] pointing_tolerance's default: TorchRay's 15 pixels.
#define PC_POINTING_TOLERANCE 15

// 1 hit, 0 miss for map s (S*S) and mask g (S*S).
int pc_pointing_hit_tol(const float *s, const unsigned char *g, int S, int tol);

// Rank accuracy of map s (n) against mask g (n); NaN for an empty mask.
double pc_rank_accuracy(const float *s, const unsigned char *g, int n);

// Both for one map; a map with a NaN gets hit -1 and rank NaN (not computed), as pc_localise does.
void pc_localise_more(const float *map, const unsigned char *mask, int S, int tol, int *hit_tol, double *rank);

#endif
