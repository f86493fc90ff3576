// bench_cpu_forward.c: CPU forward-pass speed. Hash-weight VGG16 and ResNet50 at batch 1 and 8,
// and the trained synth_vgg / synth_resnet (data/models) at batch 32, the batch the Poly-CAM
// engine pushes its masked inputs through. Prints a Markdown table of the median of a few runs
// (seconds per batch, ms per image, GFLOP/s) and the process CPU time per batch: on a shared
// machine GFLOP per CPU-second still measures the code when other jobs take cores away.
// Threads: PC_THREADS, else all cores.
//   usage: bench_cpu_forward [runs]
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "hashweights.h"
#include "util.h"
#include "cpu_backend.h"

// One table row: median seconds of `runs` forward passes of `batch` images (after one warm-up).
static int bench(PcBackend *be, const char *name, const int *batches, int n_batches, int runs) {
    PcError err = {{0}};
    PcNet net;
    if (bench_net(name, &net, &err)) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return -1;
    }
    int max_batch = 0;
    for (int b = 0; b < n_batches; b++) max_batch = batches[b] > max_batch ? batches[b] : max_batch;
    PcBackendNet *bn = be->net_prepare(be, &net, max_batch, &err);
    if (!bn) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        pc_net_free(&net);
        return -1;
    }
    size_t img = (size_t)3 * net.in_h * net.in_w;
    float *x = malloc((size_t)max_batch * img * sizeof(float));
    for (size_t i = 0; i < (size_t)max_batch * img; i++) x[i] = 2.0f * pc_hash_uniform("bench_input", (uint32_t)i);
    float *logits = malloc((size_t)max_batch * net.n_classes * sizeof(float));
    double gflop = pc_net_flops(&net) * 1e-9;
    for (int b = 0; b < n_batches; b++) {
        int n = batches[b];
        double *t = calloc((size_t)runs, sizeof(double)), *c = calloc((size_t)runs, sizeof(double));
        be->forward(be, bn, x, n, logits, 0, NULL, NULL, &err);   // warm-up: page faults, caches
        for (int r = 0; r < runs; r++) {
            double t0 = pc_now(), c0 = bench_cpu_seconds();
            if (be->forward(be, bn, x, n, logits, 0, NULL, NULL, &err)) {
                fprintf(stderr, "%s: %s\n", name, err.msg);
                break;
            }
            t[r] = pc_now() - t0;
            c[r] = bench_cpu_seconds() - c0;
        }
        qsort(t, (size_t)runs, sizeof(double), bench_cmp_double);
        qsort(c, (size_t)runs, sizeof(double), bench_cmp_double);
        double med = t[runs / 2], cmed = c[runs / 2];
        printf("| %s | %d | %.1f | %.4f | %.2f | %.1f | %.4f | %.1f |\n", name, n, gflop * n, med, 1e3 * med / n,
               gflop * n / med, cmed, gflop * n / cmed);
        fflush(stdout);
        free(t);
        free(c);
    }
    free(x);
    free(logits);
    be->net_release(be, bn);
    pc_net_free(&net);
    return 0;
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    if (runs < 1) runs = 1;
    PcError err = {{0}};
    PcBackendOptions opt = {.precision = PC_PREC_FP32};
    pc_backend_options_from_env(&opt);   // PC_NO_DIRECT_CONV, as the program reads it
    PcBackend *be = pc_backend_cpu_create(&opt, &err);
    if (!be) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("CPU forward pass, %s, median of %d runs\n\n", be->device_name, runs);
    printf("| model | batch | GFLOP | s / batch | ms / image | GFLOP/s | CPU s / batch | GFLOP / CPU s |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    const int big[] = {1, 8}, synth[] = {32};
    bench(be, "vgg16", big, 2, runs);
    bench(be, "resnet50", big, 2, runs);
    bench(be, "synth_vgg", synth, 1, runs);
    bench(be, "synth_resnet", synth, 1, runs);
    printf("\nOpenBLAS core: %s\n", openblas_get_corename());
    be->destroy(be);
    return 0;
}
