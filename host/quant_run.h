// quant_run.h: the run's side of the 8-bit precisions (quant.h has the scheme): which convs run
// in 8 bits (eligibility and [precision] keep), the calibration of their input scales, the scales'
// place in the configuration key and the result file, and the accuracy guard against fp32.
//
// Where the scales live: the configuration key of an 8-bit run ends with a [quant] section,
//     [quant]
//     format = fp8
//     calibration_images = 16
//     layer1.0.conv1 = 0.0123456791      (one line per 8-bit conv: its input scale s_x, %.9g,
//     ...                                 which reads back as the same float)
// so the journal header and the finished file's config_key hold them: a resume reads them back
// (pc_quant_stored_key + pc_quant_from_key) instead of calibrating again, a resume or merge with
// other scales is refused naming the first differing layer, and the file's /quant (below) is
// their readable copy:
//   /quant/layers (n) str        the 8-bit convs (their weight names), in network order
//   /quant/nodes (n) i32         their node indices
//   /quant/in_scale (n) f32      s_x of each one's input
//   /quant attributes: format ("fp8" | "int8"), clip, calibration_images, and the guard's figures
//   guard_images, guard_class_agreement, guard_mean_dauc, guard_max_dauc, guard_pairs (AUC pairs
//   compared), guard_limit_dauc, guard_limit_agreement (guard_images 0: no guard ran), and
//   fallback_convs, fallback_layers: the 8-bit convs the device ran in 16 bits (-1: not known).
#ifndef PC_QUANT_RUN_H
#define PC_QUANT_RUN_H

#include <hdf5.h>

#include "backend.h"
#include "config.h"
#include "dataset.h"
#include "method_config.h"
#include "quant.h"
#include "store.h"            // PcStoreMode, layout.h

typedef struct {
    PcQuantFormat format;
    double clip;
    int calibration_images;     // images the scales were calibrated on
    int n;                      // 8-bit convs
    int *node;                  // (n) node index
    char (*layer)[64];          // (n) the conv's weight name ("features.2", "layer1.0.conv1")
    float *amax;                // (n) largest |x| of its input seen in calibration
    float *in_scale;            // (n) s_x
    PcQuant q;                  // the per-node form for net_set_quant (q.in_scale (n_nodes))
    int from_file;              // the scales were read back from the result file / journal
    // the accuracy guard (pc_quant_guard_*), 0 images = not run
    int guard_images, guard_pairs;
    double guard_agreement, guard_mean_dauc, guard_max_dauc;
    double guard_limit_dauc, guard_limit_agreement;
    // 8-bit convs that ran in 16 bits on the run's device (backend.h net_quant_fallbacks, asked
    // after the guard's 8-bit images): -1 = not known (no guard ran); their weight names, ", "-joined
    int fallback_convs;
    char fallback_layers[512];
} PcQuantPlan;

const char *pc_quant_format_name(PcQuantFormat f);   // "fp8", "int8"

// The 8-bit convs of net: pc_quant_eligible and not in ps->keep. A keep name that is not one of
// the net's 8-bit-eligible convs is an error naming them. Scales zero until calibrated.
int pc_quant_plan(const PcNet *net, PcPrecision prec, const PcPrecisionSettings *ps, PcQuantPlan *plan,
                  PcError *err);
void pc_quant_plan_free(PcQuantPlan *plan);

// Calibration: the unquantised forward (be/bn without scales) of n images x (n, 3, S, S) (backend
// memory), taps at every 8-bit conv's input; amax[i] = max(amax[i], max |tap|). Call for each
// batch of calibration images, then pc_quant_calibrated.
int pc_quant_observe(PcQuantPlan *plan, PcBackend *be, PcBackendNet *bn, const PcNet *net, const float *x, int n,
                     PcError *err);
// s_x = clip * amax / QMAX (1 when amax / QMAX is not pc_quant_scale_ok: amax 0, tiny or inf; a
// subnormal s_x from a tiny clip stays, for the caller to refuse), the per-node form filled in.
void pc_quant_calibrated(PcQuantPlan *plan, int n_images);

// The [quant] section of the configuration key (malloc'd, starts with "\n[quant]\n").
char *pc_quant_key_text(const PcQuantPlan *plan);
// Reads the scales from the [quant] section of a stored configuration key: 1 when it holds the
// plan's format and exactly its layers (scales set, from_file = 1), 0 when it does not.
int pc_quant_from_key(PcQuantPlan *plan, const char *key);
// The stored fingerprint of an output, when one exists: the finished file's config_key, else the
// journal header's key (malloc'd; NULL when there is none or it cannot be read). *finished = 1
// when it came from a finished file.
char *pc_quant_stored_key(const char *output, int *finished);

// A merge's fallbacks from its n shards' plans, into out: fallback_layers the union of their convs
// (each once, in order of appearance; ", ..." when 512 bytes do not hold them); fallback_convs its
// size when every shard knows its own, else -1 (not known: a shard that ran no guard may have had
// fallbacks, and another shard's 0 does not say otherwise), fallback_layers then naming the known
// ones and ending "not known for k of n shards (no guard ran)". A shard whose own list was cut
// (its count stays exact) makes the size at least its count.
void pc_quant_pool_fallbacks(const PcQuantPlan *const *shards, int n, PcQuantPlan *out);

// /quant of the result file (PcStoreMeta.write_extra; extra = the plan).
int pc_quant_write_h5(hid_t file, const void *plan, PcError *err);
// Reads /quant back (scales and guard figures); 0 when the file has none, 1 when read.
int pc_quant_read_h5(hid_t file, PcQuantPlan *plan);

// ---- in a run (quant_setup.c) -------------------------------------------------------------------

// One image's results (maps, curves, AUCs: what the run stores) computed on backend be / net bn:
// run.c's process_image on another backend, for the guard.
typedef void (*PcQuantImageFn)(void *user, PcBackend *be, PcBackendNet *bn, const PcPrefetchItem *item,
                               PcImageResult *res);

typedef struct {
    const PcConfig *cfg;            // list, offset, limit, resize, size, decoders, output, device
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
