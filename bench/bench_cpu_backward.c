// bench_cpu_backward.c: CPU data-gradient speed (backend `backward`). Hash-weight VGG16 and ResNet50
// at batch 1 and 8, synth_vgg / synth_resnet at batch 32: seconds per batch of a forward pass, of
// a backward to the single-layer CAM target (features.29 / layer4: Grad-CAM's pass) and of a
// backward to the input (Input x Gradient, IG, SmoothGrad), medians of a few runs, with the
// process CPU time. Threads: PC_THREADS, else all cores.
//   usage: bench_cpu_backward [runs]
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "cpu_internal.h"
#include "hashweights.h"
#include "util.h"
#include "cpu_backend.h"

typedef struct {
    double wall, cpu;
} Timing;

// Median wall and CPU seconds of `runs` calls of kind 0 (forward), 1 (backward to tap), 2 (to input).
static Timing time_pass(PcBackend *be, PcBackendNet *bn, const PcNet *net, const float *x, int n, int kind, int tap,
                        int runs) {
    PcError err = {{0}};
    float *logits = malloc((size_t)n * net->n_classes * sizeof(float));
    const PcNode *nd = &net->nodes[tap];
    float *gt = malloc((size_t)n * nd->c * nd->h * nd->w * sizeof(float));
    float *gx = malloc((size_t)n * 3 * net->in_h * net->in_w * sizeof(float));
    int *cls = calloc((size_t)n, sizeof(int));
    double *t = calloc((size_t)runs + 1, sizeof(double)), *c = calloc((size_t)runs + 1, sizeof(double));
    for (int r = 0; r <= runs; r++) {   // run 0: warm-up
        double t0 = pc_now(), c0 = bench_cpu_seconds();
        int rc = kind == 0   ? be->forward(be, bn, x, n, logits, 0, NULL, NULL, &err)
                 : kind == 1 ? be->backward(be, bn, x, n, cls, logits, 1, &tap, NULL, &gt, NULL, &err)
                             : be->backward(be, bn, x, n, cls, logits, 0, NULL, NULL, NULL, gx, &err);
        if (rc) fprintf(stderr, "%s\n", err.msg);
        t[r] = pc_now() - t0, c[r] = bench_cpu_seconds() - c0;
    }
    qsort(t + 1, (size_t)runs, sizeof(double), bench_cmp_double);
    qsort(c + 1, (size_t)runs, sizeof(double), bench_cmp_double);
    Timing out = {t[1 + runs / 2], c[1 + runs / 2]};
    free(logits), free(gt), free(gx), free(cls), free(t), free(c);
    return out;
}

static int bench(PcBackend *be, const char *name, const char *cam, const int *batches, int n_batches, int runs) {
    PcError err = {{0}};
    PcNet net;
    if (bench_net(name, &net, &err)) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return -1;
    }
    int max_batch = 0;
    for (int b = 0; b < n_batches; b++) max_batch = batches[b] > max_batch ? batches[b] : max_batch;
    PcBackendNet *bn = be->net_prepare(be, &net, max_batch, &err);
    int tap = pc_net_find(&net, cam);
    if (!bn || tap < 0) {
        fprintf(stderr, "%s: %s\n", name, bn ? "no CAM layer" : err.msg);
        pc_net_free(&net);
        return -1;
    }
    size_t img = (size_t)3 * net.in_h * net.in_w;
    float *x = malloc((size_t)max_batch * img * sizeof(float));
    for (size_t i = 0; i < (size_t)max_batch * img; i++) x[i] = 2.0f * pc_hash_uniform("bench_input", (uint32_t)i);
    printf("| %s | memory per image | | %.0f MB | %.0f MB | | |\n", name,
           cpu_backward_bytes_per_image(&net, tap) / 1e6, cpu_backward_bytes_per_image(&net, -1) / 1e6);
    for (int b = 0; b < n_batches; b++) {
        int n = batches[b];
        Timing f = time_pass(be, bn, &net, x, n, 0, tap, runs);
        Timing g = time_pass(be, bn, &net, x, n, 1, tap, runs);
        Timing i = time_pass(be, bn, &net, x, n, 2, tap, runs);
        printf("| %s | %d | %.3f | %.3f (%s) | %.3f | %.2f | %.3f / %.3f / %.3f |\n", name, n, f.wall, g.wall, cam, i.wall,
               i.wall / f.wall, f.cpu, g.cpu, i.cpu);
        fflush(stdout);
    }
    free(x);
    be->net_release(be, bn);
    pc_net_free(&net);
    return 0;
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 3;
    if (runs < 1) runs = 1;
    PcError err = {{0}};
    PcBackendOptions opt = {.precision = PC_PREC_FP32};
    PcBackend *be = pc_backend_cpu_create(&opt, &err);
    if (!be) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("CPU data gradients, %s, median of %d runs (seconds per batch)\n\n", be->device_name, runs);
    printf("| model | batch | forward | backward to CAM layer | backward to input | input / forward | CPU s f / cam / input |\n");
    printf("|---|---|---|---|---|---|---|\n");
    const int big[] = {1, 8}, synth[] = {32};
    bench(be, "vgg16", "features.29", big, 2, runs);
    bench(be, "resnet50", "layer4", big, 2, runs);
    bench(be, "synth_vgg", "features.23", synth, 1, runs);
    bench(be, "synth_resnet", "layer4", synth, 1, runs);
    printf("\nOpenBLAS core: %s\n", openblas_get_corename());
    be->destroy(be);
    return 0;
}
