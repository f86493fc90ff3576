// device.h: the backend factory. It sits above both backends (host/cpu/, cuda/ or, in builds
// without CUDA, the stand-in cuda_unavailable.c), which only know the interface (backend.h).
#ifndef PC_DEVICE_H
#define PC_DEVICE_H

#include "backend.h"

// "auto" | "cpu" | "cuda" | "cuda:K" (GPU ordinal K, in place of opt->device)
PcBackend *pc_backend_create(const char *device, const PcBackendOptions *opt, PcError *err);

#endif
