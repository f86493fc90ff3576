// util.c: see util.h.
#define _GNU_SOURCE
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hashweights.h"
#include "weights.h"
#include "safetensors.h"

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
    if (pc_fixture_arch_spec(name, &s, err) || pc_net_create(&s, net, err)) return -1;
    PcStateDict sd;
    int rc;
    if (strncmp(name, "synth_", 6) == 0 || strncmp(name, "tiny_", 5) == 0) {
        char path[512];
        snprintf(path, sizeof path, "%s/models/%s.safetensors", PC_DATA_DIR, name);
        rc = pc_safetensors_open(path, &sd, err);
    } else {
        // the README's default rules (the fixtures' rules differ only in the final layer's gain)
        rc = pc_hash_state_dict(net, 0, NULL, NULL, NULL, &sd, err);
    }
    if (rc == 0) {
        rc = pc_net_load(net, &sd, err);
        pc_state_dict_free(&sd);
    }
    if (rc) pc_net_free(net);
    return rc;
}
