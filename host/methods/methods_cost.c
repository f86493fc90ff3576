// methods_cost.c: forward-pass equivalents per image of each registry method's map (methods.h),
// for the projected run time a run prints at its start (cost.h) and for README's cost column.
// BASELINES.md B8 lists the same counts for VGG16.
#include "methods.h"
#include "index_math.h"
#include "methods_cost.h"

// gradcam, gradcampp, layercam, zoomcam, ixg: one forward pass and one backward pass.
double pc_cost_one_backward(const PcNet *net, const PcMethodSettings *s) {
    (void)net;
    (void)s;
    return 1.0 + PC_COST_BACKWARD;
}

// The clean pass plus one forward and backward per noisy sample.
double pc_cost_smoothgradcampp(const PcNet *net, const PcMethodSettings *s) {
    (void)net;
    return 1.0 + s->sgcampp_samples * (1.0 + PC_COST_BACKWARD);
}

double pc_cost_ig(const PcNet *net, const PcMethodSettings *s) {
    (void)net;
    return s->ig_steps * (1.0 + PC_COST_BACKWARD);
}

double pc_cost_smoothgrad(const PcNet *net, const PcMethodSettings *s) {
    (void)net;
    return s->smoothgrad_samples * (1.0 + PC_COST_BACKWARD);
}

// Channels of the [cam] layer: one masked pass each (BASELINES.md B3).
static double cam_channels(const PcNet *net, const PcMethodSettings *s) {
    return s->cam.n > 0 ? (double)net->nodes[s->cam.nodes[s->cam.n - 1]].c : 0.0;
}

// The clean pass (its activations), then one masked pass per channel (per sample / step).
double pc_cost_scorecam(const PcNet *net, const PcMethodSettings *s) { return 1.0 + cam_channels(net, s); }
double pc_cost_sscam(const PcNet *net, const PcMethodSettings *s) {
    return 1.0 + s->sscam_samples * cam_channels(net, s);
}
double pc_cost_iscam(const PcNet *net, const PcMethodSettings *s) {
    return 1.0 + s->iscam_samples * cam_channels(net, s);
}

double pc_cost_rise(const PcNet *net, const PcMethodSettings *s) {
    (void)net;
    return s->rise_masks;
}

// The clean pass and one per window position: captum's ceil((S - W) / stride) + 1 per side.
double pc_cost_occlusion(const PcNet *net, const PcMethodSettings *s) {
    const double per_side = pc_occlusion_positions(net->spec.in_size, s->occ_window, s->occ_stride);
    return 1.0 + per_side * per_side;
}
