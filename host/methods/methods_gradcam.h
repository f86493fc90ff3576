// methods_gradcam.h: the gradient CAM methods of BASELINES.md B2 (methods_gradcam.c): the compute
// functions of their registry rows (methods.c).
#ifndef PC_METHODS_GRADCAM_H
#define PC_METHODS_GRADCAM_H

#include "methods.h"

int pc_method_gradcam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_gradcampp(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_smoothgradcampp(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_layercam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_zoomcam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);

#endif
