// metrics.h: insertion / deletion faithfulness curves (SPEC §8) and the localisation measures on
// synthetic data (SPEC §10).
#ifndef PC_METRICS_H
#define PC_METRICS_H

#include "backend.h"

typedef enum { PC_BASE_BLUR = 0, PC_BASE_GREY, PC_BASE_ZERO } PcBaselineKind;

typedef struct {
    int steps;                  // n (224)
    PcBaselineKind baseline;    // blur (default)
    int blur_kernel;            // 11
    float blur_sigma;           // 5
    int batch;                  // samples per forward pass
} PcInsDelOptions;

void pc_insdel_default_options(PcInsDelOptions *opt);

// Scores per step and AUC for one map (map_host (mh, mw), resized with up() when not S x S).
// ins_scores / del_scores (steps) may be NULL to skip that curve. x_host (3, S, S) normalised.
// *forward_passes (may be NULL) is increased by the number of images evaluated.
int pc_insertion_deletion(PcBackend *be, PcBackendNet *bn, const PcNet *net, const float *x_host,
                          const float *map_host, int mh, int mw, int cls,
                          const PcInsDelOptions *opt, float *ins_scores, double *ins_auc,
                          float *del_scores, double *del_auc, long *forward_passes, PcError *err);

// Energy of saliency s (S*S) inside mask g: sum(s*g)/sum(s), 0 when sum(s) == 0.
double pc_energy_in_mask(const float *s, const unsigned char *g, int n);
// g at the first row-major position of max(s).
int pc_pointing_hit(const float *s, const unsigned char *g, int n);

#endif
