// backend.c: the backend options that come from the environment (backend.h), and their lines in
// the configuration key.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

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
