// metric_perturb.h: the perturbation metrics researchers run in Quantus, pytorch-grad-cam and
// torchcam, on any S x S map, with the perturbed inputs built by backend ops in batches
// (docs/metrics.md has the definitions, parameters, oracles and the deviations from the libraries):
//   * ROAD (Rong et al. 2022): noisy linear imputation of the k = int(S^2 p / 100) most (MoRF) or
//     least (LeRF) relevant pixels at each percentage p; the class score and whether the class is
//     still the top-1 after each imputation;
//   * pixel flipping (Bach et al. 2015): the class score as the pixels are replaced by a baseline,
//     `flip_pixels` per step, most (MoRF) or least (LeRF) relevant first; AUC = trapezoid / (T - 1);
//   * region perturbation (Samek et al. 2017): patches of side `region_patch` by the sum of the map
//     over them, replaced one per step; curve f_c(X) - f_c(X_k), AOPC = sum / (steps + 1);
//   * Average Drop, Increase in Confidence (Chattopadhay et al. 2018) and Average Gain (Zhang et al.
//     2023) from O = f_c(X * E), E the map min-max normalised, and Y = f_c(X).
// Every order is the stable one of SPEC §8 (ties by ascending pixel / patch index).
#ifndef PC_METRIC_PERTURB_H
#define PC_METRIC_PERTURB_H

#include <stdint.h>

#include "backend.h"

#define PC_ROAD_MAX 32

// Baselines of pixel flipping and region perturbation: black = the smallest value of X (Quantus's
// "black"), mean = the mean of every value of X, blur = SPEC §8's blur of X, uniform = uniform noise
// over the pixel range, normalised (Philox stream PC_STREAM_PERTURB_BASE, metric_math.h).
typedef enum { PC_PB_BLACK = 0, PC_PB_MEAN, PC_PB_BLUR, PC_PB_UNIFORM } PcPerturbBaseline;
extern const char *const pc_perturb_baseline_names[4];   // "black", "mean", "blur", "uniform"

typedef struct {
    int road;                       // ROAD on
    int road_n;                     // percentages (<= PC_ROAD_MAX)
    float road_pct[PC_ROAD_MAX];    // 10, 20, ..., 90
    float road_noise;               // 0.01
    int flip;                       // pixel flipping on
    int flip_pixels;                // pixels per step (224: 224 steps on 224 x 224)
    PcPerturbBaseline flip_base;
    int region;                     // region perturbation on
    int region_patch;               // patch side (16)
    int region_steps;               // patches replaced, one per step (100; at most the patch count)
    PcPerturbBaseline region_base;
    int adcc;                       // Average Drop / Increase in Confidence / Average Gain on
    int batch;                      // inputs per forward pass
    uint64_t seed;                  // the run's seed (Philox key)
} PcPerturbOptions;

// Everything off; the parameters at their defaults (above), batch 32, seed 0.
void pc_perturb_default_options(PcPerturbOptions *opt);
// 1 when any perturbation metric is on.
int pc_perturb_any(const PcPerturbOptions *opt);
// Steps of the curves for an S x S input: ceil(S^2 / flip_pixels), min(region_steps, patches).
int pc_perturb_flip_steps(const PcPerturbOptions *opt, int size);
int pc_perturb_region_steps(const PcPerturbOptions *opt, int size);

// One map's results; flip / region curves are caller-owned arrays of the steps above (NULL to skip
// storing them). Index [0] MoRF, [1] LeRF.
typedef struct {
    float road_score[2][PC_ROAD_MAX];   // f_c after the imputation at each percentage
    int road_top1[2][PC_ROAD_MAX];      // 1 when c is still the arg max of the logits
    float *flip[2];                     // (flip steps) f_c after each step
    double flip_auc[2];
    float *region[2];                   // (region steps) f_c(X) - f_c(X_k)
    double region_aopc[2];
    float masked_score;                 // O = f_c(X * E)
    double drop, gain;                  // max(0, Y - O) / Y, max(0, O - Y) / (1 - Y)
    int increase;                       // O > Y
} PcPerturbResult;

// Per-image state: X, the baseline and the buffers on the backend, the clean logits.
typedef struct {
    PcBackend *be;
    int size, n_classes;
    uint32_t image;             // list position (Philox)
    PcPerturbOptions opt;       // opt.batch: halved after running out of memory
    float *x, *base, *map;      // (3, S, S), (3, S, S), (S, S) backend
    int *order;                 // (S*S) backend
    int *rank;                  // (patches) backend
    float *samples;             // (batch, 3, S, S) backend
    float *logits, *scores;     // (batch, K), (batch) backend
    float *logits_host;         // (batch, K)
    float *clean_logits;        // (K) host: the logits of X
    float x_min, x_mean;        // the black and mean baselines' values
    int base_kind;              // the PcPerturbBaseline in base, -1 = none yet
} PcPerturbContext;

// Uploads X, builds the baseline and runs X once (its logits). 0, or -1 with err.
int pc_perturb_context_init(PcBackend *be, PcBackendNet *bn, const PcNet *net, const float *x_host, uint32_t image,
                            const PcPerturbOptions *opt, PcPerturbContext *ctx, PcError *err);
// Every enabled metric of one S x S map for class cls into res. *forward_passes (may be NULL) is
// increased by the inputs evaluated. 0, or -1 with err.
int pc_perturb_eval(PcPerturbContext *ctx, PcBackendNet *bn, const float *map_host, int cls, PcPerturbResult *res,
                    long *forward_passes, PcError *err);
void pc_perturb_context_free(PcPerturbContext *ctx);

#endif
