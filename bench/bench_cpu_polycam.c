// bench_cpu_polycam.c: CPU seconds per image of the Poly-CAM pipeline on the synthetic-task
// models: one forward pass (batch 1 and per image in a batch), the phases of pc_explain (tapped
// forward, masked passes, maps) and insertion + deletion of the three maps.
// Usage: bench_cpu_polycam [images (default 2)] [threads (default: PC_THREADS / all cores)]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "metrics.h"
#include "saliency.h"
#include "util.h"

static int bench_model(PcBackend *be, const char *model, int n_images) {
    PcError err = {{0}};
    PcNet net;
    if (bench_net(model, &net, &err) != 0) {
        fprintf(stderr, "%s: %s\n", model, err.msg);
        return -1;
    }
    PcTargets tg;
    PcSaliencyOptions sopt;
    pc_saliency_default_options(&sopt);
    PcInsDelOptions iopt;
    pc_insdel_default_options(&iopt);
    const int batch = sopt.batch > iopt.batch ? sopt.batch : iopt.batch;
    PcBackendNet *bn = NULL;
    if (pc_targets_resolve(&net, 0, NULL, &tg, &err) != 0 ||
        !(bn = be->net_prepare(be, &net, batch, &err))) {
        fprintf(stderr, "%s: %s\n", model, err.msg);
        pc_net_free(&net);
        return -1;
    }
    const size_t img = 3 * 224 * 224;
    float *x = xmalloc(img * sizeof *x);
    float *xb = be->alloc(be, (size_t)batch * img * sizeof(float));
    float *logits = be->alloc(be, (size_t)batch * net.n_classes * sizeof(float));
    double fwd1 = 0, fwdb = 0, t_fwd = 0, t_masked = 0, t_maps = 0, t_insdel = 0;
    long passes = 0, insdel_passes = 0;
    int rc = 0;
    for (int i = 0; i < n_images && rc == 0; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/synthetic/synth_%03d.jpg", PC_DATA_DIR, i);
        PcImageU8 im;
        if (pc_load_jpeg(path, &im, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            rc = -1;
            break;
        }
        pc_preprocess(&im, PC_RESIZE_BILINEAR, 224, x);
        pc_image_free(&im);
        // forward pass alone: one image, then a full batch of copies
        for (int b = 0; b < batch; b++) be->upload(be, xb + (size_t)b * img, x, img * sizeof(float));
        double t0 = pc_now();
        rc |= be->forward(be, bn, xb, 1, logits, 0, NULL, NULL, &err);
        be->synchronize(be);
        double t1 = pc_now();
        rc |= be->forward(be, bn, xb, batch, logits, 0, NULL, NULL, &err);
        be->synchronize(be);
        double t2 = pc_now();
        fwd1 += t1 - t0;
        fwdb += (t2 - t1) / batch;
        PcExplanation e;
        if (rc != 0 || pc_explain(be, bn, &net, &tg, x, -1, &sopt, &e, &err) != 0) {
            fprintf(stderr, "%s: %s\n", model, err.msg);
            rc = -1;
            break;
        }
        t_fwd += e.seconds_forward;
        t_masked += e.seconds_masked;
        t_maps += e.seconds_maps;
        passes += e.forward_passes;
        double t3 = pc_now();
        PcInsDelContext ctx;
        rc = pc_insdel_context_init(be, &net, x, &iopt, &ctx, &err);
        for (int v = 0; v < PC_N_VARIANTS && rc == 0; v++) {
            double ins, del;
            rc = pc_insdel_context_eval(&ctx, bn, e.map[v], 224, 224, e.cls, NULL, &ins, NULL, &del,
                                        &insdel_passes, &err);
        }
        pc_insdel_context_free(&ctx);
        t_insdel += pc_now() - t3;
        pc_explanation_free(&e);
        if (rc != 0) fprintf(stderr, "%s: %s\n", model, err.msg);
    }
    if (rc == 0) {
        const double n = n_images;
        printf("%-13s %6.1f GFLOP/pass | forward: batch 1 %.4f s, batch %d %.4f s/img | per image: "
               "explain %.2f s (tapped fwd %.3f, masked %.2f for %.0f passes, maps %.3f) + "
               "ins/del of 3 maps %.2f s (%.0f passes) = %.2f s\n",
               model, pc_net_flops(&net) * 1e-9, fwd1 / n, batch, fwdb / n,
               (t_fwd + t_masked + t_maps) / n, t_fwd / n, t_masked / n, passes / n, t_maps / n,
               t_insdel / n, insdel_passes / n, (t_fwd + t_masked + t_maps + t_insdel) / n);
    }
    be->release(be, xb);
    be->release(be, logits);
    free(x);
    be->net_release(be, bn);
    pc_net_free(&net);
    return rc;
}

int main(int argc, char **argv) {
    int n_images = argc > 1 ? atoi(argv[1]) : 2;
    if (n_images < 1 || n_images > 16) n_images = 2;
    PcBackendOptions bo = {0};
    bo.threads = argc > 2 ? atoi(argv[2]) : 0;
    pc_backend_options_from_env(&bo);   // PC_NO_DIRECT_CONV, as the program reads it
    PcError err = {{0}};
    PcBackend *be = pc_backend_cpu_create(&bo, &err);
    if (!be) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("backend: %s, %d image(s) per model\n", be->device_name, n_images);
    int rc = bench_model(be, "synth_vgg", n_images);
    rc |= bench_model(be, "synth_resnet", n_images);
    be->destroy(be);
    return rc ? 1 : 0;
}
