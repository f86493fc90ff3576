// device.c: picks a backend by name (device.h): "auto" tries CUDA, then falls back to the CPU;
// "cuda:K" is the CUDA backend on GPU ordinal K.
#include "device.h"

#include <stdlib.h>
#include <string.h>

#include "cpu_backend.h"
#include "cuda_backend.h"

PcBackend *pc_backend_create(const char *device, const PcBackendOptions *opt, PcError *err) {
    if (!device || !strcmp(device, "auto")) {
        PcError ignored;
        PcBackend *be = pc_backend_cuda_compiled() ? pc_backend_cuda_create(opt, &ignored) : NULL;
        return be ? be : pc_backend_cpu_create(opt, err);
    }
    if (!strcmp(device, "cpu")) return pc_backend_cpu_create(opt, err);
    if (!strcmp(device, "cuda")) return pc_backend_cuda_create(opt, err);
    if (!strncmp(device, "cuda:", 5) && device[5] >= '0' && device[5] <= '9') {   // cuda:K, GPU ordinal K
        PcBackendOptions o = opt ? *opt : (PcBackendOptions){0};
        o.device = atoi(device + 5);
        return pc_backend_cuda_create(&o, err);
    }
    pc_fail(err, "unknown device '%s' (expected auto, cpu, cuda or cuda:K)", device);
    return NULL;
}
