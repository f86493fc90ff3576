// methods_attrib.h: the input-gradient attributions of BASELINES.md B4 (methods_attrib.c): the compute
// functions of their registry rows and the Gauss-Legendre rule of Integrated Gradients.
#ifndef PC_METHODS_ATTRIB_H
#define PC_METHODS_ATTRIB_H

#include "methods.h"

int pc_method_ixg(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_ig(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_smoothgrad(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);

// Gauss-Legendre nodes t (ascending, in (-1, 1)) and weights w of n points, double precision,
// as numpy.polynomial.legendre.leggauss (Newton iteration on P_n).
void pc_gauss_legendre(int n, double *t, double *w);

#endif
