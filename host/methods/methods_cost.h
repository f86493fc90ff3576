// methods_cost.h: forward-pass equivalents per image of each registry method's map (methods_cost.c),
// for the cost line of a run and --check.
#ifndef PC_METHODS_COST_H
#define PC_METHODS_COST_H

#include "methods.h"

// In forward-pass equivalents.
// A backward pass costs about twice a forward pass (two convolutions per forward one: data
// gradient and, in cuDNN's and our CPU kernel, the same FLOPs); heads-only backwards are counted
// as full ones, so these are upper bounds.
#define PC_COST_BACKWARD 2.0
double pc_cost_one_backward(const PcNet *net, const PcMethodSettings *s);
double pc_cost_smoothgradcampp(const PcNet *net, const PcMethodSettings *s);
double pc_cost_ig(const PcNet *net, const PcMethodSettings *s);
double pc_cost_smoothgrad(const PcNet *net, const PcMethodSettings *s);
double pc_cost_scorecam(const PcNet *net, const PcMethodSettings *s);
double pc_cost_sscam(const PcNet *net, const PcMethodSettings *s);
double pc_cost_iscam(const PcNet *net, const PcMethodSettings *s);
double pc_cost_rise(const PcNet *net, const PcMethodSettings *s);
double pc_cost_occlusion(const PcNet *net, const PcMethodSettings *s);

#endif
