// image_step.h: one image of a run: its class, every method's map (the Poly-CAM family's from one
// pc_explain, every other registry method through its own compute function), and each map's
// localisation, perturbation metrics, insertion / deletion curves and sensitivity, into the
// PcImageResult the store writes. The backend and nets it computes on are an argument: the run
// passes its own, the 8-bit accuracy guard its fp32 reference (quant_setup.h).
#ifndef PC_IMAGE_STEP_H
#define PC_IMAGE_STEP_H

#include "dataset.h"
#include "insdel.h"
#include "layout.h"
#include "methods.h"
#include "metric_perturb.h"
#include "polycam_ids.h"
#include "saliency.h"
#include "sensitivity.h"

// The methods of a run, one entry per stored method id, in the table's order (layout.h).
typedef struct {
    int n;
    char (*ids)[PC_METHOD_ID_LEN];          // (n) as stored
    const PcMethodDesc **desc;              // (n) the registry row of each (ext:NAME: the "ext:" row)
    const PcPolycamRef *pcam;               // (n) the Poly-CAM part, for the family's rows
    void *const *state;                     // (n) per-run state (PcMethodDesc open), NULL for most
    int any_polycam;                        // one of them is of the Poly-CAM family: pc_explain runs
} PcRunMethods;

// What an image is computed with.
typedef struct {
    PcBackend *be;
    PcBackendNet *bn;                       // the maps' passes
    PcBackendNet *bn_curves;                // [precision] apply = maps: the unquantised net of the
                                            //   class and the curves (NULL: bn for everything)
    int sensitivity;                        // compute sensitivity-max (and avg-sensitivity)
} PcStepCompute;

// The run's settings and data for every image.
typedef struct {
    const PcNet *net;
    const PcTargets *tg;                    // Poly-CAM's target layers
    const PcSaliencyOptions *sopt;
    const PcMethodSettings *mset;
    const PcRunMethods *methods;
    const PcDataset *ds;
    int class_label;                        // [saliency] class = label
    int insertion, deletion;
    const PcInsDelOptions *insdel;
    const PcPerturbOptions *pert;           // [metrics] road, flip, region, adcc
    const PcRobustness *rob;                // samples and radius of sensitivity-max
    const PcStoreLayout *layout;
} PcStepEnv;

// The results of image item into res (reset first); what failed is in res->status, as the store
// keeps it (layout.h: pc_status_usable).
void pc_image_step(const PcStepEnv *env, const PcStepCompute *c, const PcPrefetchItem *item, PcImageResult *res);

#endif
