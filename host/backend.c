// backend.c: picks a backend by name ("auto" tries CUDA, then falls back to the CPU).
#include <string.h>

#include "backend.h"

PcBackend *pc_backend_create(const char *device, const PcBackendOptions *opt, PcError *err) {
    if (!device || !strcmp(device, "auto")) {
        PcError ignored;
        PcBackend *be = pc_backend_cuda_compiled() ? pc_backend_cuda_create(opt, &ignored) : NULL;
        return be ? be : pc_backend_cpu_create(opt, err);
    }
    if (!strcmp(device, "cpu")) return pc_backend_cpu_create(opt, err);
    if (!strcmp(device, "cuda")) return pc_backend_cuda_create(opt, err);
    pc_fail(err, "unknown device '%s' (expected auto, cpu or cuda)", device);
    return NULL;
}
