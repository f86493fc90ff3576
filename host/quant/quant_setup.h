// quant_setup.h: the 8-bit precisions in a run: the scales (stored or calibrated) handed to the
// backend, and the accuracy guard against an fp32 reference.
#ifndef PC_QUANT_SETUP_H
#define PC_QUANT_SETUP_H

#include "backend.h"
#include "dataset.h"
#include "layout.h"
#include "quant_plan.h"
#include "store.h"            // PcStoreMode

// One image's results (maps, curves, AUCs: what the run stores) computed on backend be / net bn:
// run.c's process_image on another backend, for the guard.
typedef void (*PcQuantImageFn)(void *user, PcBackend *be, PcBackendNet *bn, const PcPrefetchItem *item,
                               PcImageResult *res);

typedef struct {
    PcDatasetSpec list;             // the run's list, root, offset and limit (calibration ignores the shard)
    PcResizeMode resize;            // [preprocess]
    int size;                       // S
    int decoders;                   // [run] decoders
    const char *output;             // the run's output file
    const char *device;             // [run] device: where the guard's fp32 reference runs
    PcPrecision precision;          // [run] precision (fp8 | int8)
    const PcPrecisionSettings *ps;  // [precision]
    const PcDataset *ds;            // this process's images (the guard's are its first ones)
    const PcNet *net;
    PcBackend *be;                  // the run's backend (8-bit precision) and prepared net
    PcBackendNet *bn;
    PcBackendNet *bn_class;         // the net that predicts the run's class: bn, or with [precision]
                                    //   apply = maps the unquantised curves' net of be
    const PcBackendOptions *bopt;   // its options: the guard's fp32 reference copies them
    int max_batch;                  // what bn was prepared for
    const PcStoreLayout *layout;    // the stored results' shape (methods, size, steps)
    PcQuantImageFn image;
    void *user;
    PcStoreMode mode;               // --force: stored scales are not reused
    const char *key;                // the run's configuration key without [quant]
} PcQuantEnv;

// The plan, its scales (read back from the output's journal or finished file when that run had
// this configuration, else calibrated on the first [precision] calibration_images images of the
// list) handed to env->bn (net_set_quant), and the one line saying so on stderr. *finished = 1 when
// the output is a finished file (nothing to compute: no guard needed). 0, -1 with err, or 1 when a
// stop signal (stop.h) ended the calibration (err says so; nothing written).
int pc_quant_setup(const PcQuantEnv *env, PcQuantPlan *plan, int *finished, PcError *err);

// The accuracy guard: the first guard_images images of env->ds computed as the run computes them
// (8-bit) and on an fp32 reference (a second backend of env->bopt's device with precision fp32),
// compared: the predicted class of each image, |AUC(8-bit) - AUC(fp32)| of every method and curve.
// Within the limits: the figures go into plan (stored in /quant) and one line to stderr; else -1
// with one line naming the figures, the limits and the remedies (nothing has been written yet);
// 1 when a stop signal (stop.h) ended it between two images (err says so).
int pc_quant_guard(const PcQuantEnv *env, PcQuantPlan *plan, PcError *err);

#endif
