// test_metrics_loc.c: the localisation measures beside SPEC §10 (host/metrics/localisation.h) and the
// independent randomisation of the sanity check (host/metrics/sanity.h), against
// fixtures/metrics_loc.h5 (tools/make_metric_fixtures2.py):
//  * on the reference maps and masks of fixtures/synthetic.h5 (synth_vgg, synth_resnet; gradcam,
//    pcamp, pcamm, pcampm; 16 images each) and on hand-made cases (ties at the maximum, a maximum
//    14 / 15 / 16 px from the object, signed maps, an empty mask, a zero map):
//      - pointing with 15 px: TorchRay 6a198ee's PointingGame.evaluate, every image equal;
//      - pointing with 0 px (SPEC §10): Quantus 0.6.0's PointingGame where the map has a single
//        maximum (Quantus counts a hit for any of tied maxima, and for an empty mask, #296 ff.);
//      - rank accuracy: Quantus's formula with a stable sort exactly, Quantus's RelevanceRankAccuracy
//        where no tie crosses the K-th place (there its quicksort order decides);
//      - energy in mask: Quantus's RelevanceMassAccuracy within 1e-4 (a non-empty mask);
//  * independent randomisation: synth_vgg, each Conv / Linear layer re-initialised alone on the
//    original weights (the Philox draws of the cascade), gradcam and ixg maps of the original
//    class, Spearman of |map| to the original map: Quantus 0.6.0's MPRT(layer_order =
//    "independent") with those draws, within 1e-4 per layer.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "localisation.h"
#include "methods.h"
#include "sanity.h"
#include "similarity.h"
#include "testutil.h"

#define S 224
static const char *fx(void) { return fixture_path("metrics_loc.h5"); }

// Compares our measures with the fixture group grp for n maps / masks.
static void check_group(const char *grp, const float *maps, const unsigned char *masks, int n, char **names) {
    char p[256];
    size_t k;
#define READ(v, what)                                                   \
    snprintf(p, sizeof p, "%.200s/%s", grp, what);                      \
    double *v = h5_read_f64(fx(), p, &k);                               \
    CHECK(v && k == (size_t)n, "%s: %zu values, %d maps", p, k, n);     \
    if (!v || k != (size_t)n) return;
    READ(tr, "torchray_15")
    READ(qp, "quantus_pointing")
    READ(qm, "quantus_mass")
    READ(qr, "quantus_rank")
    READ(st, "rank_stable")
    READ(tie, "rank_tie")
#undef READ
    int ties = 0, qdiff = 0;
    for (int i = 0; i < n; i++) {
        const float *m = maps + (size_t)i * S * S;
        const unsigned char *g = masks + (size_t)i * S * S;
        const char *nm = names ? names[i] : "";
        int hit15 = pc_pointing_hit_tol(m, g, S, 15), hit0 = pc_pointing_hit_tol(m, g, S, 0);
        CHECK(hit15 == (int)tr[i], "%s[%d] %s: pointing 15 px %d, TorchRay %d", grp, i, nm, hit15, (int)tr[i]);
        CHECK(hit0 == pc_pointing_hit(m, g, S * S), "%s[%d]: tolerance 0 is SPEC §10's pointing hit", grp, i);
        int n_max = 0, mask_px = 0;
        float mx = -INFINITY;
        for (int j = 0; j < S * S; j++) mx = m[j] > mx ? m[j] : mx, mask_px += g[j] != 0;
        for (int j = 0; j < S * S; j++) n_max += m[j] == mx;
        if (n_max == 1 && mask_px)
            CHECK(hit0 == (int)qp[i], "%s[%d] %s: pointing 0 px %d, Quantus %g", grp, i, nm, hit0, qp[i]);
        else
            ties++;
        double r = pc_rank_accuracy(m, g, S * S);
        CHECK(isnan(st[i]) ? isnan(r) : fabs(r - st[i]) <= 1e-12, "%s[%d] %s: rank %.9g, stable formula %.9g", grp, i,
              nm, r, st[i]);
        if (!tie[i])
            CHECK(isnan(qr[i]) ? isnan(r) : fabs(r - qr[i]) <= 1e-9, "%s[%d] %s: rank %.9g, Quantus %.9g", grp, i, nm,
                  r, qr[i]);
        else
            qdiff += fabs(r - qr[i]) > 1e-9;
        if (mask_px) {
            double e = pc_energy_in_mask(m, g, S * S);
            CHECK(isnan(qm[i]) ? e == 0 : fabs(e - qm[i]) <= 1e-4 * fmax(1, fabs(qm[i])),
                  "%s[%d] %s: energy %.9g, Quantus mass accuracy %.9g", grp, i, nm, e, qm[i]);
        }
    }
    printf("%-36s %2d maps: pointing 15 px = TorchRay, rank = stable formula; %d with tied maxima or no mask, "
           "%d rank ties deciding Quantus's value\n", grp, n, ties, qdiff);
    free(tr), free(qp), free(qm), free(qr), free(st), free(tie);
}

static void test_reference_maps(void) {
    static const char *const models[] = {"synth_vgg", "synth_resnet"}, *const meths[] = {"gradcam", "pcamp", "pcamm", "pcampm"};
    for (int a = 0; a < 2; a++) {
        char p[256];
        size_t n = 0;
        snprintf(p, sizeof p, "%s/test/mask", models[a]);
        unsigned char *masks = h5_read_u8(fixture_path("synthetic.h5"), p, &n, NULL, NULL);
        CHECK(masks && n == (size_t)16 * S * S, "synthetic.h5 %s", p);
        for (int b = 0; masks && b < 4; b++) {
            snprintf(p, sizeof p, "%s/test/%s/map", models[a], meths[b]);
            float *maps = h5_read_f32(fixture_path("synthetic.h5"), p, &n, NULL, NULL);
            CHECK(maps && n == (size_t)16 * S * S, "synthetic.h5 %s", p);
            snprintf(p, sizeof p, "localisation/%s/%s", models[a], meths[b]);
            if (maps) check_group(p, maps, masks, 16, NULL);
            free(maps);
        }
        free(masks);
    }
}

static void test_cases(void) {
    size_t n = 0, nm = 0, nn = 0;
    float *maps = h5_read_f32(fx(), "localisation/cases/map", &n, NULL, NULL);
    unsigned char *masks = h5_read_u8(fx(), "localisation/cases/mask", &nm, NULL, NULL);
    char **names = h5_read_strings(fx(), "localisation/cases/names", &nn);
    CHECK(maps && masks && names && n == nm && n == nn * S * S, "localisation/cases");
    if (maps && masks && names && n == nm && n == nn * S * S) {
        check_group("localisation/cases", maps, masks, (int)nn, names);
        for (size_t i = 0; i < nn; i++) {   // the documented differences from Quantus
            const float *m = maps + i * S * S;
            const unsigned char *g = masks + i * S * S;
            if (!strcmp(names[i], "empty_mask"))
                CHECK(pc_pointing_hit_tol(m, g, S, 15) == 0 && isnan(pc_rank_accuracy(m, g, S * S)),
                      "an empty mask: no hit (Quantus 0.6.0 counts one), rank NaN");
            if (!strcmp(names[i], "max_15px"))
                CHECK(pc_pointing_hit_tol(m, g, S, 15) == 0 && pc_pointing_hit_tol(m, g, S, 16) == 1,
                      "15 px away: outside TorchRay's strict disk of 15, inside one of 16");
        }
    }
    for (size_t i = 0; names && i < nn; i++) free(names[i]);
    free(names), free(maps), free(masks);
}

// ---- independent randomisation (MPRT) -----------------------------------------------------------

static int node_named(const PcNet *net, const char *name) {
    int nodes[256], L = pc_sanity_order(net, nodes, 256);
    for (int i = 0; i < L; i++)
        if (!strcmp(pc_sanity_layer_name(net, nodes[i]), name)) return nodes[i];
    return -1;
}

static void test_mprt(PcBackend *be) {
    PcNet net;
    PcError err = {{0}};
    if (fixture_net_load("synth_vgg", &net, &err)) {
        CHECK(0, "synth_vgg: %s", err.msg);
        return;
    }
    size_t nx = 0, nl = 0;
    float *x = h5_read_f32(fx(), "mprt/synth_vgg/x", &nx, NULL, NULL);
    char **layers = h5_read_strings(fx(), "mprt/synth_vgg/layers", &nl);
    double cls = -1;
    h5_attr_f64(fx(), "mprt/synth_vgg", "class", &cls);
    PcMethodSettings set = {.seed = 0};
    CHECK(pc_method_settings_resolve(&set, &net, &err) == 0, "settings: %s", err.msg);
    float *orig = xmalloc(net.n_params * sizeof(float));
    memcpy(orig, net.params, net.n_params * sizeof(float));
    static const char *const ids[2] = {"gradcam", "ixg"};
    float *m0 = xmalloc(2 * S * S * sizeof(float)), *m = xmalloc(S * S * sizeof(float));
    double *ref[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        char p[128];
        size_t n = 0;
        snprintf(p, sizeof p, "mprt/synth_vgg/%s", ids[k]);
        ref[k] = h5_read_f64(fx(), p, &n);
        CHECK(ref[k] && n == nl, "%s: %zu scores, %zu layers", p, n, nl);
        if (n != nl) free(ref[k]), ref[k] = NULL;
    }
    int ok = x && nx == 3 * S * S && layers && nl > 0 && ref[0] && ref[1] && cls >= 0;
    CHECK(ok, "metrics_loc.h5 mprt/synth_vgg");
    for (int t = -1; ok && t < (int)nl; t++) {   // t = -1: the original network
        int node = t < 0 ? -1 : node_named(&net, layers[t]);
        CHECK(t < 0 || node >= 0, "layer %s not in synth_vgg", layers[t]);
        if (t >= 0 && node < 0) continue;
        if (t >= 0) pc_sanity_independent_layer(&net, orig, node, 0);
        PcBackendNet *bn = be->net_prepare(be, &net, 16, &err);
        CHECK(bn != NULL, "prepare: %s", err.msg);
        if (!bn) break;
        PcMethodCtx ctx = {.be = be, .bn = bn, .net = &net, .set = &set, .x = x, .size = S, .cls = (int)cls,
                           .image = 0, .batch = 16};
        for (int k = 0; k < 2; k++) {
            float *dst = t < 0 ? m0 + (size_t)k * S * S : m;
            CHECK(pc_method_compute(pc_method_find(ids[k]), &ctx, dst, &err) == 0, "%s: %s", ids[k], err.msg);
            if (t < 0) continue;
            double sim[PC_SIM_COUNT];
            pc_sanity_similarity(m0 + (size_t)k * S * S, m, S, sim);
            const double q = ref[k][t];
            // a constant gradcam map (every weight of the CAM layer's channels negative after the
            // re-initialisation) is NaN for torchcam, and its Spearman NaN in both
            CHECK(isnan(q) ? isnan(sim[PC_SIM_RANK_ABS]) : fabs(sim[PC_SIM_RANK_ABS] - q) <= 1e-4,
                  "%s, %s alone: Spearman |map| %.6f, Quantus MPRT %.6f",
                  ids[k], layers[t], sim[PC_SIM_RANK_ABS], q);
            printf("mprt independent %-8s %-14s ours %9.6f Quantus %9.6f\n", ids[k], layers[t], sim[PC_SIM_RANK_ABS], q);
        }
        be->net_release(be, bn);
    }
    // the original weights come back: the step's layer alone differs from them
    if (ok && nl > 1) {
        int a = node_named(&net, layers[0]);
        pc_sanity_independent_layer(&net, orig, a, 0);
        pc_sanity_independent_layer(&net, orig, node_named(&net, layers[nl - 1]), 0);
        const float *w = net.nodes[a].p.conv.weight;
        CHECK(memcmp(w, orig + (w - net.params), 16 * sizeof(float)) == 0,
              "%s restored when %s is the step's layer", layers[0], layers[nl - 1]);
    }
    for (size_t i = 0; layers && i < nl; i++) free(layers[i]);
    free(layers), free(x), free(orig), free(m0), free(m), free(ref[0]), free(ref[1]);
    pc_net_free(&net);
}

int main(void) {
    if (!h5_exists(fx(), "/")) {
        CHECK(0, "%s missing (tools/make_metric_fixtures2.py)", fx());
        return test_summary();
    }
    test_reference_maps();
    test_cases();
    PcBackend *be = test_cpu_backend();
    if (!be) return test_summary();
    test_mprt(be);
    be->destroy(be);
    return test_summary();
}
