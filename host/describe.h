// describe.h: what a result file says about itself (docs/output.md), as attributes beside the
// datasets (none of which it changes):
//   /methods/<id>                      description: what the map is ("Grad-CAM as torchcam c85232b
//                                      GradCAM, [cam] layer = features.29"), from the method's
//                                      registry row (methods.c: title, source, settings) and the
//                                      run's values of those settings
//   /methods/<id>/insertion, deletion  higher_is_better (1 insertion, 0 deletion), auc_rule, steps,
//                                      pixels_per_step, baseline ("gaussian blur 11x11, sigma 5,
//                                      reflect"), order
//   /                                  class_source (the explained class: top-1 prediction or
//                                      label), preprocessing
// Written when the file is created (layout.c); a merge copies them from its first shard.
#ifndef PC_DESCRIBE_H
#define PC_DESCRIBE_H

#include <hdf5.h>

#include "config.h"
#include "layout.h"
#include "methods.h"

#define PC_DESCRIPTION_LEN 1024

typedef struct PcDescription {
    char class_source[256];
    char preprocessing[512];
    int n_methods;                          // the layout's, in its order
    char (*method)[PC_DESCRIPTION_LEN];     // (n_methods)
    int steps;                              // T
    long pixels_per_step;                   // ceil(S * S / T)
    char auc_rule[256];
    char baseline[256];
    char order[256];
} PcDescription;

// The resolved layer lists the descriptions name where a setting is empty (the arch's default).
enum { PC_DESC_MODEL_LAYERS = 0, PC_DESC_CAM_LAYERS, PC_DESC_CAM_LAYER, PC_DESC_LAYERCAM, PC_DESC_ZOOMCAM,
       PC_DESC_N_LISTS };
typedef struct {
    const char (*names[PC_DESC_N_LISTS])[64];   // [model] layers, [saliency] cam_layers, [cam] layer,
    int n[PC_DESC_N_LISTS];                     // [layercam] layers, [zoomcam] layers; n 0 = unknown
} PcDescribeLayers;

// The root and curve attributes of a run of cfg, with room for n_methods descriptions (empty).
void pc_describe_init(PcDescription *d, const PcConfig *cfg, int n_methods);
// The descriptions of the n method ids (d->n_methods of them): each from its registry row (an
// ablation id <variant>.level.<layer> / .cam.<layer> / .no_lnorm: its variant's row) with the
// values of its settings in cfg, and for an ablation id what part of the variant it is.
void pc_describe_methods(PcDescription *d, char (*ids)[PC_METHOD_ID_LEN], const PcConfig *cfg,
                         const PcDescribeLayers *layers);
void pc_describe_free(PcDescription *d);

// Writes the attributes into a result file being created with layout l; 0, or -1 with err.
int pc_describe_write(hid_t file, const char *path, const PcStoreLayout *l, const PcDescription *d, PcError *err);
// Reads them back from a result file (merge: the first shard's); 1 when the file has them, else 0
// (an older file: nothing to copy).
int pc_describe_read(hid_t file, const PcStoreLayout *l, PcDescription *out);

#endif
