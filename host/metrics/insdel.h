// insdel.h: insertion / deletion faithfulness curves (SPEC §8).
#ifndef PC_INSDEL_H
#define PC_INSDEL_H

#include "backend.h"

typedef enum { PC_BASE_BLUR = 0, PC_BASE_GREY, PC_BASE_ZERO } PcBaselineKind;

typedef struct {
    int steps;                  // n (224)
    PcBaselineKind baseline;    // blur (default)
    int blur_kernel;            // 11
    float blur_sigma;           // 5
    int batch;                  // samples per forward pass
} PcInsDelOptions;

// steps 224, blur baseline 11 x 11 sigma 5, batch 32. bn must be prepared for opt->batch images.
void pc_insdel_default_options(PcInsDelOptions *opt);

// Scores per step and AUC for one map: map_host (mh, mw) must be S x S (the engine hands back
// every map at the input size). ins_scores / del_scores (steps) may be NULL to skip that curve.
// x_host (3, S, S) normalised. *forward_passes (may be NULL) is increased by the number of images
// evaluated. When the backend runs out of memory the curve is run again with half the batch,
// down to 1 (then an error).
int pc_insertion_deletion(PcBackend *be, PcBackendNet *bn, const PcNet *net, const float *x_host,
                          const float *map_host, int mh, int mw, int cls,
                          const PcInsDelOptions *opt, float *ins_scores, double *ins_auc,
                          float *del_scores, double *del_auc, long *forward_passes, PcError *err);

// Per-image state for evaluating many maps of one image (the CLI evaluates ~20 per image): X and
// the baseline stay on the backend, with the order, sample, logit and score buffers. The baseline
// (blur by default) is computed once, in init.
typedef struct {
    PcBackend *be;
    int size;                   // S
    int n_classes;
    PcInsDelOptions opt;        // opt.batch: halved after running out of memory
    float *x;                   // (3, S, S) backend
    float *base;                // (3, S, S) backend
    float *map;                 // (S, S) backend
    int *order;                 // (S*S) backend
    float *samples;             // (batch, 3, S, S) backend
    float *logits;              // (batch, n_classes) backend
    float *scores;              // (steps) backend
    float *scores_host;         // (steps)
} PcInsDelContext;

// Uploads X, computes the baseline B of SPEC §8 (blur(X), grey ((0.5 - mean) / std per channel)
// or zero) and sizes the buffers for net (fewer samples per pass when memory is short).
int pc_insdel_context_init(PcBackend *be, const PcNet *net, const float *x_host,
                           const PcInsDelOptions *opt, PcInsDelContext *ctx, PcError *err);
// Same as pc_insertion_deletion for one map of the context's image.
int pc_insdel_context_eval(PcInsDelContext *ctx, PcBackendNet *bn, const float *map_host, int mh,
                           int mw, int cls, float *ins_scores, double *ins_auc, float *del_scores,
                           double *del_auc, long *forward_passes, PcError *err);
void pc_insdel_context_free(PcInsDelContext *ctx);

#endif
