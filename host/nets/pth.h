// pth.h: reader of PyTorch checkpoints (.pth / .pt) as written by torch.save since PyTorch 1.6: a
// zip archive (read with libzip) holding <name>/data.pkl, the pickled state dict, and one entry
// <name>/data/<key> per tensor storage; and of the legacy format before it (pickles, then the
// storages' raw bytes) of older checkpoints, e.g. torchvision downloads from PyTorch 0.x days.
// The pickle is read by a strict interpreter of the opcodes torch.save emits (protocol 2) that
// builds values only: a whitelist of callables (collections.OrderedDict,
// torch._utils._rebuild_tensor(_v2) / _rebuild_parameter and the torch.*Storage classes) is
// recognised by name, nothing is ever imported or executed.
#ifndef PC_PTH_H
#define PC_PTH_H

#include <stddef.h>

#include "common.h"
#include "state_dict.h"

// What the first bytes of a file (n of them, 16 suffice) look like: 1 a zip archive or a pickle
// (legacy torch.save files), for pc_pth_open; -1 a safetensors header; 0 neither.
int pc_pth_sniff(const unsigned char *head, size_t n);

// Opens a torch.save checkpoint holding a state dict ({name: tensor}, an OrderedDict). Float32,
// float16 and bfloat16 storages become F32 tensors, int64 storages I64 tensors (batch norm's
// num_batches_tracked); storage offsets and strides are honoured (every tensor is copied out
// contiguous into sd->owned). Memory is bounded by a small multiple of the file size whatever the
// file claims. Errors are one line naming the file: a bare pickle, a TorchScript archive, an
// unknown opcode, class or storage type, a truncated or corrupt archive.
int pc_pth_open(const char *path, PcStateDict *sd, PcError *err);

#endif
