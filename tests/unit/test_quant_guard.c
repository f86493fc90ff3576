// test_quant_guard.c: the 8-bit accuracy guard's verdict (quant_setup.c pc_quant_guard) on the CPU,
// with the run's per-image computation replaced by a fake that sets the AUCs, on synth_resnet and
// the first two synthetic images:
//   - equal AUCs on both paths: passes, 4 curves compared;
//   - NaN AUCs from the 8-bit path only (what a broken scale gives): fails, naming the NaN curves
//     (the guard used to skip every non-finite pair and pass with "0 curves");
//   - NaN AUCs on both paths (the library's NaN map of a constant map): passes, nothing compared;
//   - a NaN logit on both paths (a NaN bias of fc): no class on either side, which used to count as
//     the class kept (-2 == -2) and pass; now 0/2 kept, the guard fails.
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "quant_plan.h"
#include "testutil.h"
#include "cpu_backend.h"
#include "quant_setup.h"

typedef struct {
    PcBackend *eight;       // the run's (8-bit) backend
    int mode;               // 0 equal AUCs, 1 NaN in 8 bits only, 2 NaN on both
} Fake;

static void fake_image(void *user, PcBackend *be, PcBackendNet *bn, const PcPrefetchItem *item, PcImageResult *res) {
    (void)bn, (void)item;
    const Fake *s = user;
    double v = s->mode == 2 || (s->mode == 1 && be == s->eight) ? NAN : 0.5;
    res->ins_auc[0] = res->del_auc[0] = v;
}

int main(void) {
    PcNet net;
    PcError err = {{0}};
    if (fixture_net_load("synth_resnet", &net, &err)) {
        CHECK(0, "synth_resnet: %s", err.msg);
        return test_summary();
    }
    PcDatasetSpec spec = {.list = PC_DATA_DIR "/synthetic/images.txt", .root = PC_DATA_DIR "/synthetic", .limit = 2,
                          .shard_count = 1};
    PcDataset ds;
    CHECK(pc_dataset_load(&spec, NULL, &ds, &err) == 0, "dataset: %s", err.msg);
    PcBackendOptions bopt = {.precision = PC_PREC_FP8, .threads = 2};
    PcBackend *be = pc_backend_cpu_create(&bopt, &err);
    PcBackendNet *bn = be->net_prepare(be, &net, 1, &err);
    PcPrecisionSettings ps = {.calibration_images = 2, .clip = 1, .guard_images = 8, .guard_max_dauc = 0.005,
                              .guard_min_agreement = 0.75};
    char ids[1][PC_METHOD_ID_LEN] = {"gradcam"};
    PcStoreLayout layout = {.n_images = 2, .size = 224, .steps = 4, .n_methods = 1, .method_ids = ids,
                            .insertion = 1, .deletion = 1};
    Fake fake = {.eight = be};
    PcQuantEnv env = {.resize = PC_RESIZE_BILINEAR, .size = 224, .decoders = 1, .device = "cpu",
                      .precision = PC_PREC_FP8, .ps = &ps, .ds = &ds, .net = &net, .be = be, .bn = bn, .bopt = &bopt,
                      .max_batch = 1, .layout = &layout, .image = fake_image, .user = &fake};
    const char *what[3] = {"equal AUCs", "NaN in 8 bits only", "NaN on both (a NaN map)"};
    const int want_rc[3] = {0, -1, 0}, want_pairs[3] = {4, -1, 0};
    for (int mode = 0; mode < 3; mode++) {
        fake.mode = mode;
        PcQuantPlan plan;
        pc_quant_plan(&net, PC_PREC_FP8, &ps, &plan, &err);
        int rc = pc_quant_guard(&env, &plan, &err);
        CHECK(rc == want_rc[mode], "%s: rc %d (%s)", what[mode], rc, rc ? err.msg : "passed");
        if (want_pairs[mode] >= 0)
            CHECK(plan.guard_images == 2 && plan.guard_pairs == want_pairs[mode], "%s: %d images, %d pairs", what[mode],
                  plan.guard_images, plan.guard_pairs);
        if (mode == 1)
            CHECK(rc && strstr(err.msg, "4 curves NaN in 8 bits but not in fp32 (first: gradcam insertion)") &&
                      strstr(err.msg, "nothing was written"),
                  "the failure names the NaN curves: %s", err.msg);
        pc_quant_plan_free(&plan);
    }
    be->net_release(be, bn);
    // fc's first bias NaN: every logit vector has a NaN, in 8 bits and in fp32 alike
    for (int i = 0; i < net.n_nodes; i++)
        if (net.nodes[i].op == PC_NODE_LINEAR) net.nodes[i].p.linear.bias[0] = NAN;
    env.bn = bn = be->net_prepare(be, &net, 1, &err);
    fake.mode = 0;
    PcQuantPlan plan;
    pc_quant_plan(&net, PC_PREC_FP8, &ps, &plan, &err);
    int rc = pc_quant_guard(&env, &plan, &err);
    CHECK(rc == -1 && strstr(err.msg, "predicted class kept on 0/2"), "NaN logits on both paths: rc %d (%s)", rc,
          rc ? err.msg : "passed");
    pc_quant_plan_free(&plan);
    be->net_release(be, bn);
    be->destroy(be);
    pc_dataset_free(&ds);
    pc_net_free(&net);
    return test_summary();
}
