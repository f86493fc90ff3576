// test_polycam_tiny.c: the whole Poly-CAM engine (SPEC §4, §6, §7) on the CPU backend against the
// reference implementation's outputs for tiny_vgg and tiny_resnet (reference_golden.h5 tiny/*),
// on both fixture images with the fixture's class: channel weights of the three variants (live
// channels), final maps, levels, isolated CAMs (at S x S: up() of the fixture's), no-LNorm maps
// and the forward-pass count.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "method_fixture.h"
#include "saliency.h"
#include "testutil.h"

#define MAP_TOL 1e-3       // final maps, levels, CAMs, no-LNorm maps: max abs
#define WEIGHT_TOL 1e-3    // channel weights: max abs / max |ref| of the layer (live channels)

static const char *const kImages[2] = {"ILSVRC2012_val_00010495.JPEG", "ILSVRC2012_val_00015410.JPEG"};

static const char *golden(void) { return fixture_path("reference_golden.h5"); }

// Channel weights of one variant and layer: max error relative to the layer's largest reference
// weight, over live channels only (dead channels are skipped: their weight does not matter).
static double weight_error(const float *w, const double *ref, int c, const unsigned char *live) {
    double err = 0, scale = 0;
    for (int k = 0; k < c; k++)
        if (live[k]) {
            err = fmax(err, fabs(w[k] - ref[k]));
            scale = fmax(scale, fabs(ref[k]));
        }
    if (isnan(err)) return INFINITY;
    return scale > 0 ? err / scale : err;
}

// The largest errors of one image, for its summary line.
typedef struct {
    int dead, channels;                     // dead channels of all target layers, and all channels
    double w[PC_N_VARIANTS];                // channel weights (relative, live channels)
    double map, level, cam, cam_rel, plain; // final maps, levels, CAMs (abs, rel), no-LNorm maps
} Worst;

// Live channels of layer l (nonzero somewhere in the target activation tap, (C, h, w) on the
// device): a (C) array of 0 / 1.
static unsigned char *live_channels(PcBackend *be, const PcTargets *tg, int l, const float *tap) {
    const int c = tg->c[l];
    const size_t hw = (size_t)tg->h[l] * tg->w[l];
    float *act = xmalloc((size_t)c * hw * sizeof *act);
    be->download(be, act, tap, (size_t)c * hw * sizeof *act);
    unsigned char *live = xcalloc((size_t)c, 1);
    for (int k = 0; k < c; k++)
        for (size_t i = 0; i < hw && !live[k]; i++) live[k] = act[k * hw + i] != 0.0f;
    free(act);
    return live;
}

// Channel weights of the three variants on live channels (found by the test from the target
// activations of one forward pass of x (3, 224, 224)), the live count and the pass count.
static void check_weights(PcBackend *be, PcBackendNet *bn, const PcTargets *tg, const char *grp, const float *x,
                          const PcExplanation *e, Worst *w) {
    PcError err = {{0}};
    const int L = tg->n_targets;
    const size_t ss = 224 * 224;
    float *taps[PC_MAX_TARGETS];
    for (int l = 0; l < L; l++)
        taps[l] = be->alloc(be, (size_t)tg->c[l] * tg->h[l] * tg->w[l] * sizeof(float));
    float *xd = be->alloc(be, 3 * ss * sizeof(float));
    be->upload(be, xd, x, 3 * ss * sizeof(float));
    CHECK(be->forward(be, bn, xd, 1, NULL, L, tg->nodes, taps, &err) == 0, "%s: forward: %s", grp, err.msg);
    for (int l = 0; l < L; l++) {
        const int c = tg->c[l];
        unsigned char *live = live_channels(be, tg, l, taps[l]);
        int n_live = 0;
        for (int k = 0; k < c; k++) n_live += live[k];
        w->dead += c - n_live;
        w->channels += c;
        for (int v = 0; v < PC_N_VARIANTS; v++) {
            char dset[512];
            snprintf(dset, sizeof dset, "%s/%s/weights/%s", grp, pc_variant_ids[v], tg->names[l]);
            size_t nw = 0;
            double *ref = h5_read_f64(golden(), dset, &nw);
            CHECK(ref && nw == (size_t)c, "%s missing or not %d values", dset, c);
            if (ref && nw == (size_t)c) {
                double d = weight_error(e->weights[v][l], ref, c, live);
                w->w[v] = fmax(w->w[v], d);
                CHECK(d <= WEIGHT_TOL, "%s: relative error %g on live channels", dset, d);
            }
            free(ref);
        }
        free(live);
    }
    for (int l = 0; l < L; l++) be->release(be, taps[l]);
    be->release(be, xd);
    CHECK(e->forward_passes == 1 + 2L * e->live_channels, "%s: %ld forward passes for %d live channels",
          grp, e->forward_passes, e->live_channels);
    CHECK(e->live_channels == w->channels - w->dead, "%s: live channel count %d, expected %d", grp,
          e->live_channels, w->channels - w->dead);
}

// One (224, 224) map against dataset dset: max abs error into *worst.
static void check_map(const char *dset, const float *map, double *worst) {
    const size_t ss = 224 * 224;
    size_t n = 0;
    float *ref = h5_read_f32(golden(), dset, &n, NULL, NULL);
    CHECK(ref && n == ss, "%s missing", dset);
    if (ref && n == ss) {
        double d = max_abs_diff_f32(map, ref, ss);
        *worst = fmax(*worst, d);
        CHECK(d <= MAP_TOL, "%s: max abs err %g", dset, d);
    }
    free(ref);
}

// Isolated CAM of variant v and layer l: the engine hands back up(C_l, S, S) (the map stored and
// evaluated); up() is a convex combination of neighbours, so the native max error bounds this one.
static void check_cam(PcBackend *be, const PcTargets *tg, const char *grp, const PcExplanation *e, int v, int l,
                      Worst *w) {
    const size_t ss = 224 * 224;
    char dset[512];
    snprintf(dset, sizeof dset, "%s/%s/isolated_cam/%s", grp, pc_variant_ids[v], tg->names[l]);
    const size_t hw = (size_t)tg->h[l] * tg->w[l];
    size_t n = 0;
    float *ref = h5_read_f32(golden(), dset, &n, NULL, NULL);
    CHECK(ref && n == hw, "%s missing or not %zu values", dset, hw);
    if (ref && n == hw) {
        float *ref_up = xmalloc(ss * sizeof(float));
        be->resample(be, ref, 1, tg->h[l], tg->w[l], 224, 224, ref_up);
        double d = max_abs_diff_f32(e->cams[v][l], ref_up, ss);
        w->cam = fmax(w->cam, d);
        w->cam_rel = fmax(w->cam_rel, max_rel_diff_f32(e->cams[v][l], ref_up, ss));
        CHECK(d <= MAP_TOL, "%s: max abs err %g", dset, d);
        free(ref_up);
    }
    free(ref);
}

// Levels: the fixture holds S_L ... S_1 (coarsest first), the engine S_1 ... S_L; the map is S_1.
static void check_levels(const PcTargets *tg, const char *grp, const PcExplanation *e, Worst *w) {
    const int L = tg->n_targets;
    const size_t ss = 224 * 224;
    char dset[512];
    size_t n = 0;
    snprintf(dset, sizeof dset, "%s/pcampm/levels", grp);
    float *levels = h5_read_f32(golden(), dset, &n, NULL, NULL);
    CHECK(levels && n == (size_t)L * ss, "%s missing or not %d levels", dset, L);
    if (levels && n == (size_t)L * ss)
        for (int i = 0; i < L; i++) {
            const int l = L - 1 - i;
            double d = max_abs_diff_f32(e->levels[PC_VARIANT_PM] + (size_t)l * ss, levels + (size_t)i * ss, ss);
            w->level = fmax(w->level, d);
            CHECK(d <= MAP_TOL, "%s[%d] (S_%d): max abs err %g", dset, i, l + 1, d);
        }
    free(levels);
    CHECK(!memcmp(e->map[PC_VARIANT_PM], e->levels[PC_VARIANT_PM], ss * sizeof(float)),
          "%s: map is not level S_1", grp);
}

static void check_image(PcBackend *be, PcBackendNet *bn, const PcNet *net, const PcTargets *tg,
                        const char *model, const char *image) {
    char path[512], grp[256];
    snprintf(grp, sizeof grp, "tiny/%s/%s", model, image);
    snprintf(path, sizeof path, "inputs/%s", image);
    size_t n = 0;
    float *x = h5_read_f32(golden(), path, &n, NULL, NULL);
    double cls_d = -1;
    CHECK(x && n == 3 * 224 * 224, "%s missing", path);
    CHECK(h5_attr_f64(golden(), grp, "class", &cls_d) == 0, "%s: no class attribute", grp);
    if (!x || cls_d < 0) {
        free(x);
        return;
    }
    PcSaliencyOptions opt;
    pc_saliency_default_options(&opt);
    PcExplanation e;
    PcError err = {{0}};
    double t0 = pc_now();
    int rc = pc_explain(be, bn, net, tg, x, (int)cls_d, &opt, &e, &err);
    double secs = pc_now() - t0;
    CHECK(rc == 0, "%s: pc_explain failed: %s", grp, err.msg);
    if (rc != 0) {
        free(x);
        return;
    }
    Worst w;
    memset(&w, 0, sizeof w);
    check_weights(be, bn, tg, grp, x, &e, &w);
    for (int v = 0; v < PC_N_VARIANTS; v++) {
        char dset[512];
        snprintf(dset, sizeof dset, "%s/%s/map", grp, pc_variant_ids[v]);
        check_map(dset, e.map[v], &w.map);
        snprintf(dset, sizeof dset, "%s/%s/map_no_lnorm", grp, pc_variant_ids[v]);
        check_map(dset, e.map_no_lnorm[v], &w.plain);
        for (int l = 0; l < tg->n_targets; l++) check_cam(be, tg, grp, &e, v, l, &w);
    }
    check_levels(tg, grp, &e, &w);

    free(x);
    printf("%s %s: class %d, s0 %.5f, %d of %d channels dead, %ld passes, %.2f s\n", model, image,
           e.cls, e.score, w.dead, w.channels, e.forward_passes, secs);
    printf("  weights rel err pcamp %.2e pcamm %.2e pcampm %.2e | maps %.2e levels %.2e "
           "cams %.2e (rel %.2e) no-lnorm %.2e\n", w.w[0], w.w[1], w.w[2], w.map,
           w.level, w.cam, w.cam_rel, w.plain);
    pc_explanation_free(&e);
}

// Engine options on one image, against the default run: the result must not depend on the batch
// (batch 1 runs the plus and minus image in separate passes, batch 3 one channel per pass), and at
// a size ratio of 2 everywhere (tiny_vgg) the paper's LNorm gives the code's maps. The same call
// twice gives the same bits.
static void check_options(PcBackend *be, PcBackendNet *bn, const PcNet *net, const PcTargets *tg,
                          const char *model, const char *image, int check_paper_lnorm) {
    char path[512];
    snprintf(path, sizeof path, "inputs/%s", image);
    size_t n = 0;
    float *x = h5_read_f32(golden(), path, &n, NULL, NULL);
    if (!x || n != 3 * 224 * 224) {
        CHECK(0, "%s missing", path);
        free(x);
        return;
    }
    const size_t ss = 224 * 224;
    PcSaliencyOptions opt;
    pc_saliency_default_options(&opt);
    opt.want_cams = opt.want_no_lnorm = 0;
    PcExplanation base, again, other;
    PcError err = {{0}};
    if (pc_explain(be, bn, net, tg, x, -1, &opt, &base, &err) != 0) {
        CHECK(0, "%s %s: %s", model, image, err.msg);
        free(x);
        return;
    }
    CHECK(pc_explain(be, bn, net, tg, x, -1, &opt, &again, &err) == 0, "%s: %s", model, err.msg);
    int same = 1;
    for (int v = 0; v < PC_N_VARIANTS; v++)
        same &= !memcmp(base.levels[v], again.levels[v], (size_t)tg->n_targets * ss * sizeof(float));
    CHECK(same, "%s %s: two identical calls give different maps", model, image);
    pc_explanation_free(&again);
    const int batches[2] = {1, 3};
    for (int b = 0; b < 2; b++) {
        opt.batch = batches[b];
        if (pc_explain(be, bn, net, tg, x, -1, &opt, &other, &err) != 0) {
            CHECK(0, "%s batch %d: %s", model, opt.batch, err.msg);
            continue;
        }
        double dw = 0, dm = 0;
        for (int v = 0; v < PC_N_VARIANTS; v++) {
            for (int l = 0; l < tg->n_targets; l++)
                dw = fmax(dw, max_rel_diff_f32(other.weights[v][l], base.weights[v][l], (size_t)tg->c[l]));
            dm = fmax(dm, max_abs_diff_f32(other.map[v], base.map[v], ss));
        }
        CHECK(other.forward_passes == base.forward_passes, "%s batch %d: %ld passes, batch 32 %ld",
              model, opt.batch, other.forward_passes, base.forward_passes);
        CHECK(dw <= 1e-5 && dm <= 1e-4, "%s batch %d differs from batch 32: weights rel %g, maps %g",
              model, opt.batch, dw, dm);
        printf("%s %s: batch %d vs 32: weights rel diff %.2e, maps %.2e\n", model, image, opt.batch, dw, dm);
        pc_explanation_free(&other);
    }
    if (check_paper_lnorm) {
        pc_saliency_default_options(&opt);
        opt.lnorm = PC_LNORM_PAPER;
        opt.want_cams = opt.want_no_lnorm = 0;
        if (pc_explain(be, bn, net, tg, x, -1, &opt, &other, &err) == 0) {
            double dm = 0;
            for (int v = 0; v < PC_N_VARIANTS; v++)
                dm = fmax(dm, max_abs_diff_f32(other.levels[v], base.levels[v], (size_t)tg->n_targets * ss));
            CHECK(dm <= 1e-5, "%s: paper LNorm at ratio 2 differs from code LNorm by %g", model, dm);
            printf("%s %s: paper vs code LNorm (ratio 2) levels max abs diff %.2e\n", model, image, dm);
            pc_explanation_free(&other);
        } else {
            CHECK(0, "%s paper LNorm: %s", model, err.msg);
        }
    }
    pc_explanation_free(&base);
    free(x);
}

static void check_model(PcBackend *be, const char *model) {
    PcError err = {{0}};
    MfNet mn;
    if (mf_net_open(be, model, 0, &mn)) return;
    const PcNet *net = &mn.net;
    char obj[128];
    snprintf(obj, sizeof obj, "tiny/%s", model);
    size_t n_names = 0;
    char **names = h5_attr_strings(golden(), obj, "target_layers", &n_names);
    CHECK(names && n_names >= 1 && n_names <= PC_MAX_TARGETS, "%s: no target_layers attribute", obj);
    char layer_names[PC_MAX_TARGETS][64];
    for (size_t i = 0; names && i < n_names && i < PC_MAX_TARGETS; i++)
        snprintf(layer_names[i], sizeof layer_names[i], "%s", names[i]);
    PcTargets tg;
    int ok = names && pc_targets_resolve(net, (int)n_names, layer_names, &tg, &err) == 0;
    CHECK(ok, "%s: targets: %s", model, err.msg);
    // the arch's default targets are the fixture's list too (SPEC §3, paper's ResNet list)
    PcTargets def;
    if (ok && pc_targets_resolve(net, 0, NULL, &def, &err) == 0) {
        int same = def.n_targets == tg.n_targets;
        for (int i = 0; same && i < tg.n_targets; i++) same = def.nodes[i] == tg.nodes[i];
        CHECK(same, "%s: default targets differ from the fixture's", model);
    }
    PcSaliencyOptions opt;
    pc_saliency_default_options(&opt);
    if (ok && mf_net_prepare(&mn, opt.batch) == 0) {
        for (int i = 0; i < 2; i++) check_image(be, mn.bn, net, &tg, model, kImages[i]);
        check_options(be, mn.bn, net, &tg, model, kImages[0], strstr(model, "vgg") != NULL);
    }
    for (size_t i = 0; names && i < n_names; i++) free(names[i]);
    free(names);
    mf_net_close(&mn);
}

int main(void) {
    PcBackend *be = test_cpu_backend();
    if (!be) return test_summary();
    check_model(be, "tiny_vgg");
    check_model(be, "tiny_resnet");
    // unknown target layers are one-line errors
    PcError err = {{0}};
    MfNet mn;
    if (mf_net_open(be, "tiny_vgg", 0, &mn) == 0) {
        char bad[1][64] = {"features.99"};
        PcTargets tg;
        CHECK(pc_targets_resolve(&mn.net, 1, bad, &tg, &err) != 0 && strstr(err.msg, "features.99"),
              "unknown layer not reported: '%s'", err.msg);
        mf_net_close(&mn);
    }
    be->destroy(be);
    return test_summary();
}
