// saliency.h: the Poly-CAM engine (SPEC §4, §6, §7), written once against the backend interface.
// One set of masked passes per image gives PCAM+, PCAM- and PCAM+-, each with its final map,
// every level, the isolated layer CAMs and the no-LNorm ablation.
#ifndef PC_SALIENCY_H
#define PC_SALIENCY_H

#include "backend.h"

#define PC_MAX_TARGETS 8
enum { PC_VARIANT_PLUS = 0, PC_VARIANT_MINUS = 1, PC_VARIANT_PM = 2, PC_N_VARIANTS = 3 };
extern const char *const pc_variant_ids[PC_N_VARIANTS];   // "pcamp", "pcamm", "pcampm"

typedef struct {
    int batch;                  // masked inputs per forward pass
    PcLnormMode lnorm;          // code (default) | paper
    PcNormFormula norm;         // code (divide by hi, default) | paper (hi - lo)
    int want_levels;            // keep S_l of every level
    int want_cams;              // keep the isolated C_l
    int want_no_lnorm;          // compute the no-LNorm ablation map
    // Layers of the isolated CAMs (want_cams), earliest first; NULL = the targets. A layer that is
    // not a target gets its own masked passes (in the same tapped forward pass and loop as the
    // targets'); a layer that is one (same node) is computed once for both.
    const struct PcTargets *cam_targets;
} PcSaliencyOptions;

typedef struct PcTargets {
    int n_targets;
    char names[PC_MAX_TARGETS][64];
    int nodes[PC_MAX_TARGETS];  // node index in the net
    int c[PC_MAX_TARGETS], h[PC_MAX_TARGETS], w[PC_MAX_TARGETS];
} PcTargets;

// Host-side results of one image. Arrays are allocated by pc_explain, freed by
// pc_explanation_free. Maps are (S, S) with S the input side (224).
typedef struct {
    int size;                           // S
    int n_classes;
    float *logits;                      // (n_classes)
    int cls;                            // explained class
    float score;                        // s0 = f_c(X)
    int n_targets;
    float *weights[PC_N_VARIANTS][PC_MAX_TARGETS];   // (C_l) channel weights
    float *s_plus[PC_MAX_TARGETS];                   // (C_l), 0 for skipped channels
    float *s_minus[PC_MAX_TARGETS];                  // (C_l), s0 for skipped channels
    float *map[PC_N_VARIANTS];                       // (S, S) = S_1
    float *levels[PC_N_VARIANTS];                    // (L, S, S): S_1 ... S_L (finest first), or NULL
    int n_cams;                                      // isolated CAMs: opt->cam_targets' count (or n_targets)
    float *cams[PC_N_VARIANTS][PC_MAX_TARGETS];      // (S, S) isolated up(C_l, S, S) of cam layer l, or NULL
    float *map_no_lnorm[PC_N_VARIANTS];              // (S, S) or NULL
    long forward_passes;                             // images pushed through the network
    int batch;                                       // masked images per pass used (opt->batch,
                                                     //   halved after running out of memory)
    int live_channels;                               // channels with a non-zero activation (every
                                                     //   layer with masked passes)
    double seconds_forward;                          // phase timings (wall clock, synchronised):
    double seconds_masked;                           //   first forward, masked passes,
    double seconds_maps;                             //   CAMs + recursion + levels
} PcExplanation;

// Defaults: batch 32 (16 channels' plus and minus images per forward pass), code LNorm and
// normalisation, levels, isolated CAMs and the no-LNorm map all kept.
void pc_saliency_default_options(PcSaliencyOptions *opt);

// Resolves layer names (or the arch default when n_names == 0) to nodes and shapes.
int pc_targets_resolve(const PcNet *net, int n_names, char names[][64], PcTargets *t, PcError *err);

// Channels whose masked passes pc_explain runs per image and per mask sign (upper bound: dead
// channels are skipped): those of the targets and of the CAM layers (cams, NULL = none) that are
// not targets. The cost of a run (cost.c) counts them.
long pc_engine_channels(const PcTargets *tg, const PcTargets *cams);

// Explains one image. x_host (3, S, S) normalised input; cls < 0 = argmax of the logits.
// bn must have been prepared for at least opt->batch images (and at least 1). When the backend
// runs out of memory, the image is explained again with half the batch, down to 1 (then an error).
int pc_explain(PcBackend *be, PcBackendNet *bn, const PcNet *net, const PcTargets *targets,
               const float *x_host, int cls, const PcSaliencyOptions *opt, PcExplanation *out,
               PcError *err);
void pc_explanation_free(PcExplanation *e);

#endif
