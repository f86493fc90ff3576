// backend.c: picks a backend by name ("auto" tries CUDA, then falls back to the CPU; "cuda:K" is
// the CUDA backend on GPU ordinal K), and the backend options that come from the environment.
#include <stdio.h>
#include <stdlib.h>
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
    if (!strncmp(device, "cuda:", 5) && device[5] >= '0' && device[5] <= '9') {   // cuda:K, GPU ordinal K
        PcBackendOptions o = opt ? *opt : (PcBackendOptions){0};
        o.device = atoi(device + 5);
        return pc_backend_cuda_create(&o, err);
    }
    pc_fail(err, "unknown device '%s' (expected auto, cpu, cuda or cuda:K)", device);
    return NULL;
}

static int env_on(const char *name) {
    const char *v = getenv(name);
    return v && v[0] && strcmp(v, "0") != 0;
}

void pc_backend_options_from_env(PcBackendOptions *opt) {
    opt->no_direct_conv = env_on("PC_NO_DIRECT_CONV");
    opt->cuda_no_fusion = env_on("PC_CUDA_NOFUSE");
    opt->cudnn_find = env_on("PC_CUDNN_FIND");
    opt->cudnn_tune = env_on("PC_CUDNN_TUNE");
}

void pc_backend_options_key(const PcBackendOptions *opt, char *buf, size_t n) {
    const struct {
        const char *var;
        int on;
    } sw[] = {{"PC_NO_DIRECT_CONV", opt->no_direct_conv}, {"PC_CUDA_NOFUSE", opt->cuda_no_fusion},
              {"PC_CUDNN_FIND", opt->cudnn_find}, {"PC_CUDNN_TUNE", opt->cudnn_tune}};
    size_t used = 0;
    if (n) buf[0] = 0;
    for (size_t i = 0; i < sizeof sw / sizeof sw[0]; i++)
        if (sw[i].on && used < n) used += (size_t)snprintf(buf + used, n - used, "%s = 1\n", sw[i].var);
}
