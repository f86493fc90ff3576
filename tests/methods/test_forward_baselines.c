// test_forward_baselines.c: the Score-CAM family (BASELINES.md B3: scorecam, sscam, iscam) against
// torchcam c85232b's own maps in fixtures/forward_baselines.h5 (tools/make_forward_fixtures.py, torch
// 1.13). For every model (tiny_vgg, tiny_resnet on img0 / img1; synth_vgg, synth_resnet on
// synth_000) and method: the native map (shape, values, NaN positions), the map after up() to 224,
// and on the synthetic models the insertion / deletion AUCs (SPEC §8, the fixture's step count).
// SS-CAM was fed our Philox noise, so it is held to the same bound. The sample counts are the
// fixture's (attributes of each model group); the masked passes run in batches of 12, so the last
// batch of every channel pass is partial. Also: every channel dead (constant) gives a NaN map, as
// torchcam's nansum and min-max do.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "method_fixture.h"
#include "methods.h"
#include "testutil.h"

#define MAP_TOL 1e-3    // max abs diff of the min-max normalised maps
#define AUC_TOL 2e-3
#define BATCH 12

static const char *fix(void) { return fixture_path("forward_baselines.h5"); }

// max abs diff of the min-max normalised maps (NaN positions must agree), native and S x S
static const MfMethod METHODS[] = {{"scorecam", MAP_TOL, 0, 0}, {"sscam", MAP_TOL, 0, 0}, {"iscam", MAP_TOL, 0, 0}};
#define N_METH 3
static const char *const TINY_IMGS[] = {"ILSVRC2012_val_00010495.JPEG", "ILSVRC2012_val_00015410.JPEG"};
static const char *const SYNTH_IMGS[] = {"synth_000.jpg"};
static const char *const LAYER_ATTRS[] = {"cam_layer", NULL};

// The fixture's sample counts of a model group into the settings.
static int model_settings(const char *file, const char *model, PcMethodSettings *set) {
    double ssn = 0, sss = 0, isn = 0;
    if (h5_attr_f64(file, model, "sscam_samples", &ssn) || h5_attr_f64(file, model, "sscam_sigma", &sss) ||
        h5_attr_f64(file, model, "iscam_samples", &isn))
        return -1;
    set->sscam_samples = (int)ssn, set->sscam_sigma = (float)sss, set->iscam_samples = (int)isn;
    set->seed = 0;
    return 0;
}

// scorecam first: the cheap one is also run through pc_method_compute (method_fixture.h)
#define ROW(m, imgs, n)                                                                                          \
    {.fixture = "forward_baselines.h5", .model = m, .images = imgs, .n_images = n, .methods = METHODS,            \
     .n_methods = N_METH, .layer_attrs = LAYER_ATTRS, .model_settings = model_settings, .auc_tol = AUC_TOL,       \
     .batch = BATCH, .family = PC_FAMILY_FORWARD, .native = 1,                                                   \
     .settings = {.ig_steps = 1, .smoothgrad_samples = 1, .smoothgrad_sigma = 1, .sgcampp_samples = 1,            \
                  .sgcampp_sigma = 1}}

// Every channel dead: with a zero input, tiny_vgg's first ReLU output (features.1, 8 x 224 x 224)
// is ReLU(bias), constant per channel (zero padding equals the input), so every A_bar_k is NaN;
// torchcam then sums nothing (nansum = 0) and min-maxes a zero map to NaN. The methods must return
// rc 0 and an all-NaN map (without any masked pass).
static void check_all_dead(PcBackend *be) {
    PcError err = {{0}};
    MfNet mn;
    if (mf_net_open(be, "tiny_vgg", 0, &mn)) return;
    PcMethodSettings set = {.sscam_samples = 2, .sscam_sigma = 2, .iscam_samples = 2, .cam_layer = "features.1"};
    CHECK(pc_method_settings_resolve(&set, &mn.net, &err) == 0, "tiny_vgg: layers: %s", err.msg);
    PcBackendNet *bn = mf_net_prepare(&mn, BATCH) == 0 ? mn.bn : NULL;
    float *x = xcalloc((size_t)3 * 224 * 224, sizeof(float)), *out = xmalloc((size_t)224 * 224 * sizeof(float));
    PcMethodCtx ctx = {.be = be, .bn = bn, .net = &mn.net, .set = &set, .x = x, .size = 224, .cls = 0, .batch = BATCH};
    for (int m = 0; bn && m < N_METH; m++) {
        const PcMethodDesc *d = pc_method_find(METHODS[m].id);
        int h = 0, w = 0, rc = d->native(&ctx, out, &h, &w, &err), all_nan = 1;
        for (int p = 0; p < h * w; p++) all_nan &= isnan(out[p]) != 0;
        CHECK(rc == 0 && h * w > 0 && all_nan, "%s on a zero input at features.1: rc %d, %dx%d, all NaN %d", d->id, rc, h, w, all_nan);
    }
    free(x);
    free(out);
    mf_net_close(&mn);
}

int main(void) {
    if (!h5_exists(fix(), "/")) {
        CHECK(0, "%s missing (tools/make_forward_fixtures.py)", fix());
        return test_summary();
    }
    PcBackend *be = test_cpu_backend();
    if (!be) return test_summary();
    static const MfRow rows[] = {ROW("tiny_vgg", TINY_IMGS, 2), ROW("tiny_resnet", TINY_IMGS, 2),
                                 ROW("synth_vgg", SYNTH_IMGS, 1), ROW("synth_resnet", SYNTH_IMGS, 1)};
    mf_run(be, rows, 4);
    check_all_dead(be);
    be->destroy(be);
    return test_summary();
}
