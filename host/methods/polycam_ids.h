// polycam_ids.h: the method ids of the Poly-CAM family (methods.h: the registry's rows pcamp,
// pcamm, pcampm) and what each one is in the engine's output: the variant's map, a level of its
// recursion, an isolated layer CAM or the map without LNorm. All of them come from one
// pc_explain per image (saliency.h), so the registry's compute function of this family is the
// pick below, not a pass of its own.
//   <variant>                  S_1, the final map                 (Table 1)
//   <variant>.level.<layer>    S_l at target layer l               (Tables 2 and 3)
//   <variant>.cam.<layer>      C_l alone, brought to S x S          (Tables 2 and 3)
//   <variant>.no_lnorm         S_1 of the recursion without LNorm  (Tables 2 and 3)
#ifndef PC_POLYCAM_IDS_H
#define PC_POLYCAM_IDS_H

#include "safe_text.h"   // PC_METHOD_ID_LEN
#include "saliency.h"

typedef enum { PC_PCAM_MAP = 0, PC_PCAM_LEVEL, PC_PCAM_CAM, PC_PCAM_NO_LNORM } PcPolycamPart;

typedef struct {
    int variant;            // PC_VARIANT_*
    PcPolycamPart part;
    int layer;              // LEVEL: index in the targets; CAM: index in the CAM layers
} PcPolycamRef;

// Most ids one run holds: per variant its map, a level and a CAM per layer, the no-LNorm map.
#define PC_POLYCAM_MAX_IDS (PC_N_VARIANTS * (2 + 2 * PC_MAX_TARGETS))

// The ids of a run in the table's order: the variants' maps (variants[v] set), then per variant
// its levels (levels set; the target layers tg, earliest first), its isolated CAMs (cams set;
// the CAM layers cam_tg) and its no-LNorm map (no_lnorm set). Returns their count.
int pc_polycam_ids(const int variants[PC_N_VARIANTS], int levels, int cams, int no_lnorm, const PcTargets *tg,
                   const PcTargets *cam_tg, PcPolycamRef *refs, char (*ids)[PC_METHOD_ID_LEN]);

// The S x S map of ref in e (the engine hands back every map at the input size).
const float *pc_polycam_pick(const PcExplanation *e, const PcPolycamRef *ref);

// The part of an id of this family ("pcamp.cam.layer3" -> PC_PCAM_CAM, *layer "layer3"), its
// variant in *variant; -1 when id is not one of the family's.
int pc_polycam_parse(const char *id, int *variant, const char **layer);

#endif
