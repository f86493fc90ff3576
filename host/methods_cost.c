// methods_cost.c: forward-pass equivalents per image of each registry method's map (methods.h),
// for the projected run time a run prints at its start (cost.h) and for README's cost column.
// BASELINES.md B8 lists the same counts for VGG16.
#include "methods.h"

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
