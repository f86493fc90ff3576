// classify.h: the class an image is explained for, and its score, without the Poly-CAM engine: one
// forward pass (the run without a Poly-CAM id, [precision] apply = maps, the sanity check's steps).
#ifndef PC_CLASSIFY_H
#define PC_CLASSIFY_H

#include "backend.h"

// x (3, size, size) host, normalised. cls < 0: the predicted class, the first maximum of the
// logits (as pc_explain); else that class. *cls_out gets it, *score its softmax probability
// (softmax_gather on the backend). 0, or -1 with err (the forward's error, or no backend memory).
int pc_classify(PcBackend *be, PcBackendNet *bn, const PcNet *net, const float *x, int size, int cls, int *cls_out,
                float *score, PcError *err);

#endif
