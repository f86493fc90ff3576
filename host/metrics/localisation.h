// localisation.h: the localisation measures of SPEC §10: how much of a saliency map falls on the
// object's ground-truth mask (input/mask.h reads the masks).
#ifndef PC_LOCALISATION_H
#define PC_LOCALISATION_H

// Energy of saliency s (S*S) inside mask g: sum(s*g)/sum(s), 0 when sum(s) == 0.
double pc_energy_in_mask(const float *s, const unsigned char *g, int n);
// g at the first row-major position of max(s).
int pc_pointing_hit(const float *s, const unsigned char *g, int n);

// The localisation of one S x S map (SPEC §10): energy in mask and pointing hit; a map
// with a NaN (the libraries' constant-map case) gets energy NaN and hit -1 (not computed).
void pc_localise(const float *map, const unsigned char *mask, int n, double *energy, int *hit);

#endif
