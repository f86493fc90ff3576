// sanity_file.h: the /sanity group of a result file (the cascading-randomisation sanity check of
// metrics/sanity.h), written into a finished file and read back to decide whether it is current.
// Layout (docs/measures.md "Sanity check", docs/output.md): /sanity/steps (T) str, methods (M) str,
// layer_index (T) i64, images (I) i64, class (I, T) i32, score (I, T) f32,
// maps/<id> (I, T, S, S) f16|f32 (absent with [output] maps = none),
// similarity/<measure>/<id> (I, T) f64 for the measures pc_sim_names; attributes seed,
// images_requested, randomisation ("cascading" | "independent"; none in files written before
// it: cascading), order, init, measures.
#ifndef PC_SANITY_FILE_H
#define PC_SANITY_FILE_H

#include <stdint.h>

#include "common.h"
#include "maps_format.h"

// The similarity measures, in the order of the computation (similarity.h) and of the group names
// under /sanity/similarity.
enum { PC_SIM_RANK_ABS = 0, PC_SIM_RANK, PC_SIM_SSIM, PC_SIM_HOG, PC_SIM_COUNT };
extern const char *const pc_sim_names[PC_SIM_COUNT];    // "spearman_abs", "spearman", "ssim", "hog"

// One check's results as /sanity stores them (I images, M methods, T steps, S x S maps).
typedef struct {
    int n_img, n_meth, n_steps, S;
    int want;                       // [sanity] images (n_img is fewer when fewer were readable)
    uint64_t seed;                  // [run] seed
    const char *const *steps;       // (T) the layer re-initialised at each step, "original" first
    const int64_t *layer_index;     // (T) its position among the Conv/Linear layers, -1 first
    const char *const *methods;     // (M) method ids
    const int64_t *images;          // (I) dataset index of each image
    const int *cls;                 // (I, T) class at each step
    const float *score;             // (I, T) its softmax score
    const float *maps;              // (M, I, T, S, S)
    const double *sim;              // (PC_SIM_COUNT, M, I, T)
    PcMapsFormat maps_format;       // [output] maps: f16, f32 or none (maps not stored)
    int independent;                // independent randomisation (metrics/sanity.h), 0 = cascading
} PcSanityRecord;

// Writes r as /sanity of the finished file path, replacing an older /sanity, into a copy renamed
// over it when complete (a kill while it is written leaves the file as it was). 0, -1 with err.
int pc_sanity_file_write(const char *path, const PcSanityRecord *r, PcError *err);

// 1 when path's /sanity was made with these settings: the same method ids in order, requested
// images, seed, map format and randomisation.
int pc_sanity_file_is_current(const char *path, const char *const *methods, int n_meth, int want, uint64_t seed,
                              PcMapsFormat fmt, int independent);

// The lines of a finished output that a check's journal key depends on ("output start_time = ...\n
// output config_key = <hash>\n"; malloc'd), or NULL when the file cannot be read.
char *pc_sanity_file_output_key(const char *path);

#endif
