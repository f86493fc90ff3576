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

#include "methods.h"
#include "insdel.h"
#include "testutil.h"

#define MAP_TOL 1e-3    // max abs diff of the min-max normalised maps
#define AUC_TOL 2e-3
#define BATCH 12

static const char *fix(void) { return fixture_path("forward_baselines.h5"); }

static const char *const METHODS[] = {"scorecam", "sscam", "iscam"};
#define N_METH 3

// max |a - ref| over the positions where both are numbers; *nan_mismatch when NaN positions differ.
static double map_diff(const float *a, const float *ref, size_t n, int *nan_mismatch) {
    double d = 0;
    *nan_mismatch = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(ref[i])) *nan_mismatch |= isnan(a[i]) != isnan(ref[i]);
        else d = fmax(d, fabs(a[i] - ref[i]));
    }
    return d;
}

// Compares out (h, w) with the fixture's dataset path; returns the max diff (or 1 when missing).
static double check_map(const char *path, const float *out, int h, int w) {
    size_t n = 0;
    int64_t dims[8];
    int nd = 0;
    float *ref = h5_read_f32(fix(), path, &n, dims, &nd);
    int ok = ref && nd == 2 && dims[0] == h && dims[1] == w;
    CHECK(ok, "%s: shape %dx%d, fixture %lldx%lld", path, h, w, ok || (ref && nd == 2) ? (long long)dims[0] : -1LL,
          ref && nd == 2 ? (long long)dims[1] : -1LL);
    double dm = 1;
    if (ok) {
        int nanmis = 0;
        dm = map_diff(out, ref, n, &nanmis);
        CHECK(dm <= MAP_TOL && !nanmis, "%s: max diff %.3g (NaN positions %s)", path, dm, nanmis ? "differ" : "agree");
    }
    free(ref);
    return dm;
}

static void check_image(PcMethodCtx *ctx, const char *model, const char *img, PcInsDelContext *insdel,
                        double *worst_map, double *worst_auc) {
    char path[512];
    const int S = ctx->size;
    float *native = xmalloc((size_t)S * S * sizeof(float)), *map = xmalloc((size_t)S * S * sizeof(float));
    for (int m = 0; m < N_METH; m++) {
        const PcMethodDesc *d = pc_method_find(METHODS[m]);
        CHECK(d && d->native && d->family == PC_FAMILY_FORWARD, "%s in the registry (forward family)", METHODS[m]);
        if (!d || !d->native) continue;
        PcError err = {{0}};
        int h = 0, w = 0;
        double t0 = pc_now();
        int rc = d->native(ctx, native, &h, &w, &err);
        double secs = pc_now() - t0;
        CHECK(rc == 0, "%s %s %s: %s", model, img, d->id, err.msg);
        if (rc) continue;
        snprintf(path, sizeof path, "%s/%s/%s/map_native", model, img, d->id);
        worst_map[m] = fmax(worst_map[m], check_map(path, native, h, w));
        // the S x S map: up() of the native map on the backend, as pc_method_compute does (called
        // for scorecam alone, the cheap one, to check that it is that)
        pc_method_up(ctx, native, h, w, S, S, map);
        if (m == 0) {
            float *via = xmalloc((size_t)S * S * sizeof(float));
            rc = pc_method_compute(d, ctx, via, &err);
            CHECK(rc == 0 && !memcmp(via, map, (size_t)S * S * sizeof(float)), "%s %s %s: compute: %s", model, img,
                  d->id, rc ? err.msg : "differs from up(native)");
            free(via);
        }
        snprintf(path, sizeof path, "%s/%s/%s/map", model, img, d->id);
        worst_map[m] = fmax(worst_map[m], check_map(path, map, S, S));
        double ins_ref, del_ref, spread = -1;
        snprintf(path, sizeof path, "%s/%s/%s", model, img, d->id);
        h5_attr_f64(fix(), path, "library_spread_max_abs", &spread);
        if (insdel && h5_attr_f64(fix(), path, "ins_auc", &ins_ref) == 0 &&
            h5_attr_f64(fix(), path, "del_auc", &del_ref) == 0) {
            double ins = 0, del = 0;
            rc = pc_insdel_context_eval(insdel, ctx->bn, map, S, S, ctx->cls, NULL, &ins, NULL, &del, NULL, &err);
            CHECK(rc == 0, "%s: insertion/deletion: %s", path, err.msg);
            CHECK(fabs(ins - ins_ref) <= AUC_TOL, "%s: insertion AUC %.5f, library %.5f", path, ins, ins_ref);
            CHECK(fabs(del - del_ref) <= AUC_TOL, "%s: deletion AUC %.5f, library %.5f", path, del, del_ref);
            worst_auc[m] = fmax(worst_auc[m], fmax(fabs(ins - ins_ref), fabs(del - del_ref)));
        }
        printf("%s %s %-8s native %3dx%-3d %.2f s", model, img, d->id, h, w, secs);
        if (spread >= 0) printf("  (library's own run-to-run spread with torch's generator: %.3g)", spread);
        printf("\n");
    }
    free(native);
    free(map);
}

// The fixture's sample counts of a model group into the settings.
static int model_settings(const char *model, PcMethodSettings *set) {
    double ssn = 0, sss = 0, isn = 0;
    if (h5_attr_f64(fix(), model, "sscam_samples", &ssn) || h5_attr_f64(fix(), model, "sscam_sigma", &sss) ||
        h5_attr_f64(fix(), model, "iscam_samples", &isn))
        return -1;
    set->sscam_samples = (int)ssn, set->sscam_sigma = (float)sss, set->iscam_samples = (int)isn;
    set->seed = 0;
    return 0;
}

static void check_model(PcBackend *be, const char *model) {
    PcError err = {{0}};
    PcNet net;
    if (fixture_net_load(model, &net, &err) != 0) {
        CHECK(0, "%s: %s", model, err.msg);
        return;
    }
    PcMethodSettings set = {.ig_steps = 1, .smoothgrad_samples = 1, .smoothgrad_sigma = 1, .sgcampp_samples = 1,
                            .sgcampp_sigma = 1};
    CHECK(model_settings(model, &set) == 0, "%s: sample-count attributes missing", model);
    CHECK(pc_method_settings_resolve(&set, &net, &err) == 0, "%s: layers: %s", model, err.msg);
    size_t nl = 0;
    char **layer = h5_attr_strings(fix(), model, "cam_layer", &nl);
    CHECK(layer && nl == 1 && !strcmp(layer[0], set.cam.names[0]), "%s: [cam] layer '%s', fixture '%s'", model,
          set.cam.names[0], layer && nl ? layer[0] : "(missing)");
    for (size_t i = 0; layer && i < nl; i++) free(layer[i]);
    free(layer);
    PcInsDelOptions iopt;
    pc_insdel_default_options(&iopt);
    PcBackendNet *bn = be->net_prepare(be, &net, BATCH > iopt.batch ? BATCH : iopt.batch, &err);
    CHECK(bn != NULL, "%s: net_prepare: %s", model, err.msg);
    const char *imgs[] = {"ILSVRC2012_val_00010495.JPEG", "ILSVRC2012_val_00015410.JPEG", "synth_000.jpg"};
    double worst_map[N_METH] = {0}, worst_auc[N_METH] = {0};
    for (int i = 0; bn && i < 3; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s/input", model, imgs[i]);
        if (!h5_exists(fix(), path)) continue;
        size_t n = 0;
        float *x = h5_read_f32(fix(), path, &n, NULL, NULL);
        double cls = -1, pos = -1, steps = 0;
        snprintf(path, sizeof path, "%s/%s", model, imgs[i]);
        CHECK(x && n == 3 * 224 * 224 && h5_attr_f64(fix(), path, "class", &cls) == 0 &&
                  h5_attr_f64(fix(), path, "image_index", &pos) == 0, "%s: input, class or image_index missing", path);
        if (!x || n != 3 * 224 * 224 || cls < 0) {
            free(x);
            continue;
        }
        PcMethodCtx ctx = {.be = be, .bn = bn, .net = &net, .set = &set, .x = x, .size = 224, .cls = (int)cls,
                           .image = (uint32_t)pos, .batch = BATCH};
        snprintf(path, sizeof path, "%s/%s/scorecam", model, imgs[i]);
        if (h5_attr_f64(fix(), path, "auc_steps", &steps) == 0 && steps >= 1) iopt.steps = (int)steps;
        PcInsDelContext insdel;
        int have = steps >= 1 && pc_insdel_context_init(be, &net, x, &iopt, &insdel, &err) == 0;
        CHECK(steps < 1 || have, "%s: insertion/deletion context: %s", path, err.msg);
        check_image(&ctx, model, imgs[i], have ? &insdel : NULL, worst_map, worst_auc);
        if (have) pc_insdel_context_free(&insdel);
        free(x);
    }
    for (int m = 0; m < N_METH; m++)
        printf("%s %-8s worst map diff %.2e, worst AUC diff %.2e\n", model, METHODS[m], worst_map[m], worst_auc[m]);
    if (bn) be->net_release(be, bn);
    pc_net_free(&net);
}

// Every channel dead: with a zero input, tiny_vgg's first ReLU output (features.1, 8 x 224 x 224)
// is ReLU(bias), constant per channel (zero padding equals the input), so every A_bar_k is NaN;
// torchcam then sums nothing (nansum = 0) and min-maxes a zero map to NaN. The methods must return
// rc 0 and an all-NaN map (without any masked pass).
static void check_all_dead(PcBackend *be) {
    PcError err = {{0}};
    PcNet net;
    if (fixture_net_load("tiny_vgg", &net, &err) != 0) {
        CHECK(0, "tiny_vgg: %s", err.msg);
        return;
    }
    PcMethodSettings set = {.sscam_samples = 2, .sscam_sigma = 2, .iscam_samples = 2, .cam_layer = "features.1"};
    CHECK(pc_method_settings_resolve(&set, &net, &err) == 0, "tiny_vgg: layers: %s", err.msg);
    PcBackendNet *bn = be->net_prepare(be, &net, BATCH, &err);
    float *x = xcalloc((size_t)3 * 224 * 224, sizeof(float)), *out = xmalloc((size_t)224 * 224 * sizeof(float));
    PcMethodCtx ctx = {.be = be, .bn = bn, .net = &net, .set = &set, .x = x, .size = 224, .cls = 0, .batch = BATCH};
    for (int m = 0; bn && m < N_METH; m++) {
        const PcMethodDesc *d = pc_method_find(METHODS[m]);
        int h = 0, w = 0, rc = d->native(&ctx, out, &h, &w, &err), all_nan = 1;
        for (int p = 0; p < h * w; p++) all_nan &= isnan(out[p]) != 0;
        CHECK(rc == 0 && h * w > 0 && all_nan, "%s on a zero input at features.1: rc %d, %dx%d, all NaN %d", d->id, rc, h, w, all_nan);
    }
    free(x);
    free(out);
    if (bn) be->net_release(be, bn);
    pc_net_free(&net);
}

int main(void) {
    if (!h5_exists(fix(), "/")) {
        CHECK(0, "%s missing (tools/make_forward_fixtures.py)", fix());
        return test_summary();
    }
    PcBackend *be = test_cpu_backend();
    if (!be) return test_summary();
    const char *models[] = {"tiny_vgg", "tiny_resnet", "synth_vgg", "synth_resnet"};
    for (int i = 0; i < 4; i++) check_model(be, models[i]);
    check_all_dead(be);
    be->destroy(be);
    return test_summary();
}
