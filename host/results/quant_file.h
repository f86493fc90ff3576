// quant_file.h: what an 8-bit run stores (the plan of quant/quant_plan.h) and where.
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
#ifndef PC_QUANT_FILE_H
#define PC_QUANT_FILE_H

#include <hdf5.h>

#include "common.h"
#include "quant_scheme.h"

// The 8-bit plan of a run (built by quant_plan.h's pc_quant_plan, calibrated in a run, read back
// from /quant by a merge). amax, q and from_file live only in a run; the rest is stored.
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
void pc_quant_plan_free(PcQuantPlan *plan);

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

#endif
