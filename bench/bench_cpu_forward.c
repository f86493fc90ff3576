// bench_cpu_forward.c: CPU forward-pass speed. Hash-weight VGG16 and ResNet50 at batch 1 and 8,
// and the trained synth_vgg / synth_resnet (data/models) at batch 32, the batch the Poly-CAM
// engine pushes its masked inputs through. Prints a Markdown table of the median of a few runs
// (seconds per batch, ms per image, GFLOP/s) and the process CPU time per batch: on a shared
// machine GFLOP per CPU-second still measures the code when other jobs take cores away.
// Threads: PC_THREADS, else all cores.
//   usage: bench_cpu_forward [runs]
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"
#include "util.h"

typedef struct {
    PcBackend *be;
    BenchModel *m;
    const char *name;
    int n;
    float *logits;
} Pass;

static int forward(void *arg) {
    Pass *p = arg;
    PcError err = {{0}};
    int rc = p->be->forward(p->be, p->m->bn, p->m->x, p->n, p->logits, 0, NULL, NULL, &err);
    if (rc) fprintf(stderr, "%s: %s\n", p->name, err.msg);
    return rc;
}

// One table row per batch: median seconds of `runs` forward passes of `batch` images (after one
// warm-up).
static int bench(PcBackend *be, const char *name, const int *batches, int n_batches, int runs) {
    BenchModel m;
    if (bench_model_open(be, name, batches, n_batches, &m)) return -1;
    Pass p = {be, &m, name, 0, malloc((size_t)m.max_batch * m.net.n_classes * sizeof(float))};
    double gflop = pc_net_flops(&m.net) * 1e-9;
    for (int b = 0; b < n_batches; b++) {
        int n = p.n = batches[b];
        BenchTiming t = bench_median(forward, &p, runs);
        printf("| %s | %d | %.1f | %.4f | %.2f | %.1f | %.4f | %.1f |\n", name, n, gflop * n, t.wall, 1e3 * t.wall / n,
               gflop * n / t.wall, t.cpu, gflop * n / t.cpu);
        fflush(stdout);
    }
    free(p.logits);
    bench_model_close(be, &m);
    return 0;
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    if (runs < 1) runs = 1;
    PcBackend *be = bench_cpu_backend(1);   // PC_NO_DIRECT_CONV, as the program reads it
    if (!be) return 1;
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
