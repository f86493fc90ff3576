// util.c: see util.h.
#define _GNU_SOURCE
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hashweights.h"
#include "weights.h"

int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int bench_net(const char *name, PcNet *net, PcError *err) {
    PcArchSpec s;
    if (strcmp(name, "synth_vgg") == 0) {
        static const int cfg[] = {16, 16, 0, 32, 32, 0, 64, 64, 0, 64, 64, 0, 64, 64, 0};
        if (pc_arch_from_name("vgg", &s, err)) return -1;
        s.n_vgg_cfg = (int)(sizeof cfg / sizeof cfg[0]);
        memcpy(s.vgg_cfg, cfg, sizeof cfg);
        s.n_vgg_hidden = 2, s.vgg_hidden[0] = s.vgg_hidden[1] = 128;
        s.n_classes = 4;
    } else if (strcmp(name, "synth_resnet") == 0) {
        if (pc_arch_from_name("resnet", &s, err)) return -1;
        s.resnet_bottleneck = 1, s.resnet_stem = 16, s.n_stages = 4;
        int planes[] = {8, 16, 32, 32}, blocks[] = {1, 2, 1, 1}, stride[] = {1, 2, 2, 2};
        for (int i = 0; i < 4; i++)
            s.stage_planes[i] = planes[i], s.stage_blocks[i] = blocks[i], s.stage_stride[i] = stride[i];
        s.n_classes = 4;
    } else if (pc_arch_from_name(name, &s, err)) {
        return -1;
    }
    if (pc_net_create(&s, net, err)) return -1;
    PcStateDict sd;
    int rc;
    if (strncmp(name, "synth_", 6) == 0) {
        char path[512];
        snprintf(path, sizeof path, "%s/models/%s.safetensors", PC_DATA_DIR, name);
        rc = pc_safetensors_open(path, &sd, err);
    } else {
        rc = pc_hash_state_dict(net, 0, NULL, NULL, NULL, &sd, err);
    }
    if (rc == 0) rc = pc_net_load(net, &sd, err);
    pc_state_dict_free(&sd);
    if (rc) pc_net_free(net);
    return rc;
}
