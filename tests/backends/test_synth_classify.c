// test_synth_classify.c: the trained synth_vgg and synth_resnet (data/models) classify the 16
// images of data/synthetic exactly as PyTorch did (`pred` in fixtures/synthetic.h5), with the
// images decoded and preprocessed by our own pipeline (pc_load_jpeg + pc_preprocess, SPEC §1).
// The 16 images go through the network as one batch.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "image.h"
#include "testutil.h"
#include "cpu_backend.h"

#define N_IMAGES 16

// The 16 file names of data/synthetic/images.txt, in order.
static int read_names(char names[N_IMAGES][64]) {
    FILE *f = fopen(data_path("synthetic/images.txt"), "r");
    if (!f) return 0;
    int n = 0;
    char line[256];
    while (n < N_IMAGES && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0]) snprintf(names[n++], 64, "%.63s", line);
    }
    fclose(f);
    return n;
}

static void test_model(const char *model, const float *x) {
    PcError err = {{0}};
    PcNet net;
    if (fixture_net_load(model, &net, &err)) {
        CHECK(0, "%s: %s", model, err.msg);
        return;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/test/pred", model);
    size_t n;
    int64_t *pred = h5_read_i64(fixture_path("synthetic.h5"), path, &n);
    CHECK(pred && n == N_IMAGES, "%s: %zu predictions", path, pred ? n : 0);
    PcBackendOptions opt = {.precision = PC_PREC_FP32};
    PcBackend *be = pc_backend_cpu_create(&opt, &err);
    PcBackendNet *bn = be->net_prepare(be, &net, N_IMAGES, &err);
    CHECK(bn != NULL, "%s: prepare: %s", model, err.msg);
    float logits[N_IMAGES * 4];
    double t0 = pc_now();
    int rc = bn ? be->forward(be, bn, x, N_IMAGES, logits, 0, NULL, NULL, &err) : -1;
    double dt = pc_now() - t0;
    CHECK(rc == 0, "%s: forward: %s", model, err.msg);
    if (rc == 0 && pred) {
        int same = 0;
        printf("  %-13s", model);
        for (int i = 0; i < N_IMAGES; i++) {
            int a = 0;
            for (int k = 1; k < 4; k++)
                if (logits[i * 4 + k] > logits[i * 4 + a]) a = k;
            // the decision must not hinge on rounding: report the margin
            float second = -1e30f;
            for (int k = 0; k < 4; k++)
                if (k != a && logits[i * 4 + k] > second) second = logits[i * 4 + k];
            printf(" %d", a);
            same += a == pred[i];
            CHECK(a == pred[i], "%s image %d: class %d (margin %.3g), PyTorch %lld", model, i, a,
                  logits[i * 4 + a] - second, (long long)pred[i]);
        }
        printf("   %d/%d as PyTorch, %.1f ms for the batch\n", same, N_IMAGES, 1e3 * dt);
    }
    free(pred);
    if (bn) be->net_release(be, bn);
    be->destroy(be);
    pc_net_free(&net);
}

int main(void) {
    char names[N_IMAGES][64];
    int n = read_names(names);
    CHECK(n == N_IMAGES, "data/synthetic/images.txt lists %d images", n);
    if (n != N_IMAGES) return test_summary();
    const size_t img = (size_t)3 * 224 * 224;
    float *x = xmalloc(N_IMAGES * img * sizeof(float));
    for (int i = 0; i < N_IMAGES; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "synthetic/%.63s", names[i]);
        PcImageU8 im;
        PcError err = {{0}};
        if (pc_load_jpeg(data_path(rel), &im, &err)) {
            CHECK(0, "%s", err.msg);
            free(x);
            return test_summary();
        }
        pc_preprocess(&im, PC_RESIZE_BILINEAR, 224, x + i * img);
        pc_image_free(&im);
    }
    test_model("synth_vgg", x);
    test_model("synth_resnet", x);
    free(x);
    return test_summary();
}
