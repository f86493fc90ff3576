// gpu_quant.h: what bench_gpu needs for the 8-bit precisions and the whole-paper projection:
// calibration + net_set_quant of an fp8 / int8 net, the nodes that fell back to fp16, and the
// forward-pass equivalents per image of the shipped paper configurations (host/app/cost.h).
#ifndef PC_BENCH_GPU_QUANT_H
#define PC_BENCH_GPU_QUANT_H

#include "backend.h"
#include "model.h"

// fp8 / int8: per-conv input scales s_x = amax / QMAX over an unquantised forward of the n images
// d_x (the run's calibration as quant_scheme.h defines it, clip 1, from these images), then
// net_set_quant. Other precisions: nothing. *n8 = the 8-bit convs. 0, or -1 with err.
int bench_quant_setup(PcBackend *be, PcBackendNet *bn, const PcNet *net, const float *d_x, int n, PcPrecision prec,
                      int *n8, PcError *err);
// The 8-bit convs that run as fp16 for want of a cuDNN engine (after a forward); -1 when unknown
// (a build without CUDA).
int bench_quant_fallbacks(const PcBackendNet *bn);

// Forward-pass equivalents per image of configs/<name>.ini on net (its layer list, methods,
// curves; sensitivity-max multiplies the maps' cost by 1 + samples). 0, or -1 with err.
int bench_paper_passes(const char *name, const PcNet *net, double *passes, PcError *err);

#endif
