// quant_plan.h: the run's side of the 8-bit precisions (quant_scheme.h has the scheme): which convs
// run in 8 bits (eligibility and [precision] keep), the calibration of their input scales and the
// scales' place in the configuration key (quant_file.h: the plan as stored; quant_setup.h: in a
// run, with the accuracy guard).
#ifndef PC_QUANT_PLAN_H
#define PC_QUANT_PLAN_H

#include "backend.h"
#include "quant_file.h"

// [precision]: the 8-bit precisions' calibration and accuracy guard (quant_scheme.h, docs/precisions.md: 8-bit
// precisions). Read in every precision; used when [run] precision is fp8 or int8.
#define PC_MAX_KEEP 128
typedef struct {
    int calibration_images;         // 16: the first N images of the list (after offset and limit)
    double clip;                    // 1.0, in (0, 1]: s_x = clip * amax / QMAX
    int n_keep;                     // conv layers kept in 16 bits (names checked against the net
    char keep[PC_MAX_KEEP][64];     //   by pc_quant_plan)
    char keep_origin[256];          // where keep was set: "x.ini:12", "--set ...", "default"
    int guard_images;               // 8, 0 = no guard
    double guard_max_dauc;          // 0.005: largest mean |dAUC| the guard lets pass
    double guard_min_agreement;     // 0.75: smallest fraction of images keeping the fp32 class
    int apply_maps;                 // apply = maps: only the maps' passes in 8 bits; the class and the
                                    //   curves on an unquantised net (fp16 CUDA, fp32 CPU); 0 = all
} PcPrecisionSettings;

// The 8-bit convs of net: pc_quant_eligible and not in ps->keep. A keep name that is not one of
// the net's 8-bit-eligible convs is an error naming them. Scales zero until calibrated.
int pc_quant_plan(const PcNet *net, PcPrecision prec, const PcPrecisionSettings *ps, PcQuantPlan *plan,
                  PcError *err);

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
#endif
