// cuda_backend.h: the entry points of the CUDA backend, in C (cuda/cuda_backend.cu; in builds
// without nvcc/cuDNN, host/device/cuda_unavailable.c stands in for them).
#ifndef PC_CUDA_BACKEND_H
#define PC_CUDA_BACKEND_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

// Creates the CUDA backend; returns NULL with err set when not compiled in or no device.
PcBackend *pc_backend_cuda_create(const PcBackendOptions *opt, PcError *err);
// 1 when the CUDA backend was compiled into this binary.
int pc_backend_cuda_compiled(void);

#ifdef __cplusplus
}
#endif

#endif
