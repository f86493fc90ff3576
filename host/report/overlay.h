// overlay.h: PNG heat-map overlays (libpng): a saliency map in a jet-like colour map blended
// over the network's input image, for looking at a few results by eye.
#ifndef PC_OVERLAY_H
#define PC_OVERLAY_H

#include "common.h"

// x (3, S, S) ImageNet-normalised input, map (S, S) any range (scaled to its min..max).
// Writes an S x S RGB PNG. Fails cleanly when built without libpng.
int pc_overlay_write_png(const char *path, const float *x, const float *map, int size, PcError *err);

#endif
