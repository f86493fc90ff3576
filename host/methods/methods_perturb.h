// methods_perturb.h: the forward-only perturbation baselines of BASELINES.md B5 (methods_perturb.c): RISE
// and Occlusion, and RISE's masks.
#ifndef PC_METHODS_PERTURB_H
#define PC_METHODS_PERTURB_H

#include "methods.h"

int pc_method_rise(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_occlusion(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);

// RISE mask geometry of an S x S input: cell = ceil(S / cells), up = (cells + 1) * cell (the side
// of the resized grid before the crop).
void pc_rise_geometry(int cells, int size, int *cell, int *up);
// The grids and offsets of masks first .. first + n - 1 of the run (from s->seed, rise_cells,
// rise_p): grid (n, cells, cells) 0/1 bytes, offsets (n, 2) (row, column) in [0, cell).
void pc_rise_draw(const PcMethodSettings *s, int size, int first, int n, unsigned char *grid, int *offsets);
// /methods/rise/masks/grid (N, cells, cells) u8 and /methods/rise/masks/offsets (N, 2) i32.
int pc_rise_run_data(const PcMethodSettings *s, int size, PcRunData *out);

#endif
