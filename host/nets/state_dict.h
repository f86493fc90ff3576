// state_dict.h: a read-only state dict (torchvision tensor names -> typed data), as the weight
// readers produce it: a safetensors file (safetensors.h), a torch.save checkpoint (pth.h), or the
// fixtures' hash rule (tests/lib/hashweights.h) in memory.
#ifndef PC_STATE_DICT_H
#define PC_STATE_DICT_H

#include <stddef.h>
#include <stdint.h>

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

const PcTensor *pc_state_dict_get(const PcStateDict *sd, const char *name);
void pc_state_dict_free(PcStateDict *sd);

// Converts element i of a floating tensor to float (F32/F16/BF16).
float pc_tensor_get_f32(const PcTensor *t, int64_t i);

const char *pc_dtype_name(PcDtype dt);

#endif
