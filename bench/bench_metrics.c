// bench_metrics.c: seconds per map of each perturbation metric (host/metric_perturb.h) on the CPU
// backend, on the input and map of tests/fixtures/metrics_perturb.h5 (<model>/synth_000.jpg),
// with the parameters bench/metrics_vs_libraries.sh gives Quantus and pytorch-grad-cam:
//   bench_metrics MODEL [REPEATS]
// prints one line per metric: "metric <name> <seconds per map> <forward passes>".
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "common.h"
#include "cpu_backend.h"
#include "metric_perturb.h"
#include "util.h"

static float *read_f32(hid_t f, const char *name, size_t n) {
    float *v = xmalloc(n * sizeof *v);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0 || H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        fprintf(stderr, "bench_metrics: cannot read %s\n", name);
        exit(1);
    }
    H5Dclose(d);
    return v;
}

int main(int argc, char **argv) {
    const char *model = argc > 1 ? argv[1] : "synth_resnet";
    const int repeats = argc > 2 ? atoi(argv[2]) : 1;
    PcError err = {{0}};
    PcNet net;
    if (bench_net(model, &net, &err)) return fprintf(stderr, "bench_metrics: %s\n", err.msg), 1;
    hid_t f = H5Fopen(PC_FIXTURES_DIR "/metrics_perturb.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return fprintf(stderr, "bench_metrics: no tests/fixtures/metrics_perturb.h5\n"), 1;
    char name[256];
    snprintf(name, sizeof name, "%s/synth_000.jpg/input", model);
    float *x = read_f32(f, name, 3 * 224 * 224);
    snprintf(name, sizeof name, "%s/synth_000.jpg/map", model);
    float *map = read_f32(f, name, 224 * 224);
    H5Fclose(f);
    PcBackendOptions bo = {.precision = PC_PREC_FP32};
    PcBackend *be = pc_backend_cpu_create(&bo, &err);
    PcBackendNet *bn = be ? be->net_prepare(be, &net, 32, &err) : NULL;
    if (!bn) return fprintf(stderr, "bench_metrics: %s\n", err.msg), 1;
    // the parameters of the library runs (metrics_vs_libraries.sh): ROAD 9 percentages; pixel
    // flipping 224 pixels per step (224 steps), black; region perturbation patch 16, 100 steps,
    // black; AD / IC / AG
    const char *names[4] = {"road", "flip", "region", "adcc"};
    for (int k = 0; k < 4; k++) {
        PcPerturbOptions o;
        pc_perturb_default_options(&o);
        o.road = k == 0, o.flip = k == 1, o.region = k == 2, o.adcc = k == 3;
        o.region_base = PC_PB_BLACK;
        PcPerturbContext ctx;
        if (pc_perturb_context_init(be, bn, &net, x, 0, &o, &ctx, &err))
            return fprintf(stderr, "bench_metrics: %s\n", err.msg), 1;
        float curves[4 * 1024];
        PcPerturbResult res;
        memset(&res, 0, sizeof res);
        res.flip[0] = curves, res.flip[1] = curves + 1024, res.region[0] = curves + 2048, res.region[1] = curves + 3072;
        long passes = 0;
        double t0 = pc_now();
        for (int r = 0; r < repeats; r++)
            if (pc_perturb_eval(&ctx, bn, map, 0, &res, &passes, &err))
                return fprintf(stderr, "bench_metrics: %s\n", err.msg), 1;
        printf("metric %s %.4f %ld\n", names[k], (pc_now() - t0) / repeats, passes / repeats);
        pc_perturb_context_free(&ctx);
    }
    be->net_release(be, bn);
    be->destroy(be);
    pc_net_free(&net);
    free(x), free(map);
    return 0;
}
