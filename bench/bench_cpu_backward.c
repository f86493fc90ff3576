// bench_cpu_backward.c: CPU data-gradient speed (backend `backward`). Hash-weight VGG16 and ResNet50
// at batch 1 and 8, synth_vgg / synth_resnet at batch 32: seconds per batch of a forward pass, of
// a backward to the single-layer CAM target (features.29 / layer4: Grad-CAM's pass) and of a
// backward to the input (Input x Gradient, IG, SmoothGrad), medians of a few runs, with the
// process CPU time. Threads: PC_THREADS, else all cores.
//   usage: bench_cpu_backward [runs]
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"
#include "cpu_internal.h"
#include "util.h"

typedef struct {
    PcBackend *be;
    BenchModel *m;
    int n, kind, tap;
    float *logits, *gt, *gx;
    int *cls;
} Pass;

// kind 0: forward, 1: backward to the tap, 2: backward to the input
static int pass(void *arg) {
    Pass *p = arg;
    PcBackend *be = p->be;
    PcError err = {{0}};
    int rc = p->kind == 0   ? be->forward(be, p->m->bn, p->m->x, p->n, p->logits, 0, NULL, NULL, &err)
             : p->kind == 1 ? be->backward(be, p->m->bn, p->m->x, p->n, p->cls, p->logits, 1, &p->tap, NULL, &p->gt,
                                           NULL, &err)
                            : be->backward(be, p->m->bn, p->m->x, p->n, p->cls, p->logits, 0, NULL, NULL, NULL, p->gx,
                                           &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    return rc;
}

// Median wall and CPU seconds of `runs` passes of `kind` (after one warm-up).
static BenchTiming time_pass(PcBackend *be, BenchModel *m, int n, int kind, int tap, int runs) {
    const PcNet *net = &m->net;
    const PcNode *nd = &net->nodes[tap];
    Pass p = {be, m, n, kind, tap, malloc((size_t)n * net->n_classes * sizeof(float)),
              malloc((size_t)n * nd->c * nd->h * nd->w * sizeof(float)),
              malloc((size_t)n * 3 * net->in_h * net->in_w * sizeof(float)), calloc((size_t)n, sizeof(int))};
    BenchTiming out = bench_median(pass, &p, runs);
    free(p.logits), free(p.gt), free(p.gx), free(p.cls);
    return out;
}

static int bench(PcBackend *be, const char *name, const char *cam, const int *batches, int n_batches, int runs) {
    BenchModel m;
    if (bench_model_open(be, name, batches, n_batches, &m)) return -1;
    const PcNet *net = &m.net;
    int tap = pc_net_find(net, cam);
    if (tap < 0) {
        fprintf(stderr, "%s: no CAM layer\n", name);
        bench_model_close(be, &m);
        return -1;
    }
    printf("| %s | memory per image | | %.0f MB | %.0f MB | | |\n", name, cpu_backward_bytes_per_image(net, tap) / 1e6,
           cpu_backward_bytes_per_image(net, -1) / 1e6);
    for (int b = 0; b < n_batches; b++) {
        int n = batches[b];
        BenchTiming f = time_pass(be, &m, n, 0, tap, runs);
        BenchTiming g = time_pass(be, &m, n, 1, tap, runs);
        BenchTiming i = time_pass(be, &m, n, 2, tap, runs);
        printf("| %s | %d | %.3f | %.3f (%s) | %.3f | %.2f | %.3f / %.3f / %.3f |\n", name, n, f.wall, g.wall, cam, i.wall,
               i.wall / f.wall, f.cpu, g.cpu, i.cpu);
        fflush(stdout);
    }
    bench_model_close(be, &m);
    return 0;
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 3;
    if (runs < 1) runs = 1;
    PcBackend *be = bench_cpu_backend(0);
    if (!be) return 1;
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
