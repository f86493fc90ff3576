// bench_cpu_polycam.c: CPU seconds per image of the Poly-CAM pipeline on the synthetic-task
// models: one forward pass (batch 1 and per image in a batch), the phases of pc_explain (tapped
// forward, masked passes, maps) and insertion + deletion of the three maps.
// Usage: bench_cpu_polycam [images (default 2)] [threads (default: PC_THREADS / all cores)]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "insdel.h"
#include "saliency.h"
#include "util.h"
#include "cpu_backend.h"

// One model's run: the network, its prepared net for `batch` images, targets and options, the
// host image x (3, 224, 224) and the device buffers xb (batch, 3, 224, 224), logits (batch, classes).
typedef struct {
    PcBackend *be;
    PcNet net;
    PcBackendNet *bn;
    PcTargets tg;
    PcSaliencyOptions sopt;
    PcInsDelOptions iopt;
    int batch;
    float *x, *xb, *logits;
} Run;

// Seconds and passes summed over the images.
typedef struct {
    double fwd1, fwdb, t_fwd, t_masked, t_maps, t_insdel;
    long passes, insdel_passes;
} Times;

// data/synthetic/synth_<i>.jpg, preprocessed into x (3, 224, 224).
static int load_synth_image(int i, float *x, PcError *err) {
    char path[1024];
    snprintf(path, sizeof path, "%s/synthetic/synth_%03d.jpg", PC_DATA_DIR, i);
    PcImageU8 im;
    if (pc_load_jpeg(path, &im, err) != 0) {
        fprintf(stderr, "%s\n", err->msg);
        return -1;
    }
    pc_preprocess(&im, PC_RESIZE_BILINEAR, 224, x);
    pc_image_free(&im);
    return 0;
}

// The forward pass alone: one image, then a full batch of copies of it.
static int time_forward(Run *r, Times *t, PcError *err) {
    PcBackend *be = r->be;
    const size_t img = 3 * 224 * 224;
    for (int b = 0; b < r->batch; b++) be->upload(be, r->xb + (size_t)b * img, r->x, img * sizeof(float));
    int rc = 0;
    double t0 = pc_now();
    rc |= be->forward(be, r->bn, r->xb, 1, r->logits, 0, NULL, NULL, err);
    be->synchronize(be);
    double t1 = pc_now();
    rc |= be->forward(be, r->bn, r->xb, r->batch, r->logits, 0, NULL, NULL, err);
    be->synchronize(be);
    double t2 = pc_now();
    t->fwd1 += t1 - t0;
    t->fwdb += (t2 - t1) / r->batch;
    return rc;
}

// pc_explain of x, then insertion + deletion of its three maps.
static int time_explain_insdel(Run *r, const char *model, Times *t, PcError *err) {
    PcExplanation e;
    if (pc_explain(r->be, r->bn, &r->net, &r->tg, r->x, -1, &r->sopt, &e, err) != 0) {
        fprintf(stderr, "%s: %s\n", model, err->msg);
        return -1;
    }
    t->t_fwd += e.seconds_forward;
    t->t_masked += e.seconds_masked;
    t->t_maps += e.seconds_maps;
    t->passes += e.forward_passes;
    double t3 = pc_now();
    PcInsDelContext ctx;
    int rc = pc_insdel_context_init(r->be, &r->net, r->x, &r->iopt, &ctx, err);
    for (int v = 0; v < PC_N_VARIANTS && rc == 0; v++) {
        double ins, del;
        rc = pc_insdel_context_eval(&ctx, r->bn, e.map[v], 224, 224, e.cls, NULL, &ins, NULL, &del,
                                    &t->insdel_passes, err);
    }
    pc_insdel_context_free(&ctx);
    t->t_insdel += pc_now() - t3;
    pc_explanation_free(&e);
    if (rc != 0) fprintf(stderr, "%s: %s\n", model, err->msg);
    return rc;
}

static void print_times(const Run *r, const char *model, const Times *t, int n_images) {
    const double n = n_images;
    printf("%-13s %6.1f GFLOP/pass | forward: batch 1 %.4f s, batch %d %.4f s/img | per image: "
           "explain %.2f s (tapped fwd %.3f, masked %.2f for %.0f passes, maps %.3f) + "
           "ins/del of 3 maps %.2f s (%.0f passes) = %.2f s\n",
           model, pc_net_flops(&r->net) * 1e-9, t->fwd1 / n, r->batch, t->fwdb / n,
           (t->t_fwd + t->t_masked + t->t_maps) / n, t->t_fwd / n, t->t_masked / n, t->passes / n, t->t_maps / n,
           t->t_insdel / n, t->insdel_passes / n, (t->t_fwd + t->t_masked + t->t_maps + t->t_insdel) / n);
}

static int bench_model(PcBackend *be, const char *model, int n_images) {
    PcError err = {{0}};
    Run r = {.be = be};
    if (bench_net(model, &r.net, &err) != 0) {
        fprintf(stderr, "%s: %s\n", model, err.msg);
        return -1;
    }
    pc_saliency_default_options(&r.sopt);
    pc_insdel_default_options(&r.iopt);
    r.batch = r.sopt.batch > r.iopt.batch ? r.sopt.batch : r.iopt.batch;
    if (pc_targets_resolve(&r.net, 0, NULL, &r.tg, &err) != 0 ||
        !(r.bn = be->net_prepare(be, &r.net, r.batch, &err))) {
        fprintf(stderr, "%s: %s\n", model, err.msg);
        pc_net_free(&r.net);
        return -1;
    }
    const size_t img = 3 * 224 * 224;
    r.x = xmalloc(img * sizeof *r.x);
    r.xb = be->alloc(be, (size_t)r.batch * img * sizeof(float));
    r.logits = be->alloc(be, (size_t)r.batch * r.net.n_classes * sizeof(float));
    Times t = {0};
    int rc = 0;
    for (int i = 0; i < n_images && rc == 0; i++) {
        if (load_synth_image(i, r.x, &err) != 0) {
            rc = -1;
            break;
        }
        if (time_forward(&r, &t, &err) != 0) {
            fprintf(stderr, "%s: %s\n", model, err.msg);
            rc = -1;
            break;
        }
        rc = time_explain_insdel(&r, model, &t, &err);
    }
    if (rc == 0) print_times(&r, model, &t, n_images);
    be->release(be, r.xb);
    be->release(be, r.logits);
    free(r.x);
    be->net_release(be, r.bn);
    pc_net_free(&r.net);
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
