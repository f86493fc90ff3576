// bench_metrics_loc.c: CPU seconds per image of the metrics of
// docs/metrics-localisation-randomisation.md, on the inputs bench/metrics_loc.sh hands Quantus
// 0.6.0 in the same run (bench/bench_metrics_loc_quantus.py), for the ratio:
//   localisation: energy (= relevance mass accuracy), pointing with 15 px and rank accuracy of
//     the 64 reference maps of fixtures/synthetic.h5 (synth_resnet: gradcam, pcamp, pcamm,
//     pcampm x 16 images) against their masks;
//   avg-sensitivity: gradcam and ixg on tiny_vgg, fixtures/sensitivity.h5's image, 3
//     perturbations (max-sensitivity comes from the same calls);
//   independent randomisation: gradcam and ixg on synth_vgg, fixtures/metrics_loc.h5's image, every
//     Conv / Linear layer re-initialised alone (13 steps), Spearman of |map| per step.
// Usage: bench_metrics_loc (one thread: PC_THREADS=1 is set by metrics_loc.sh)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "localisation.h"
#include "methods.h"
#include "sanity.h"
#include "sensitivity.h"
#include "similarity.h"
#include "util.h"
#include "cpu_backend.h"

static void *read_all(const char *file, const char *dset, hid_t type, size_t bytes) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", PC_FIXTURES_DIR, file);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, dset, H5P_DEFAULT) : -1;
    void *v = xmalloc(bytes);
    if (d < 0 || H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) free(v), v = NULL;
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
    if (!v) fprintf(stderr, "%s: cannot read %s\n", path, dset);
    return v;
}

static void bench_localisation(void) {
    static const char *const meths[] = {"gradcam", "pcamp", "pcamm", "pcampm"};
    const size_t ss = 224 * 224;
    unsigned char *masks = read_all("synthetic.h5", "synth_resnet/test/mask", H5T_NATIVE_UCHAR, 16 * ss);
    float *maps = xmalloc(64 * ss * sizeof(float));
    int ok = masks != NULL;
    for (int b = 0; ok && b < 4; b++) {
        char d[128];
        snprintf(d, sizeof d, "synth_resnet/test/%s/map", meths[b]);
        float *m = read_all("synthetic.h5", d, H5T_NATIVE_FLOAT, 16 * ss * sizeof(float));
        if (m) memcpy(maps + (size_t)b * 16 * ss, m, 16 * ss * sizeof(float));
        ok = m != NULL;
        free(m);
    }
    double t0 = bench_cpu_seconds(), sum = 0;
    for (int r = 0; ok && r < 5; r++)   // 5 rounds of the 64 maps
        for (int i = 0; i < 64; i++) {
            const float *m = maps + (size_t)i * ss;
            const unsigned char *g = masks + (size_t)(i % 16) * ss;
            sum += pc_energy_in_mask(m, g, (int)ss) + pc_pointing_hit_tol(m, g, 224, 15) + pc_rank_accuracy(m, g, (int)ss);
        }
    if (ok) printf("localisation %.6e s/map (energy + pointing 15 px + rank; checksum %.3f)\n",
                   (bench_cpu_seconds() - t0) / (5 * 64), sum / 5);
    free(maps), free(masks);
}

static void bench_avg_sensitivity(PcBackend *be) {
    PcNet net;
    PcError err = {{0}};
    if (bench_net("tiny_vgg", &net, &err)) return (void)fprintf(stderr, "%s\n", err.msg);
    float *x = read_all("sensitivity.h5", "tiny_vgg/ILSVRC2012_val_00010495.JPEG/input", H5T_NATIVE_FLOAT,
                        3 * 224 * 224 * sizeof(float));
    PcMethodSettings set = {.seed = 0};
    PcBackendNet *bn = x && !pc_method_settings_resolve(&set, &net, &err) ? be->net_prepare(be, &net, 16, &err) : NULL;
    static const char *const ids[] = {"gradcam", "ixg"};
    for (int m = 0; bn && m < 2; m++) {
        PcMethodCtx ctx = {.be = be, .bn = bn, .net = &net, .set = &set, .x = x, .size = 224, .cls = 0, .image = 0,
                           .batch = 16};
        double sens, avg, t0 = bench_cpu_seconds();
        for (int r = 0; r < 3; r++)
            if (pc_sensitivity_method(pc_method_find(ids[m]), &ctx, 3, 0.02f, &sens, &avg, &err))
                fprintf(stderr, "%s\n", err.msg);
        printf("avg_sensitivity %-8s %.6e s/image (3 perturbations; max and avg %.4f %.4f)\n", ids[m],
               (bench_cpu_seconds() - t0) / 3, sens, avg);
    }
    if (bn) be->net_release(be, bn);
    free(x);
    pc_net_free(&net);
}

static void bench_mprt(PcBackend *be) {
    PcNet net;
    PcError err = {{0}};
    if (bench_net("synth_vgg", &net, &err)) return (void)fprintf(stderr, "%s\n", err.msg);
    float *x = read_all("metrics_loc.h5", "mprt/synth_vgg/x", H5T_NATIVE_FLOAT, 3 * 224 * 224 * sizeof(float));
    PcMethodSettings set = {.seed = 0};
    if (!x || pc_method_settings_resolve(&set, &net, &err)) return (void)fprintf(stderr, "%s\n", err.msg);
    float *orig = xmalloc(net.n_params * sizeof(float)), *m0 = xmalloc(224 * 224 * sizeof(float)),
          *m = xmalloc(224 * 224 * sizeof(float));
    memcpy(orig, net.params, net.n_params * sizeof(float));
    int nodes[256], L = pc_sanity_order(&net, nodes, 256);
    static const char *const ids[] = {"gradcam", "ixg"};
    for (int k = 0; k < 2; k++) {
        double t0 = bench_cpu_seconds(), last = 0;
        memcpy(net.params, orig, net.n_params * sizeof(float));
        for (int t = -1; t < L; t++) {
            if (t >= 0) pc_sanity_independent_layer(&net, orig, nodes[t], 0);
            PcBackendNet *bn = be->net_prepare(be, &net, 16, &err);
            PcMethodCtx ctx = {.be = be, .bn = bn, .net = &net, .set = &set, .x = x, .size = 224, .cls = 0,
                               .image = 0, .batch = 16};
            if (!bn || pc_method_compute(pc_method_find(ids[k]), &ctx, t < 0 ? m0 : m, &err))
                fprintf(stderr, "%s\n", err.msg);
            if (bn) be->net_release(be, bn);
            double sim[PC_SIM_COUNT];
            if (t >= 0) pc_sanity_similarity(m0, m, 224, sim), last = sim[PC_SIM_RANK_ABS];
        }
        printf("mprt_independent %-8s %.6e s/image (%d layers; last Spearman %.4f)\n", ids[k],
               bench_cpu_seconds() - t0, L, last);
    }
    free(orig), free(m0), free(m), free(x);
    pc_net_free(&net);
}

int main(void) {
    PcBackendOptions opt = {.precision = PC_PREC_FP32, .threads = 0};   // 0: PC_THREADS
    PcError err = {{0}};
    PcBackend *be = pc_backend_cpu_create(&opt, &err);
    if (!be) return fprintf(stderr, "%s\n", err.msg), 1;
    bench_localisation();
    bench_avg_sensitivity(be);
    bench_mprt(be);
    be->destroy(be);
    return 0;
}
