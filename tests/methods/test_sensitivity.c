// test_sensitivity.c: sensitivity-max (host/metrics/sensitivity.h, BASELINES.md B6).
//  * against captum 0.6.0's sensitivity_max in fixtures/sensitivity.h5
//    (tools/make_sensitivity_fixtures.py) on tiny_vgg and tiny_resnet, img0: gradcam (torchcam),
//    ixg, ig (captum, unsummed, 10 points), smoothgrad (captum, 10 noisy copies, new noise per
//    call) and pcampm (the reference's PCAMpm), fed the same Philox perturbations (3 per image, to
//    keep the test short): within 1e-4 (relative above 1);
//  * the perturbations: bit-equal to the fixture's first draw, and statistically uniform on
//    [-r, r] (range, mean, variance) with fresh draws per sample and image;
//  * the ratio's edge cases on a toy explanation function: zero clean map (denominator 1), NaN;
//  * the values through the journal record and the HDF5 layout (write, read back);
//  * avg-sensitivity (the mean of the same ratios) against Quantus 0.6.0's AvgSensitivity fed the
//    same perturbations and explanation calls (fixtures/metrics_loc.h5,
//    tools/make_metric_fixtures2.py), within the same 1e-4, on the toy function exactly.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "sensitivity.h"
#include "testutil.h"

#define SENS_TOL 1e-4
#define SAMPLES 3       // the fixture's perturbations per image
static const char *fix(void) { return fixture_path("sensitivity.h5"); }

// ---- perturbations -----------------------------------------------------------------------------

static void test_delta_statistics(void) {
    const size_t n = 3 * 224 * 224;
    const float r = 0.02f;
    float *d = xmalloc(n * sizeof(float)), *d2 = xmalloc(n * sizeof(float));
    for (int j = 0; j < 3; j++) {
        pc_sensitivity_delta(7, 3, j, r, n, d);
        double s = 0, s2 = 0, lo = 1, hi = -1;
        for (size_t i = 0; i < n; i++) {
            s += d[i], s2 += (double)d[i] * d[i];
            lo = fmin(lo, d[i]), hi = fmax(hi, d[i]);
        }
        const double mean = s / n, var = s2 / n - mean * mean, sd = r / sqrt(3.0);
        // uniform on [-r, r): mean 0 (sd of the mean r / sqrt(3 n)), variance r^2 / 3
        CHECK(lo >= -r && hi < r && lo < -0.999 * r && hi > 0.999 * r, "delta %d: range [%g, %g]", j, lo, hi);
        CHECK(fabs(mean) < 5 * sd / sqrt((double)n), "delta %d: mean %.3g", j, mean);
        CHECK(fabs(var / (sd * sd) - 1) < 0.02, "delta %d: variance %.4g, expected %.4g", j, var, sd * sd);
    }
    pc_sensitivity_delta(7, 3, 0, r, n, d);
    pc_sensitivity_delta(7, 3, 1, r, n, d2);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) same += d[i] == d2[i];
    CHECK(same < n / 1000, "perturbations 0 and 1 share %zu of %zu values", same, n);
    pc_sensitivity_delta(7, 4, 0, r, n, d2);
    same = 0;
    for (size_t i = 0; i < n; i++) same += d[i] == d2[i];
    CHECK(same < n / 1000, "images 3 and 4 share %zu of %zu values", same, n);
    CHECK(pc_sensitivity_call_seed(7, 0) == 7 && pc_sensitivity_call_seed(7, 1) != 7 &&
              pc_sensitivity_call_seed(7, 1) != pc_sensitivity_call_seed(7, 2),
          "call seeds: the clean call keeps the run's seed, every call its own");
    free(d);
    free(d2);
}

// ---- the ratio on a toy explanation: E(x) = mode 0: x, 1: zeros when clean, 2: NaN -------------

typedef struct {
    int mode;
    size_t n;
} Toy;

static int toy_explain(void *user, const float *x, int call, float *const *out, PcError *err) {
    (void)err;
    const Toy *t = user;
    for (size_t i = 0; i < t->n; i++)
        out[0][i] = t->mode == 0 ? x[i] : t->mode == 1 ? (call ? x[i] : 0.0f) : (call == 2 ? NAN : x[i]);
    return 0;
}

static void test_ratio(void) {
    const size_t n = 300;
    float x[300], d[300];
    for (size_t i = 0; i < n; i++) x[i] = (float)i / 100 - 1;
    double xn = 0, want = 0, want0 = 0, mean = 0, mean0 = 0;
    for (size_t i = 0; i < n; i++) xn += (double)x[i] * x[i];
    for (int j = 0; j < 4; j++) {   // E = identity: ||d_j|| / ||x||; zero clean map: ||x + d_j|| / 1
        pc_sensitivity_delta(1, 2, j, 0.02f, n, d);
        double s = 0, s0 = 0;
        for (size_t i = 0; i < n; i++) {
            const float xp = x[i] + d[i];
            s += ((double)xp - x[i]) * ((double)xp - x[i]);
            s0 += (double)xp * xp;
        }
        want = fmax(want, sqrt(s / xn));
        want0 = fmax(want0, sqrt(s0));
        mean += sqrt(s / xn) / 4, mean0 += sqrt(s0) / 4;
    }
    double sens = 0, avg = 0;
    PcError err = {{0}};
    for (int mode = 0; mode < 3; mode++) {
        Toy t = {mode, n};
        int rc = pc_sensitivity_max(toy_explain, &t, 1, &n, NULL, x, n, 4, 0.02f, 1, 2, &sens, &avg, &err);
        const double w = mode == 0 ? want : mode == 1 ? want0 : NAN, wa = mode == 0 ? mean : mode == 1 ? mean0 : NAN;
        CHECK(rc == 0 && (mode == 2 ? isnan(sens) : fabs(sens - w) <= 1e-12 * w),
              "toy mode %d: sens %.17g, expected %.17g", mode, sens, w);
        CHECK(rc == 0 && (mode == 2 ? isnan(avg) : fabs(avg - wa) <= 1e-12 * wa && avg < sens),
              "toy mode %d: avg-sensitivity %.17g, expected %.17g (the mean of the same ratios)", mode, avg, wa);
    }
}

// ---- storage: the journal record and the HDF5 datasets carry the values --------------------------

static void test_storage(void) {
    char ids[2][PC_METHOD_ID_LEN] = {"pcampm", "gradcam"};
    PcStoreLayout l = {.n_images = 2, .size = 4, .steps = 3, .n_methods = 2, .method_ids = ids, .maps = PC_MAPS_F32,
                       .insertion = 1, .deletion = 0, .sensitivity = 1, .sensitivity_avg = 1};
    PcImageResult a, b;
    pc_result_init(&a, &l);
    pc_result_init(&b, &l);
    pc_result_reset(&a, &l, 1);
    CHECK(isnan(a.sens[0]) && isnan(a.sens[1]), "a reset result has NaN sensitivities");
    CHECK(isnan(a.sens_avg[0]) && isnan(a.sens_avg[1]), "a reset result has NaN avg-sensitivities");
    a.sens[0] = 0.125, a.sens[1] = 3.5;
    a.sens_avg[0] = 0.0625, a.sens_avg[1] = 1.75;
    unsigned char *rec = xmalloc(pc_result_bytes(&l));
    pc_result_pack(&l, &a, rec);
    pc_result_unpack(&l, rec, &b);
    CHECK(b.sens[0] == 0.125 && b.sens[1] == 3.5, "journal record round trip: %g %g", b.sens[0], b.sens[1]);
    CHECK(b.sens_avg[0] == 0.0625 && b.sens_avg[1] == 1.75, "journal record round trip of avg: %g %g", b.sens_avg[0],
          b.sens_avg[1]);
    char path[512];
    snprintf(path, sizeof path, "%s/test_sensitivity_%d.h5", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    char *names[2] = {"a.jpg", "b.jpg"};
    int labels[2] = {-1, -1}, index[2] = {0, 1};
    PcStoreImages im = {.names = names, .labels = labels, .list_index = index};
    PcStoreMeta meta = {.config = "", .config_key = "", .config_source = "", .version = "t", .libraries = "",
                        .device = "", .weights_checksum = ""};
    PcError err = {{0}};
    PcLayoutWriter *w = pc_layout_create(path, &l, &im, &meta, "k", "now", &err);
    CHECK(w && pc_layout_write(w, &a, 1, &err) == 0 && pc_layout_finish(w, &err) == 0, "layout write: %s", err.msg);
    PcResultFile rf;
    int rc = pc_results_open(&rf, path, &err);
    CHECK(rc == 0 && rf.layout.sensitivity, "read back: sensitivity flag (%s)", err.msg);
    double *v = rc == 0 ? pc_results_extra(&rf, 1, "sensitivity") : NULL;
    CHECK(v && isnan(v[0]) && v[1] == 3.5, "/methods/gradcam/sensitivity = [NaN, 3.5]");
    free(v);
    CHECK(rc == 0 && rf.layout.sensitivity_avg, "read back: sensitivity_avg flag");
    v = rc == 0 ? pc_results_extra(&rf, 1, "sensitivity_avg") : NULL;
    CHECK(v && isnan(v[0]) && v[1] == 1.75, "/methods/gradcam/sensitivity_avg = [NaN, 1.75]");
    free(v);
    pc_result_reset(&b, &l, 0);
    CHECK(rc == 0 && pc_results_read(&rf, 1, &b, &err) == 0 && b.sens[0] == 0.125, "pc_results_read: %s", err.msg);
    if (rc == 0) pc_results_close(&rf);
    unlink(path);
    free(rec);
    pc_result_free(&a);
    pc_result_free(&b);
}

// ---- against captum ---------------------------------------------------------------------------

static const float *pick_pm(const void *user, const PcExplanation *e, int k) {
    (void)user, (void)k;
    return e->map[PC_VARIANT_PM];
}

static int polycam_sens(const PcMethodCtx *ctx, double *sens, double *avg, PcError *err) {
    PcTargets tg;
    if (pc_targets_resolve(ctx->net, 0, NULL, &tg, err)) return -1;
    PcSaliencyOptions sopt;
    pc_saliency_default_options(&sopt);
    sopt.batch = ctx->batch;
    sopt.want_levels = sopt.want_cams = sopt.want_no_lnorm = 0;
    PcExplanation e;
    memset(&e, 0, sizeof e);
    if (pc_explain(ctx->be, ctx->bn, ctx->net, &tg, ctx->x, ctx->cls, &sopt, &e, err)) return -1;
    int rc = pc_sensitivity_polycam(ctx, &tg, &sopt, &e, 1, pick_pm, NULL, SAMPLES, 0.02f, sens, avg, err);
    pc_explanation_free(&e);
    return rc;
}

static void check_model(PcBackend *be, const char *model) {
    static const char *const ids[] = {"gradcam", "ixg", "ig", "smoothgrad", "pcampm"};
    const char *img = "ILSVRC2012_val_00010495.JPEG";
    char path[256];
    PcError err = {{0}};
    PcNet net;
    if (fixture_net_load(model, &net, &err)) {
        CHECK(0, "%s: %s", model, err.msg);
        return;
    }
    PcMethodSettings set = {.ig_steps = 10, .smoothgrad_samples = 10, .smoothgrad_sigma = 1.0f, .sgcampp_samples = 4,
                            .sgcampp_sigma = 0.3f, .seed = 0};
    CHECK(pc_method_settings_resolve(&set, &net, &err) == 0, "%s: %s", model, err.msg);
    PcBackendNet *bn = be->net_prepare(be, &net, 16, &err);
    snprintf(path, sizeof path, "%s/%s/input", model, img);
    size_t n = 0;
    float *x = h5_read_f32(fix(), path, &n, NULL, NULL);
    snprintf(path, sizeof path, "%s/%s/delta0", model, img);
    size_t nd = 0;
    float *d0 = h5_read_f32(fix(), path, &nd, NULL, NULL), *ours = xmalloc(3 * 224 * 224 * sizeof(float));
    double cls = -1, pos = -1;
    snprintf(path, sizeof path, "%s/%s", model, img);
    h5_attr_f64(fix(), path, "class", &cls);
    h5_attr_f64(fix(), path, "image_index", &pos);
    CHECK(bn && x && n == 3 * 224 * 224 && d0 && nd == 4096 && cls >= 0 && pos >= 0, "%s: fixture or net missing",
          path);
    if (d0 && nd == 4096) {   // the fixture keeps the first 4096 values of d_0
        pc_sensitivity_delta(0, (uint32_t)pos, 0, 0.02f, nd, ours);
        CHECK(!memcmp(ours, d0, nd * sizeof(float)), "%s: our first perturbation differs from the fixture's", path);
    }
    PcMethodCtx ctx = {.be = be, .bn = bn, .net = &net, .set = &set, .x = x, .size = 224, .cls = (int)cls,
                       .image = (uint32_t)pos, .batch = 16};
    for (int m = 0; bn && x && n == 3 * 224 * 224 && m < 5; m++) {
        double ref = NAN, sens = NAN, avg = NAN, qavg = NAN, qmax = NAN, t0 = pc_now();
        snprintf(path, sizeof path, "%s/%s/%s", model, img, ids[m]);
        h5_attr_f64(fix(), path, "sens", &ref);
        int rc = m == 4 ? polycam_sens(&ctx, &sens, &avg, &err)
                        : pc_sensitivity_method(pc_method_find(ids[m]), &ctx, SAMPLES, 0.02f, &sens, &avg, &err);
        // avg-sensitivity against Quantus 0.6.0's AvgSensitivity fed the same perturbations
        // (metrics_loc.h5, tools/make_metric_fixtures2.py); its max is captum's of the same calls
        char qpath[256];
        snprintf(qpath, sizeof qpath, "avg_sensitivity/%s/%s", model, ids[m]);
        h5_attr_f64(fixture_path("metrics_loc.h5"), qpath, "avg", &qavg);
        h5_attr_f64(fixture_path("metrics_loc.h5"), qpath, "max", &qmax);
        CHECK(fabs(qmax - ref) <= SENS_TOL * fmax(1, fabs(ref)), "%s: metrics_loc.h5's captum max %.6g, sensitivity.h5's "
              "%.6g: not the same calls", qpath, qmax, ref);
        CHECK(fabs(avg - qavg) <= SENS_TOL * fmax(1, fabs(qavg)), "%s: avg-sensitivity %.6g, Quantus %.6g (diff %.2g)",
              qpath, avg, qavg, avg - qavg);
        printf("%s %-10s avg-sensitivity %.6f Quantus %.6f diff %.2e\n", model, ids[m], avg, qavg, avg - qavg);
        CHECK(rc == 0, "%s: %s", path, err.msg);
        CHECK(fabs(sens - ref) <= SENS_TOL * fmax(1, fabs(ref)), "%s: sensitivity %.6g, captum %.6g (diff %.2g)", path,
              sens, ref, sens - ref);
        printf("%s %-10s sens %.6f captum %.6f diff %.2e  %.1f s\n", model, ids[m], sens, ref, sens - ref,
               pc_now() - t0);
    }
    double quirk = NAN;
    snprintf(path, sizeof path, "%s/%s/smoothgrad_as_reference", model, img);
    h5_attr_f64(fix(), path, "sens", &quirk);
    printf("%s smoothgrad as the reference called captum ((1, S, S) output: smallest row norm as denominator): "
           "%.6f\n", model, quirk);
    free(x);
    free(d0);
    free(ours);
    if (bn) be->net_release(be, bn);
    pc_net_free(&net);
}

int main(void) {
    test_delta_statistics();
    test_ratio();
    test_storage();
    if (!h5_exists(fix(), "/")) {
        CHECK(0, "%s missing (tools/make_sensitivity_fixtures.py)", fix());
        return test_summary();
    }
    PcBackend *be = test_cpu_backend();
    if (!be) return test_summary();
    check_model(be, "tiny_vgg");
    check_model(be, "tiny_resnet");
    be->destroy(be);
    return test_summary();
}
