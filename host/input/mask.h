// mask.h: ground-truth object masks for the localisation measures of SPEC §10 ([data] masks): one
// PNG per image, brought to the network input's S x S grid by the image's own geometry.
#ifndef PC_MASK_H
#define PC_MASK_H

#include "image.h"

// The mask file of list entry `name` in folder dir: dir/<name without its extension>.png, else
// dir/<base name without extension>.png (as labels match a full or a base name); malloc'd path, or
// NULL when neither exists.
char *pc_mask_find(const char *dir, const char *name);

// Reads a PNG mask (any colour type and bit depth: grey after libpng's conversions, alpha
// stripped; a pixel is object when its grey value is not 0) of the same width and height as the
// image it belongs to (image_w x image_h), and resamples it to (S, S) with the image's resize mode:
// the 0/1 mask goes through pc_image_to_tensor's interpolation and a pixel of the result is object
// when its value is >= 0.5 (a mask at the input size comes through unchanged). out: (S*S) 0/1.
int pc_mask_load(const char *path, int image_w, int image_h, PcResizeMode mode, int size, unsigned char *out,
                 PcError *err);

#endif
