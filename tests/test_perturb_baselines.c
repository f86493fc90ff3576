// test_perturb_baselines.c: the perturbation baselines (BASELINES.md B5) against the libraries in
// fixtures/perturb_baselines.h5 (tools/make_perturb_fixtures.py: captum 0.6.0 Occlusion, RISE
// d91ea00 re-expressed with skimage 0.19.3's resize, torch 1.13):
//   - our Philox mask draws (grids, offsets) equal the fixture's (tools/philox.py twin), and the
//     rise_masks op reproduces RISE's own skimage resize of them bit for bit;
//   - per model (tiny_vgg, tiny_resnet, synth_vgg, synth_resnet) and image: occlusion maps within
//     1e-3 of the max |value|, RISE maps (the same masks fed to RISE) within 1e-4 of the max, their
//     insertion / deletion AUCs within 2e-3 (synthetic nets, first image);
//   - RISE with our own draws vs RISE with its own np.random draws: within the library's measured
//     run-to-run spread (max over pairs of its runs).
// This test (about 40 s on 2 cores): tiny_vgg, tiny_resnet and synth_resnet on their first image
// (synth_resnet's has the AUCs and the spread); test_slow_perturb_all: every model and image.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "insdel.h"
#include "testutil.h"

#ifndef PC_PERTURB_ALL
#define PC_PERTURB_ALL 0
#endif

#define OCC_TOL 1e-3
#define RISE_TOL 1e-4
#define AUC_TOL 2e-3

static const char *fix(void) { return fixture_path("perturb_baselines.h5"); }

static double attr(const char *obj, const char *name) {
    double v = NAN;
    h5_attr_f64(fix(), obj, name, &v);
    return v;
}

// The fixture's RISE masks: our draws equal its grids and offsets, our resize equals skimage's.
static void test_masks(PcBackend *be, const PcMethodSettings *set) {
    size_t n = 0;
    int64_t dims[8];
    int nd = 0;
    unsigned char *fgrid = h5_read_u8(fix(), "rise_masks/grid", &n, dims, &nd);
    const int N = set->rise_masks, c = set->rise_cells, S = 224;
    CHECK(fgrid && n == (size_t)N * c * c, "rise_masks/grid: %zu values, want %d", n, N * c * c);
    int64_t *foff = h5_read_i64(fix(), "rise_masks/offsets", &n);
    CHECK(foff && n == (size_t)2 * N, "rise_masks/offsets missing");
    if (!fgrid || !foff) return;
    unsigned char *grid = xmalloc((size_t)N * c * c);
    int *off = xmalloc((size_t)2 * N * sizeof(int));
    pc_rise_draw(set, S, 0, N, grid, off);
    size_t gbad = 0, obad = 0;
    for (size_t i = 0; i < (size_t)N * c * c; i++) gbad += grid[i] != fgrid[i];
    for (int i = 0; i < 2 * N; i++) obad += off[i] != foff[i];
    CHECK(gbad == 0 && obad == 0, "our RISE draws: %zu grid cells and %zu offsets differ from tools/philox.py's", gbad,
          obad);
    // the fixture keeps the first M masks (file size)
    float *fm = h5_read_f32(fix(), "rise_masks/masks", &n, dims, &nd);
    const int M = fm && nd == 3 ? (int)dims[0] : 0;
    CHECK(M > 0 && M <= N && n == (size_t)M * S * S, "rise_masks/masks missing");
    if (M > 0 && M <= N && n == (size_t)M * S * S) {
        int cell, up;
        pc_rise_geometry(c, S, &cell, &up);
        float *m = xmalloc(n * sizeof(float));
        be->rise_masks(be, fgrid, off, M, c, up, S, m);
        size_t bad = 0;
        double dmax = 0;
        for (size_t i = 0; i < n; i++)
            if (m[i] != fm[i]) bad++, dmax = fmax(dmax, fabs((double)m[i] - fm[i]));
        printf("rise_masks vs skimage resize: %zu of %zu values differ (max abs %.3g)\n", bad, n, dmax);
        CHECK(bad == 0, "rise_masks: %zu of %zu values differ from skimage's resize (max abs %.3g)", bad, n, dmax);
        free(m);
    }
    free(fm), free(grid), free(off), free(fgrid), free(foff);
}

// max |a - ref| / max |ref|
static double rel_diff(const float *a, const float *ref, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - ref[i])), r = fmax(r, fabs(ref[i]));
    return r > 0 ? d / r : d;
}

static void check_method(PcMethodCtx *ctx, const char *grp, const char *id, double tol, PcInsDelContext *insdel,
                         double *worst_map, double *worst_auc) {
    const size_t ss = (size_t)ctx->size * ctx->size;
    float *map = xmalloc(ss * sizeof(float));
    PcError err = {{0}};
    double t0 = pc_now();
    int rc = pc_method_compute(pc_method_find(id), ctx, map, &err);
    double secs = pc_now() - t0;
    CHECK(rc == 0, "%s %s: %s", grp, id, err.msg);
    char path[512];
    snprintf(path, sizeof path, "%s/%s/map", grp, id);
    size_t n = 0;
    float *ref = h5_read_f32(fix(), path, &n, NULL, NULL);
    CHECK(ref && n == ss, "%s missing", path);
    if (rc == 0 && ref && n == ss) {
        double d = rel_diff(map, ref, ss);
        *worst_map = fmax(*worst_map, d);
        CHECK(d <= tol, "%s: max diff %.3g of the max |value| (tolerance %.0e)", path, d, tol);
        printf("%s %-9s map diff %.2e  %.2f s\n", grp, id, d, secs);
    }
    snprintf(path, sizeof path, "%s/%s", grp, id);
    double ins_ref = attr(path, "ins_auc"), del_ref = attr(path, "del_auc");
    if (rc == 0 && insdel && !isnan(ins_ref)) {
        double ins = 0, del = 0;
        rc = pc_insdel_context_eval(insdel, ctx->bn, map, ctx->size, ctx->size, ctx->cls, NULL, &ins, NULL, &del, NULL,
                                    &err);
        CHECK(rc == 0, "%s: insertion/deletion: %s", path, err.msg);
        CHECK(fabs(ins - ins_ref) <= AUC_TOL, "%s: insertion AUC %.5f, library %.5f", path, ins, ins_ref);
        CHECK(fabs(del - del_ref) <= AUC_TOL, "%s: deletion AUC %.5f, library %.5f", path, del, del_ref);
        *worst_auc = fmax(*worst_auc, fmax(fabs(ins - ins_ref), fabs(del - del_ref)));
    }
    // RISE with our own draws vs RISE's own np.random draws: within its run-to-run spread
    snprintf(path, sizeof path, "%s/rise/library_own_draws", grp);
    float *own = !strcmp(id, "rise") ? h5_read_f32(fix(), path, &n, NULL, NULL) : NULL;
    if (own && n == ss) {
        snprintf(path, sizeof path, "%s/rise", grp);
        double spread = attr(path, "library_spread_max_abs"), d = 0;
        for (size_t i = 0; i < ss; i++) d = fmax(d, fabs((double)map[i] - own[i]));
        printf("%s rise own draws vs RISE's own: max abs %.3g, RISE's run-to-run spread %.3g\n", grp, d, spread);
        CHECK(d <= spread, "%s: our draws differ from RISE's by %.3g, more than its own spread %.3g", grp, d, spread);
    }
    free(own), free(ref), free(map);
}

static void check_model(PcBackend *be, const char *model, const PcMethodSettings *set, double worst[4]) {
    PcError err = {{0}};
    PcNet net;
    if (fixture_net_load(model, &net, &err) != 0) {
        CHECK(0, "%s: %s", model, err.msg);
        return;
    }
    PcInsDelOptions iopt;
    pc_insdel_default_options(&iopt);
    const int batch = 32 > iopt.batch ? 32 : iopt.batch;
    PcBackendNet *bn = be->net_prepare(be, &net, batch, &err);
    CHECK(bn != NULL, "%s: net_prepare: %s", model, err.msg);
    const char *tiny_imgs[] = {"ILSVRC2012_val_00010495.JPEG", "ILSVRC2012_val_00015410.JPEG"};
    const char *synth_imgs[] = {"synth_000.jpg", "synth_001.jpg", "synth_002.jpg", "synth_003.jpg"};
    // PC_PERTURB_ALL (test_slow_perturb_all): every image of the fixture; else the first
    const int tiny = !strncmp(model, "tiny", 4);
    for (int i = 0; bn && i < (!PC_PERTURB_ALL ? 1 : tiny ? 2 : 4); i++) {
        char grp[256], path[300];
        snprintf(grp, sizeof grp, "%s/%s", model, tiny ? tiny_imgs[i] : synth_imgs[i]);
        snprintf(path, sizeof path, "%s/input", grp);   // X: baselines.h5's (same images and code)
        size_t n = 0;
        float *x = h5_read_f32(fixture_path("baselines.h5"), path, &n, NULL, NULL);
        double cls = attr(grp, "class"), pos = attr(grp, "image_index");
        CHECK(x && n == 3 * 224 * 224 && cls >= 0, "%s: input or class missing", grp);
        if (!x || n != 3 * 224 * 224 || !(cls >= 0)) {
            free(x);
            continue;
        }
        PcMethodCtx ctx = {.be = be, .bn = bn, .net = &net, .set = set, .x = x, .size = 224, .cls = (int)cls,
                           .image = (uint32_t)pos, .batch = batch};
        snprintf(path, sizeof path, "%s/occlusion", grp);
        double steps = attr(path, "auc_steps");
        PcInsDelContext insdel;
        int have = 0;
        if (steps >= 1) {
            iopt.steps = (int)steps;
            have = pc_insdel_context_init(be, &net, x, &iopt, &insdel, &err) == 0;
            CHECK(have, "%s: insertion/deletion context: %s", grp, err.msg);
        }
        check_method(&ctx, grp, "occlusion", OCC_TOL, have ? &insdel : NULL, &worst[0], &worst[1]);
        check_method(&ctx, grp, "rise", RISE_TOL, have ? &insdel : NULL, &worst[2], &worst[3]);
        if (have) pc_insdel_context_free(&insdel);
        free(x);
    }
    if (bn) be->net_release(be, bn);
    pc_net_free(&net);
}

int main(void) {
    if (!h5_exists(fix(), "/")) {
        CHECK(0, "%s missing (tools/make_perturb_fixtures.py)", fix());
        return test_summary();
    }
    PcMethodSettings set = {.seed = 0, .rise_masks = (int)attr("/", "rise_masks"),
                            .rise_cells = (int)attr("/", "rise_cells"), .rise_p = attr("/", "rise_p"),
                            .occ_window = (int)attr("/", "occ_window"), .occ_stride = (int)attr("/", "occ_stride")};
    CHECK(set.rise_masks > 0 && set.rise_cells > 0 && set.occ_window == 64 && set.occ_stride == 8,
          "fixture settings: masks %d cells %d window %d stride %d", set.rise_masks, set.rise_cells, set.occ_window,
          set.occ_stride);
    PcBackend *be = test_cpu_backend();
    if (!be) return test_summary();
    test_masks(be, &set);
    const char *models[] = {"tiny_vgg", "tiny_resnet", "synth_resnet", "synth_vgg"};
    for (int i = 0; i < (PC_PERTURB_ALL ? 4 : 3); i++) {
        double worst[4] = {0};
        check_model(be, models[i], &set, worst);
        printf("%s: occlusion worst map diff %.2e, AUC diff %.2e; rise worst map diff %.2e, AUC diff %.2e\n",
               models[i], worst[0], worst[1], worst[2], worst[3]);
    }
    be->destroy(be);
    return test_summary();
}
