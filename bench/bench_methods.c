// bench_methods.c: CPU seconds per image of every method of the registry (methods.h) and their
// localisation on the synthetic task (SPEC §10: energy in the object mask, pointing hit), on the
// synthetic-task models and the test images of fixtures/synthetic.h5. PCAM± comes from pc_explain
// (its time covers the three Poly-CAM variants). Maps only: no insertion / deletion.
// Usage: bench_methods [images (default 16)] [threads (default: PC_THREADS / all cores)]
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "insdel.h"
#include "localisation.h"
#include "method_config.h"
#include "methods.h"
#include "saliency.h"
#include "util.h"
#include "cpu_backend.h"

// (16, 224, 224) object masks of fixtures/synthetic.h5.
static unsigned char *read_masks(const char *model) {
    char path[1024], dset[128];
    snprintf(path, sizeof path, "%s/synthetic.h5", PC_FIXTURES_DIR);
    snprintf(dset, sizeof dset, "%s/test/mask", model);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return NULL;
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
    unsigned char *m = xmalloc((size_t)16 * 224 * 224);
    if (d < 0 || H5Dread(d, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, m) < 0) {
        free(m);
        m = NULL;
    }
    if (d >= 0) H5Dclose(d);
    H5Fclose(f);
    return m;
}

static void bench_model(PcBackend *be, const char *model, int n_images) {
    PcError err = {{0}};
    PcNet net;
    if (bench_net(model, &net, &err)) return (void)fprintf(stderr, "%s: %s\n", model, err.msg);
    unsigned char *masks = read_masks(model);
    if (!masks) return (void)fprintf(stderr, "%s: no masks in synthetic.h5\n", model), pc_net_free(&net);
    PcTargets tg;
    pc_targets_resolve(&net, 0, NULL, &tg, &err);
    PcSaliencyOptions sopt;
    pc_saliency_default_options(&sopt);
    sopt.want_levels = sopt.want_cams = sopt.want_no_lnorm = 0;
    // every method's settings at the configuration's defaults (the paper's values)
    PcConfig cfg;
    PcMethodSettings set;
    if (pc_config_load_string("[model]\nweights = w\n[data]\nlist = l\n", "defaults.ini", 0, NULL, &cfg, &err) ||
        pc_method_settings_from_config(&cfg, &set, &err) || pc_method_settings_resolve(&set, &net, &err))
        return (void)fprintf(stderr, "%s\n", err.msg);
    pc_config_free(&cfg);
    PcBackendNet *bn = be->net_prepare(be, &net, sopt.batch, &err);
    const int M = pc_method_count();
    double *secs = calloc((size_t)M, sizeof(double)), *energy = calloc((size_t)M, sizeof(double));
    int *hits = calloc((size_t)M, sizeof(int));
    float *x = xmalloc(3 * 224 * 224 * sizeof(float)), *map = xmalloc(224 * 224 * sizeof(float));
    for (int i = 0; bn && i < n_images; i++) {
        char rel[1024];
        snprintf(rel, sizeof rel, "%s/synthetic/synth_%03d.jpg", PC_DATA_DIR, i);
        PcImageU8 img;
        if (pc_load_jpeg(rel, &img, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            continue;
        }
        pc_preprocess(&img, PC_RESIZE_BILINEAR, 224, x);
        pc_image_free(&img);
        const unsigned char *g = masks + (size_t)i * 224 * 224;
        double t0 = pc_now();
        PcExplanation e;
        if (pc_explain(be, bn, &net, &tg, x, -1, &sopt, &e, &err)) continue;
        double t_pcam = pc_now() - t0;
        PcMethodCtx ctx = {.be = be, .bn = bn, .net = &net, .set = &set, .x = x, .size = 224, .cls = e.cls,
                           .image = (uint32_t)i, .batch = sopt.batch};
        for (int m = 0; m < M; m++) {
            const PcMethodDesc *d = pc_method_at(m);
            const float *s = map;
            if (d->family == PC_FAMILY_POLYCAM) {
                s = e.map[!strcmp(d->id, "pcamp") ? PC_VARIANT_PLUS : !strcmp(d->id, "pcamm") ? PC_VARIANT_MINUS
                                                                                               : PC_VARIANT_PM];
                secs[m] += t_pcam;
            } else {
                t0 = pc_now();
                if (pc_method_compute(d, &ctx, map, &err)) {
                    fprintf(stderr, "%s %s: %s\n", model, d->id, err.msg);
                    continue;
                }
                secs[m] += pc_now() - t0;
            }
            energy[m] += pc_energy_in_mask(s, g, 224 * 224);
            hits[m] += pc_pointing_hit(s, g, 224 * 224);
        }
        pc_explanation_free(&e);
        fprintf(stderr, "%s image %d done\n", model, i);
    }
    printf("\n%s, %d images (CPU %s)\n\n| method | energy in mask | pointing | s / image |\n|---|---:|---:|---:|\n",
           model, n_images, be->device_name);
    for (int m = 0; m < M; m++)
        printf("| %s | %.3f | %d/%d | %.2f%s |\n", pc_method_at(m)->id, energy[m] / n_images, hits[m], n_images,
               secs[m] / n_images, pc_method_at(m)->family == PC_FAMILY_POLYCAM ? " (3 variants)" : "");
    fflush(stdout);
    free(secs), free(energy), free(hits), free(x), free(map), free(masks);
    if (bn) be->net_release(be, bn);
    pc_net_free(&net);
}

int main(int argc, char **argv) {
    const int n_images = argc > 1 ? atoi(argv[1]) : 16;
    PcBackendOptions opt = {.precision = PC_PREC_FP32, .threads = argc > 2 ? atoi(argv[2]) : 0};
    PcError err;
    PcBackend *be = pc_backend_cpu_create(&opt, &err);
    if (!be) return fprintf(stderr, "%s\n", err.msg), 1;
    bench_model(be, "synth_vgg", n_images);
    bench_model(be, "synth_resnet", n_images);
    be->destroy(be);
    return 0;
}
