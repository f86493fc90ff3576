// weights.h: a read-only state dict (torchvision tensor names -> typed data) loaded from a
// safetensors file or a torch.save checkpoint (pth.h), or generated in memory by the fixtures' hash
// rule (tests/hashweights.h).
#ifndef PC_WEIGHTS_H
#define PC_WEIGHTS_H

#include <stdint.h>

#include "common.h"

typedef enum { PC_DT_F32 = 0, PC_DT_F16, PC_DT_BF16, PC_DT_I64 } PcDtype;

#define PC_MAX_DIMS 8

typedef struct {
    char *name;                     // e.g. "features.0.weight", "layer1.0.downsample.1.running_var"
    PcDtype dtype;
    int ndim;
    int64_t shape[PC_MAX_DIMS];
    int64_t numel;
    const void *data;               // little-endian, contiguous, PyTorch order; points into the map
} PcTensor;

typedef struct {
    char *path;                     // source file, or "<hash>" for generated weights
    int n;
    PcTensor *tensors;
    void *map;                      // mmap of the file (NULL for generated dicts)
    size_t map_size;
    float *owned;                   // arena of generated values (NULL for files)
} PcStateDict;

// Opens a weights file of either format, told apart by its first bytes: a torch.save checkpoint
// (.pth / .pt: the zip format of PyTorch >= 1.6 or the legacy format before it; pth.h) or else a
// safetensors file. What the caller gets is the same state dict.
int pc_weights_open(const char *path, PcStateDict *sd, PcError *err);

// Opens a safetensors file (8-byte little-endian header length, JSON header, data). Every offset is
// checked against the file size; dtypes F32/F16/BF16/I64 are accepted, any other is an error
// naming the tensor. Data stays in the mapping (no copy).
int pc_safetensors_open(const char *path, PcStateDict *sd, PcError *err);

// Writes a state dict to a safetensors file (tests use it to craft bad files; tools to convert).
int pc_safetensors_write(const char *path, const PcStateDict *sd, PcError *err);

const PcTensor *pc_state_dict_get(const PcStateDict *sd, const char *name);
void pc_state_dict_free(PcStateDict *sd);

// Converts element i of a floating tensor to float (F32/F16/BF16).
float pc_tensor_get_f32(const PcTensor *t, int64_t i);

const char *pc_dtype_name(PcDtype dt);

#endif
