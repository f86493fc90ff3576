// describe.h: the self-describing attributes of a run (results/description.h: what they are and
// where they are stored), built from its configuration and the method registry.
#ifndef PC_DESCRIBE_H
#define PC_DESCRIBE_H

#include "config.h"
#include "description.h"
#include "methods.h"

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

#endif
