// weights.h: opening a weights file, whatever its format: a torch.save checkpoint (pth.h) or a
// safetensors file (safetensors.h), told apart by their first bytes; the caller gets a state dict.
#ifndef PC_WEIGHTS_H
#define PC_WEIGHTS_H

#include "common.h"
#include "state_dict.h"

// Opens a weights file of either format, told apart by its first bytes: a torch.save checkpoint
// (.pth / .pt: the zip format of PyTorch >= 1.6 or the legacy format before it; pth.h) or else a
// safetensors file. What the caller gets is the same state dict.
int pc_weights_open(const char *path, PcStateDict *sd, PcError *err);

#endif
