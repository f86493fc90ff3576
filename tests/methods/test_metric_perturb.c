// test_metric_perturb.c: the perturbation metrics (host/metric_perturb.h, docs/metrics.md) on the
// CPU backend against fixtures/metrics_perturb.h5 (tools/make_metric_fixtures.py: pytorch-grad-cam
// 1.5.7, Quantus 0.6.0, torchcam 0.4.0, torch 1.13), on synth_vgg and synth_resnet, the first
// fixture image of each (PC_METRIC_ALL: every image):
//   - ROAD: the class score after each imputation (9 percentages, MoRF and LeRF) within 1e-4 of
//     pytorch-grad-cam's NoisyLinearImputer and of Quantus's noisy_linear_imputation, both fed the
//     same removal sets and Philox noise; whether the class stays top-1 equal to the library's;
//   - pixel flipping (black, mean, blur, uniform; MoRF, LeRF): every point of the curve within 1e-4 of
//     Quantus PixelFlipping at its pixel-complete steps;
//   - region perturbation (same baselines and orders, patch 16, 20 steps): within 1e-4 of Quantus
//     RegionPerturbation;
//   - Average Drop / Increase in Confidence / Average Gain: O within 1e-4 of the libraries', the
//     paper's drop / increase / gain, pytorch-grad-cam's and torchcam's own forms from our Y and O.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metric_perturb.h"
#include "testutil.h"

#ifndef PC_METRIC_ALL
#define PC_METRIC_ALL 0
#endif

#define TOL 1e-4

static const char *fix(void) { return fixture_path("metrics_perturb.h5"); }

static double attr(const char *obj, const char *name) {
    double v = NAN;
    h5_attr_f64(fix(), obj, name, &v);
    return v;
}

// max |got - ref| over n values of dataset path; checked against TOL.
static double compare(const char *path, const float *got, int n) {
    size_t k = 0;
    float *ref = h5_read_f32(fix(), path, &k, NULL, NULL);
    CHECK(ref && k == (size_t)n, "%s: %zu values, want %d", path, k, n);
    double d = ref && k == (size_t)n ? 0 : INFINITY;
    for (int i = 0; ref && k == (size_t)n && i < n; i++) d = fmax(d, fabs((double)got[i] - ref[i]));
    CHECK(d <= TOL, "%s: max diff %.3g (tolerance %.0e)", path, d, TOL);
    free(ref);
    return d;
}

static void check_road(const char *grp, const PcPerturbResult *r, double *worst) {
    char path[400];
    for (int lerf = 0; lerf < 2; lerf++) {
        const char *o = lerf ? "lerf" : "morf";
        snprintf(path, sizeof path, "%s/road/%s_scores", grp, o);
        *worst = fmax(*worst, compare(path, r->road_score[lerf], 9));
        snprintf(path, sizeof path, "%s/road/quantus_%s_scores", grp, o);
        *worst = fmax(*worst, compare(path, r->road_score[lerf], 9));
        snprintf(path, sizeof path, "%s/road/%s_correct", grp, o);
        size_t k = 0;
        int64_t *ok = h5_read_i64(fix(), path, &k);
        int bad = 0;
        for (int j = 0; ok && k == 9 && j < 9; j++) bad += (int)ok[j] != r->road_top1[lerf][j];
        CHECK(ok && k == 9 && bad == 0, "%s: %d of 9 top-1 flags differ", path, bad);
        free(ok);
    }
    snprintf(path, sizeof path, "%s/road", grp);
    printf("  ROAD: max diff %.2e; library run-to-run spread %.2e; grad-cam ROADCombined as is %.4f\n", *worst,
           attr(path, "lib_spread_max_abs"), attr(path, "lib_gradcam_combined"));
}

static void check_adcc(const char *grp, const PcPerturbResult *r) {
    char path[400];
    snprintf(path, sizeof path, "%s/adcc", grp);
    const double y = attr(path, "score"), o = r->masked_score;
    CHECK(fabs(o - attr(path, "masked_score")) <= TOL, "%s: O %.6f, libraries %.6f", path, o,
          attr(path, "masked_score"));
    CHECK(fabs(r->drop - attr(path, "drop")) <= TOL, "%s: drop %.6f, paper %.6f", path, r->drop, attr(path, "drop"));
    CHECK(fabs(r->gain - attr(path, "gain")) <= TOL, "%s: gain %.6f, paper %.6f", path, r->gain, attr(path, "gain"));
    CHECK(r->increase == (int)attr(path, "increase"), "%s: increase %d", path, r->increase);
    CHECK(r->increase == (int)attr(path, "gradcam_increase") && r->increase == (int)attr(path, "torchcam_increase"),
          "%s: increase %d differs from the libraries'", path, r->increase);
    // the libraries' own forms of the drop from the same Y and O
    CHECK(fabs(fmax(0.0, y - o) - attr(path, "gradcam_drop")) <= TOL, "%s: pytorch-grad-cam drop", path);
    CHECK(fabs(fmax(0.0, y - o) / (y + 1e-7) - attr(path, "torchcam_drop")) <= TOL, "%s: torchcam drop", path);
    printf("  AD/IC/AG: Y %.5f O %.5f drop %.5f increase %d gain %.5f\n", y, o, r->drop, r->increase, r->gain);
}

static void check_image(PcBackend *be, PcBackendNet *bn, const PcNet *net, const char *grp) {
    char path[400];
    size_t n = 0;
    snprintf(path, sizeof path, "%s/input", grp);
    float *x = h5_read_f32(fix(), path, &n, NULL, NULL);
    snprintf(path, sizeof path, "%s/map", grp);
    size_t nm = 0;
    float *map = h5_read_f32(fix(), path, &nm, NULL, NULL);
    const double cls = attr(grp, "class"), image = attr(grp, "image_index");
    CHECK(x && n == 3 * 224 * 224 && map && nm == 224 * 224 && cls >= 0, "%s: input, map or class missing", grp);
    if (!x || n != 3 * 224 * 224 || !map || nm != 224 * 224 || !(cls >= 0)) {
        free(x), free(map);
        return;
    }
    PcPerturbOptions opt;
    pc_perturb_default_options(&opt);
    opt.road = opt.flip = opt.region = opt.adcc = 1;
    opt.flip_pixels = (int)attr("/", "flip_pixels");
    opt.region_patch = (int)attr("/", "region_patch");
    opt.region_steps = (int)attr("/", "region_steps");
    const int T = pc_perturb_flip_steps(&opt, 224), R = pc_perturb_region_steps(&opt, 224);
    PcPerturbContext ctx;
    PcError err = {{0}};
    int rc = pc_perturb_context_init(be, bn, net, x, (uint32_t)image, &opt, &ctx, &err);
    CHECK(rc == 0, "%s: context: %s", grp, err.msg);
    PcPerturbResult res;
    memset(&res, 0, sizeof res);
    float *curves = xmalloc((size_t)2 * (T + R) * sizeof(float));
    res.flip[0] = curves, res.flip[1] = curves + T, res.region[0] = curves + 2 * T, res.region[1] = curves + 2 * T + R;
    double worst_road = 0, worst_flip = 0, worst_region = 0;
    for (int b = 0; rc == 0 && b < 4; b++) {
        ctx.opt.road = ctx.opt.adcc = b == 0;   // once per image
        ctx.opt.flip_base = ctx.opt.region_base = (PcPerturbBaseline)b;
        double t0 = pc_now();
        rc = pc_perturb_eval(&ctx, bn, map, (int)cls, &res, NULL, &err);
        CHECK(rc == 0, "%s: eval (%s): %s", grp, pc_perturb_baseline_names[b], err.msg);
        if (rc) break;
        printf("  %-7s %.2f s\n", pc_perturb_baseline_names[b], pc_now() - t0);
        if (b == 0) check_road(grp, &res, &worst_road), check_adcc(grp, &res);
        for (int lerf = 0; lerf < 2; lerf++) {
            const char *o = lerf ? "lerf" : "morf", *bn_ = pc_perturb_baseline_names[b];
            snprintf(path, sizeof path, "%s/flip/%s/%s_scores", grp, bn_, o);
            worst_flip = fmax(worst_flip, compare(path, res.flip[lerf], T));
            snprintf(path, sizeof path, "%s/region/%s/%s_curve", grp, bn_, o);
            worst_region = fmax(worst_region, compare(path, res.region[lerf], R));
        }
    }
    printf("%s: worst diff ROAD %.2e, pixel flipping %.2e, region perturbation %.2e\n", grp, worst_road, worst_flip,
           worst_region);
    if (rc == 0) pc_perturb_context_free(&ctx);
    free(curves), free(x), free(map);
}

int main(void) {
    if (!h5_exists(fix(), "/")) {
        CHECK(0, "%s missing (tools/make_metric_fixtures.py)", fix());
        return test_summary();
    }
    PcBackend *be = test_cpu_backend();
    if (!be) return test_summary();
    const char *models[] = {"synth_vgg", "synth_resnet"};
    const char *imgs[] = {"synth_000.jpg", "synth_001.jpg"};
    for (int m = 0; m < 2; m++) {
        PcError err = {{0}};
        PcNet net;
        if (fixture_net_load(models[m], &net, &err) != 0) {
            CHECK(0, "%s: %s", models[m], err.msg);
            continue;
        }
        PcBackendNet *bn = be->net_prepare(be, &net, 32, &err);
        CHECK(bn != NULL, "%s: net_prepare: %s", models[m], err.msg);
        for (int i = 0; bn && i < (PC_METRIC_ALL ? 2 : 1); i++) {
            char grp[128];
            snprintf(grp, sizeof grp, "%s/%s", models[m], imgs[i]);
            check_image(be, bn, &net, grp);
        }
        if (bn) be->net_release(be, bn);
        pc_net_free(&net);
    }
    be->destroy(be);
    return test_summary();
}
