// methods_scorecam.h: the Score-CAM family of BASELINES.md B3 (methods_scorecam.c): the compute functions of
// its registry rows.
#ifndef PC_METHODS_SCORECAM_H
#define PC_METHODS_SCORECAM_H

#include "methods.h"

int pc_method_scorecam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_sscam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_iscam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);

#endif
