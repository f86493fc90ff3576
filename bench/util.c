// util.c: see util.h.
#define _GNU_SOURCE
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu_backend.h"
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

int bench_model_open(PcBackend *be, const char *name, const int *batches, int n_batches, BenchModel *m) {
    PcError err = {{0}};
    memset(m, 0, sizeof *m);
    if (bench_net(name, &m->net, &err)) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return -1;
    }
    for (int b = 0; b < n_batches; b++) m->max_batch = batches[b] > m->max_batch ? batches[b] : m->max_batch;
    m->bn = be->net_prepare(be, &m->net, m->max_batch, &err);
    if (!m->bn) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        pc_net_free(&m->net);
        return -1;
    }
    const size_t n = (size_t)m->max_batch * 3 * m->net.in_h * m->net.in_w;
    m->x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) m->x[i] = 2.0f * pc_hash_uniform("bench_input", (uint32_t)i);
    return 0;
}

void bench_model_close(PcBackend *be, BenchModel *m) {
    free(m->x);
    be->net_release(be, m->bn);
    pc_net_free(&m->net);
    memset(m, 0, sizeof *m);
}

PcBackend *bench_cpu_backend(int from_env) {
    PcError err = {{0}};
    PcBackendOptions opt = {.precision = PC_PREC_FP32};
    if (from_env) pc_backend_options_from_env(&opt);
    PcBackend *be = pc_backend_cpu_create(&opt, &err);
    if (!be) fprintf(stderr, "%s\n", err.msg);
    return be;
}

BenchTiming bench_median(int (*fn)(void *arg), void *arg, int runs) {
    double *t = calloc((size_t)runs, sizeof(double)), *c = calloc((size_t)runs, sizeof(double));
    fn(arg);   // warm-up
    for (int r = 0; r < runs; r++) {
        double t0 = pc_now(), c0 = bench_cpu_seconds();
        if (fn(arg)) break;
        t[r] = pc_now() - t0;
        c[r] = bench_cpu_seconds() - c0;
    }
    qsort(t, (size_t)runs, sizeof(double), bench_cmp_double);
    qsort(c, (size_t)runs, sizeof(double), bench_cmp_double);
    BenchTiming out = {t[runs / 2], c[runs / 2]};
    free(t);
    free(c);
    return out;
}
