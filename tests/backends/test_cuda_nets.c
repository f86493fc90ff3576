// test_cuda_nets.c: the CUDA backend's networks and the whole pipeline through it.
//  1. fixtures: tiny_vgg, tiny_resnet (data/models) and the hash-weight VGG16 / ResNet50
//     (tests/lib/hashweights.h, rules from reference_golden.h5): fp32 logits and target-layer
//     activations (channel sums, 4096 samples) within 1e-4 relative of PyTorch; tf32 / fp16 /
//     bf16 drift printed, with a loose bound that only a wrong layout or conversion would break.
//  2. node by node: every node of tiny_vgg, tiny_resnet and synth_resnet tapped on the GPU and on
//     the CPU backend (batch 3 of a max 4), 1e-4 relative; tapping every node disables the fused
//     conv + residual path, so the logits of an untapped pass are compared too; a taps-only pass
//     (logits NULL) gives the same taps.
//  3. synth_vgg / synth_resnet on the 16 synthetic JPEGs: GPU vs CPU logits and the reference's
//     predicted classes (synthetic.h5).
//  4. Poly-CAM (pc_explain) and insertion / deletion of the PCAM+- map on tiny_vgg / tiny_resnet,
//     both fixture images, through the CUDA backend vs the CPU backend: maps 1e-3 abs, channel
//     weights 1e-3 relative, AUCs 2e-3 abs; fp16 drift of the maps printed, of the AUCs bounded
//     (kDriftMax).
//  5. Poly-CAM + insertion / deletion of all three maps on synth_vgg / synth_resnet: GPU fp32 vs
//     the CPU backend on the first 3 synthetic images (maps 1e-3 abs, AUCs 2e-3), GPU fp32 AUCs
//     vs the reference's on all 16 (0.01, as test_synth_polycam.c), and
//     the tf32 / fp16 / bf16 AUC drift against fp32 on all 16, mean and max bounded at twice the
//     figures measured on an H100 (kDriftMean / kDriftMax).
// Skips (exit 77) when the CUDA backend is not compiled in or no device is present.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hashweights.h"
#include "image.h"
#include "insdel.h"
#include "saliency.h"
#include "testutil.h"
#include "weights.h"
#include "cpu_backend.h"

#define GOLDEN "reference_golden.h5"
#define FWD_TOL 1e-4
#define MAP_TOL 1e-3
#define WEIGHT_TOL 1e-3
#define AUC_TOL 2e-3

static const char *const kImages[2] = {"ILSVRC2012_val_00010495.JPEG", "ILSVRC2012_val_00015410.JPEG"};
static const char *const kPrecName[4] = {"fp32", "tf32", "fp16", "bf16"};
// Insertion / deletion AUC drift against the fp32 GPU run (absolute), mean and max over images x
// maps: twice the largest measured on an H100 (docs/performance.md "Performance", bench/RESULTS.md: tf32
// 0.0004 / 0.0032, fp16 0.0007 / 0.0056, bf16 0.0049 / 0.028). Loose: only a wrong layout,
// conversion or accumulation type would cross them.
static const double kDriftMean[4] = {0, 8e-4, 1.4e-3, 9.8e-3};
static const double kDriftMax[4] = {0, 6.4e-3, 1.12e-2, 5.6e-2};
static PcBackend *gpu[4];   // one per precision (NULL when unavailable)
static PcBackend *cpu;

// The larger of two differences, infinity when either is NaN (fmax would return the other one and
// a NaN insertion AUC would pass beside a good deletion AUC).
static double worse(double a, double b) { return a != a || b != b ? INFINITY : fmax(a, b); }

// ---- networks ---------------------------------------------------------------------------------


// The two fixture inputs, (2, 3, 224, 224).
static float *fixture_inputs(void) { return golden_inputs(kImages, 2); }

// ---- forward through a backend ----------------------------------------------------------------

typedef struct {
    float *logits;          // (n, classes) host, or NULL when not asked
    float *taps[64];        // (n, C, H, W) host
} FwdOut;

static void fwd_free(FwdOut *o, int n_taps) {
    free(o->logits);
    for (int t = 0; t < n_taps; t++) free(o->taps[t]);
}

static size_t node_size(const PcNet *net, int node) {
    const PcNode *nd = &net->nodes[node];
    return (size_t)nd->c * nd->h * nd->w;
}

// n images of x (host) through be in chunks of max_batch; logits when want_logits.
static int run_forward(PcBackend *be, const PcNet *net, const float *x, int n, int max_batch,
                       int want_logits, int n_taps, const int *nodes, FwdOut *o, PcError *err) {
    memset(o, 0, sizeof *o);
    PcBackendNet *bn = be->net_prepare(be, net, max_batch, err);
    if (!bn) return -1;
    const size_t img = (size_t)3 * net->in_h * net->in_w;
    float *dx = be->alloc(be, (size_t)max_batch * img * sizeof(float));
    float *dl = be->alloc(be, (size_t)max_batch * net->n_classes * sizeof(float));
    float *dt[64];
    if (want_logits) o->logits = xmalloc((size_t)n * net->n_classes * sizeof(float));
    for (int t = 0; t < n_taps; t++) {
        dt[t] = be->alloc(be, (size_t)max_batch * node_size(net, nodes[t]) * sizeof(float));
        o->taps[t] = xmalloc((size_t)n * node_size(net, nodes[t]) * sizeof(float));
    }
    int rc = 0;
    for (int i0 = 0; i0 < n && !rc; i0 += max_batch) {
        int m = n - i0 < max_batch ? n - i0 : max_batch;
        be->upload(be, dx, x + i0 * img, m * img * sizeof(float));
        rc = be->forward(be, bn, dx, m, want_logits ? dl : NULL, n_taps, nodes, dt, err);
        if (rc) break;
        if (want_logits)
            be->download(be, o->logits + (size_t)i0 * net->n_classes, dl,
                         (size_t)m * net->n_classes * sizeof(float));
        for (int t = 0; t < n_taps; t++) {
            size_t per = node_size(net, nodes[t]);
            be->download(be, o->taps[t] + i0 * per, dt[t], m * per * sizeof(float));
        }
    }
    for (int t = 0; t < n_taps; t++) be->release(be, dt[t]);
    be->release(be, dx);
    be->release(be, dl);
    be->net_release(be, bn);
    if (rc) fwd_free(o, n_taps);
    return rc;
}

// ---- 1. fixtures ------------------------------------------------------------------------------

// Target taps vs the fixture's channel sums and samples; returns the worst relative error.
static double taps_vs_fixture(const char *grp, const PcNet *net, int nt, char names[][64],
                              const int *nodes, float *const *taps) {
    double worst = 0;
    for (int t = 0; t < nt; t++) {
        const PcNode *nd = &net->nodes[nodes[t]];
        size_t hw = (size_t)nd->h * nd->w, chw = nd->c * hw, ns = 0, ni = 0, nv = 0;
        char path[256];
        snprintf(path, sizeof path, "%s/act/%s/channel_sum", grp, names[t]);
        double *sums = h5_read_f64(fixture_path(GOLDEN), path, &ns);
        snprintf(path, sizeof path, "%s/act/%s/sample_index", grp, names[t]);
        int64_t *idx = h5_read_i64(fixture_path(GOLDEN), path, &ni);
        snprintf(path, sizeof path, "%s/act/%s/sample_value", grp, names[t]);
        double *vals = h5_read_f64(fixture_path(GOLDEN), path, &nv);
        CHECK(sums && ns == 2 * (size_t)nd->c && idx && vals && nv == 2 * ni, "%s/act/%s fixture", grp,
              names[t]);
        if (sums && ns == 2 * (size_t)nd->c && idx && vals && nv == 2 * ni) {
            float *mine = xmalloc(ns * sizeof(float)), *got = xmalloc(nv * sizeof(float));
            for (int i = 0; i < 2; i++)
                for (int c = 0; c < nd->c; c++) {
                    double s = 0;
                    for (size_t k = 0; k < hw; k++) s += taps[t][i * chw + c * hw + k];
                    mine[i * nd->c + c] = (float)s;
                }
            for (int i = 0; i < 2; i++)
                for (size_t k = 0; k < ni; k++)
                    got[i * ni + k] = idx[k] >= 0 && (size_t)idx[k] < chw ? taps[t][i * chw + idx[k]] : NAN;
            double es = max_rel_diff_f32_f64(mine, sums, ns), ev = max_rel_diff_f32_f64(got, vals, nv);
            worst = fmax(worst, fmax(es, ev));
            free(mine), free(got);
        }
        free(sums), free(idx), free(vals);
    }
    return worst;
}

static void test_fixture_net(const char *model) {
    char grp[64];
    snprintf(grp, sizeof grp, "%s/%s", strstr(model, "tiny") ? "tiny" : "hashnets", model);
    PcError err = {{0}};
    PcNet net;
    double t0 = pc_now();
    if (fixture_net_load(model, &net, &err)) {
        CHECK(0, "%s: %s", model, err.msg);
        return;
    }
    double t_load = pc_now() - t0;
    size_t nt = 0;
    char **targets = h5_attr_strings(fixture_path(GOLDEN), grp, "target_layers", &nt);
    CHECK(targets && nt == 5, "%s: target_layers", grp);
    char names[8][64];
    int nodes[8];
    for (size_t t = 0; targets && t < nt && t < 8; t++) {
        snprintf(names[t], 64, "%s", targets[t]);
        nodes[t] = pc_net_find(&net, targets[t]);
        CHECK(nodes[t] >= 0, "%s: no node %s", model, targets[t]);
        if (nodes[t] < 0) nt = 0;
        free(targets[t]);
    }
    free(targets);
    char path[128];
    size_t nl = 0;
    snprintf(path, sizeof path, "%s/logits", grp);
    double *ref = h5_read_f64(fixture_path(GOLDEN), path, &nl);
    CHECK(ref && nl == (size_t)2 * net.n_classes, "%s", path);
    float *x = fixture_inputs();
    for (int p = 0; p < 4 && ref && nl == (size_t)2 * net.n_classes; p++) {
        if (!gpu[p]) continue;
        FwdOut o;
        t0 = pc_now();
        int rc = run_forward(gpu[p], &net, x, 2, 2, 1, (int)nt, nodes, &o, &err);
        double t_fwd = pc_now() - t0;
        CHECK(rc == 0, "%s %s: forward: %s", model, kPrecName[p], err.msg);
        if (rc) continue;
        double el = max_rel_diff_f32_f64(o.logits, ref, nl);
        double ea = taps_vs_fixture(grp, &net, (int)nt, names, nodes, o.taps);
        int agree = 0;
        for (int i = 0; i < 2; i++) {
            int a = 0, b = 0;
            for (int k = 1; k < net.n_classes; k++) {
                if (o.logits[i * net.n_classes + k] > o.logits[i * net.n_classes + a]) a = k;
                if (ref[i * net.n_classes + k] > ref[i * net.n_classes + b]) b = k;
            }
            agree += a == b;
        }
        printf("  %-9s %-5s logits rel err %.2e, activations %.2e, argmax %d/2 (load %.1f s, "
               "prepare + forward %.2f s)\n",
               model, kPrecName[p], el, ea, agree, t_load, t_fwd);
        if (p <= PC_PREC_FP32) {
            CHECK(el <= FWD_TOL, "%s fp32: logits rel err %.3g", model, el);
            CHECK(ea <= FWD_TOL, "%s fp32: activations rel err %.3g", model, ea);
        } else {
            // reduced precision: only a broken layout or conversion goes past these
            double bound = p == PC_PREC_BF16 ? 0.25 : 0.1;
            CHECK(el <= bound, "%s %s: logits drift %.3g > %.2g", model, kPrecName[p], el, bound);
            CHECK(ea <= bound, "%s %s: activation drift %.3g > %.2g", model, kPrecName[p], ea, bound);
        }
        fwd_free(&o, (int)nt);
    }
    free(x);
    free(ref);
    pc_net_free(&net);
}

// ---- 2. node by node --------------------------------------------------------------------------

static void test_node_by_node(const char *model) {
    PcError err = {{0}};
    PcNet net;
    if (fixture_net_load(model, &net, &err)) {
        CHECK(0, "%s: %s", model, err.msg);
        return;
    }
    const size_t img = (size_t)3 * 224 * 224;
    float *x2 = fixture_inputs(), *x = xmalloc(3 * img * sizeof(float));
    memcpy(x, x2, 2 * img * sizeof(float));
    for (size_t i = 0; i < img; i++) x[2 * img + i] = 0.5f * x2[i] - 0.25f * x2[img + i];
    free(x2);
    int nn = net.n_nodes < 64 ? net.n_nodes : 64;
    int nodes[64];
    for (int i = 0; i < nn; i++) nodes[i] = i;
    FwdOut c, g, g_plain, g_taps;
    int rc = run_forward(cpu, &net, x, 3, 4, 1, nn, nodes, &c, &err);
    CHECK(rc == 0, "%s cpu forward: %s", model, err.msg);
    int rg = run_forward(gpu[0], &net, x, 3, 4, 1, nn, nodes, &g, &err);
    CHECK(rg == 0, "%s gpu forward (all taps): %s", model, err.msg);
    if (!rc && !rg) {
        double worst = 0;
        int worst_node = -1;
        for (int i = 0; i < nn; i++) {
            double e = max_rel_diff_f32(g.taps[i], c.taps[i], 3 * node_size(&net, i));
            if (e > worst || worst_node < 0) worst = e, worst_node = i;
            CHECK(e <= FWD_TOL, "%s node %d (%s): rel err %.3g", model, i, net.nodes[i].name, e);
        }
        double el = max_rel_diff_f32(g.logits, c.logits, 3 * (size_t)net.n_classes);
        printf("  %-12s %d nodes tapped: worst node %d rel err %.2e, logits %.2e\n", model, nn, worst_node,
               worst, el);
        CHECK(el <= FWD_TOL, "%s: logits rel err %.3g", model, el);
        // untapped pass: fused conv + residual where available
        if (run_forward(gpu[0], &net, x, 3, 4, 1, 0, NULL, &g_plain, &err) == 0) {
            double ef = max_rel_diff_f32(g_plain.logits, c.logits, 3 * (size_t)net.n_classes);
            printf("  %-12s untapped pass logits rel err %.2e\n", model, ef);
            CHECK(ef <= FWD_TOL, "%s untapped: logits rel err %.3g", model, ef);
            fwd_free(&g_plain, 0);
        } else {
            CHECK(0, "%s untapped forward: %s", model, err.msg);
        }
        // taps only (stops after the last tap): the default targets
        char tnames[8][64];
        int nt = pc_net_default_targets(&net, tnames, 8), tn[8];
        for (int t = 0; t < nt; t++) tn[t] = pc_net_find(&net, tnames[t]);
        if (run_forward(gpu[0], &net, x, 3, 4, 0, nt, tn, &g_taps, &err) == 0) {
            double et = 0;
            for (int t = 0; t < nt; t++)
                et = fmax(et, max_rel_diff_f32(g_taps.taps[t], c.taps[tn[t]], 3 * node_size(&net, tn[t])));
            printf("  %-12s taps-only pass: rel err %.2e\n", model, et);
            CHECK(et <= FWD_TOL, "%s taps-only: rel err %.3g", model, et);
            fwd_free(&g_taps, nt);
        } else {
            CHECK(0, "%s taps-only forward: %s", model, err.msg);
        }
    }
    if (!rc) fwd_free(&c, nn);
    if (!rg) fwd_free(&g, nn);
    free(x);
    pc_net_free(&net);
}

// ---- 3. synthetic models ----------------------------------------------------------------------

static void test_synth(const char *model) {
    PcError err = {{0}};
    PcNet net;
    if (fixture_net_load(model, &net, &err)) {
        CHECK(0, "%s: %s", model, err.msg);
        return;
    }
    const int n = 16;
    const size_t img = (size_t)3 * 224 * 224;
    float *x = xmalloc(n * img * sizeof(float));
    for (int i = 0; i < n; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "synthetic/synth_%03d.jpg", i);
        PcImageU8 im;
        if (pc_load_jpeg(data_path(rel), &im, &err)) {
            CHECK(0, "%s: %s", rel, err.msg);
            memset(x + i * img, 0, img * sizeof(float));
            continue;
        }
        pc_preprocess(&im, PC_RESIZE_BILINEAR, 224, x + i * img);
        pc_image_free(&im);
    }
    char path[64];
    snprintf(path, sizeof path, "%s/test/pred", model);
    size_t np = 0;
    int64_t *pred = h5_read_i64(fixture_path("synthetic.h5"), path, &np);
    CHECK(pred && np == (size_t)n, "%s", path);
    FwdOut c, g;
    int rc = run_forward(cpu, &net, x, n, 8, 1, 0, NULL, &c, &err);
    CHECK(rc == 0, "%s cpu: %s", model, err.msg);
    int rg = run_forward(gpu[0], &net, x, n, 8, 1, 0, NULL, &g, &err);
    CHECK(rg == 0, "%s gpu: %s", model, err.msg);
    if (!rc && !rg && pred && np == (size_t)n) {
        double e = max_rel_diff_f32(g.logits, c.logits, (size_t)n * net.n_classes);
        int same = 0;
        for (int i = 0; i < n; i++) {
            int a = 0;
            for (int k = 1; k < net.n_classes; k++)
                if (g.logits[i * net.n_classes + k] > g.logits[i * net.n_classes + a]) a = k;
            same += a == pred[i];
        }
        printf("  %-12s 16 synthetic images: logits vs CPU rel err %.2e, %d/16 predictions as the reference\n",
               model, e, same);
        CHECK(e <= FWD_TOL, "%s: logits rel err %.3g", model, e);
        CHECK(same == n, "%s: %d of 16 predictions differ from the reference", model, n - same);
    }
    if (!rc) fwd_free(&c, 0);
    if (!rg) fwd_free(&g, 0);
    free(pred);
    free(x);
    pc_net_free(&net);
}

// ---- 4. Poly-CAM and insertion / deletion ------------------------------------------------------

static int explain_on(PcBackend *be, const PcNet *net, const PcTargets *tg, const float *x, int cls,
                      PcExplanation *e, double *ins, double *del, float *ins_s, float *del_s, PcError *err) {
    PcSaliencyOptions opt;
    pc_saliency_default_options(&opt);
    PcInsDelOptions io;
    pc_insdel_default_options(&io);
    int mb = opt.batch > io.batch ? opt.batch : io.batch;
    PcBackendNet *bn = be->net_prepare(be, net, mb, err);
    if (!bn) return -1;
    int rc = pc_explain(be, bn, net, tg, x, cls, &opt, e, err);
    if (!rc)
        rc = pc_insertion_deletion(be, bn, net, x, e->map[PC_VARIANT_PM], 224, 224, cls, &io, ins_s, ins, del_s,
                                   del, NULL, err);
    be->net_release(be, bn);
    return rc;
}

// The model and its default target layers; a failure is a failed check (returns -1).
static int load_net_targets(const char *model, PcNet *net, PcTargets *tg) {
    PcError err = {{0}};
    if (fixture_net_load(model, net, &err)) {
        CHECK(0, "%s: %s", model, err.msg);
        return -1;
    }
    if (pc_targets_resolve(net, 0, NULL, tg, &err)) {
        CHECK(0, "%s: targets: %s", model, err.msg);
        pc_net_free(net);
        return -1;
    }
    return 0;
}

static void test_polycam(const char *model) {
    PcError err = {{0}};
    PcNet net;
    PcTargets tg;
    if (load_net_targets(model, &net, &tg)) return;
    float *x2 = fixture_inputs();
    const size_t img = (size_t)3 * 224 * 224, ss = 224 * 224;
    for (int i = 0; i < 2; i++) {
        char grp[128];
        snprintf(grp, sizeof grp, "tiny/%s/%s", model, kImages[i]);
        double cls_d = -1;
        CHECK(h5_attr_f64(fixture_path(GOLDEN), grp, "class", &cls_d) == 0, "%s: class", grp);
        int cls = (int)cls_d;
        PcExplanation ec, eg, eh;
        memset(&ec, 0, sizeof ec), memset(&eg, 0, sizeof eg), memset(&eh, 0, sizeof eh);
        double ic = 0, dc = 0, ig = 0, dg = 0, ih = 0, dh = 0;
        float isc[224], dsc[224], isg[224], dsg[224], ish[224], dsh[224];
        double t0 = pc_now();
        int rc = explain_on(cpu, &net, &tg, x2 + i * img, cls, &ec, &ic, &dc, isc, dsc, &err);
        double t_cpu = pc_now() - t0;
        CHECK(rc == 0, "%s cpu: %s", grp, err.msg);
        t0 = pc_now();
        int rg = explain_on(gpu[0], &net, &tg, x2 + i * img, cls, &eg, &ig, &dg, isg, dsg, &err);
        double t_gpu = pc_now() - t0;
        CHECK(rg == 0, "%s gpu: %s", grp, err.msg);
        if (!rc && !rg) {
            double em = 0, el = 0, en = 0, ew = 0, ecam = 0;
            for (int v = 0; v < PC_N_VARIANTS; v++) {
                em = fmax(em, max_abs_diff_f32(eg.map[v], ec.map[v], ss));
                if (eg.levels[v] && ec.levels[v])
                    el = fmax(el, max_abs_diff_f32(eg.levels[v], ec.levels[v], (size_t)tg.n_targets * ss));
                if (eg.map_no_lnorm[v] && ec.map_no_lnorm[v])
                    en = fmax(en, max_abs_diff_f32(eg.map_no_lnorm[v], ec.map_no_lnorm[v], ss));
                for (int l = 0; l < tg.n_targets; l++) {
                    ew = fmax(ew, max_rel_diff_f32(eg.weights[v][l], ec.weights[v][l], (size_t)tg.c[l]));
                    if (eg.cams[v][l] && ec.cams[v][l])
                        ecam = fmax(ecam, max_rel_diff_f32(eg.cams[v][l], ec.cams[v][l], ss));
                }
            }
            double es = fmax(max_abs_diff_f32(isg, isc, 224), max_abs_diff_f32(dsg, dsc, 224));
            double ins_ref = NAN, del_ref = NAN;
            char pm[192];
            snprintf(pm, sizeof pm, "%s/pcampm", grp);
            h5_attr_f64(fixture_path(GOLDEN), pm, "ins_auc", &ins_ref);
            h5_attr_f64(fixture_path(GOLDEN), pm, "del_auc", &del_ref);
            printf("  %-11s img%d: maps %.1e levels %.1e no-lnorm %.1e cams %.1e weights %.1e | "
                   "ins %.4f/%.4f del %.4f/%.4f (gpu/cpu; ref %.4f/%.4f) steps %.1e | cpu %.2f s gpu %.2f s\n",
                   model, i, em, el, en, ecam, ew, ig, ic, dg, dc, ins_ref, del_ref, es, t_cpu, t_gpu);
            CHECK(eg.cls == ec.cls, "%s: class %d vs %d", grp, eg.cls, ec.cls);
            CHECK(eg.forward_passes == ec.forward_passes, "%s: %ld vs %ld forward passes", grp,
                  eg.forward_passes, ec.forward_passes);
            CHECK(em <= MAP_TOL, "%s: maps differ by %.3g", grp, em);
            CHECK(el <= MAP_TOL, "%s: levels differ by %.3g", grp, el);
            CHECK(en <= MAP_TOL, "%s: no-LNorm maps differ by %.3g", grp, en);
            CHECK(ecam <= MAP_TOL, "%s: isolated CAMs differ by %.3g (relative)", grp, ecam);
            CHECK(ew <= WEIGHT_TOL, "%s: channel weights differ by %.3g (relative)", grp, ew);
            CHECK(fabs(ig - ic) <= AUC_TOL && fabs(dg - dc) <= AUC_TOL, "%s: AUCs %.4f/%.4f vs %.4f/%.4f", grp,
                  ig, dg, ic, dc);
            CHECK(es <= AUC_TOL, "%s: per-step scores differ by %.3g", grp, es);
        }
        // fp16 drift of the whole pipeline: maps printed, AUCs within the fp16 bound
        if (!rg && gpu[PC_PREC_FP16] &&
            explain_on(gpu[PC_PREC_FP16], &net, &tg, x2 + i * img, cls, &eh, &ih, &dh, ish, dsh, &err) == 0) {
            double em = 0;
            for (int v = 0; v < PC_N_VARIANTS; v++) em = fmax(em, max_abs_diff_f32(eh.map[v], eg.map[v], ss));
            printf("  %-11s img%d: fp16 drift vs fp32 GPU: maps %.2e, ins %+.4f, del %+.4f\n", model, i, em,
                   ih - ig, dh - dg);
            CHECK(fabs(ih - ig) <= kDriftMax[PC_PREC_FP16] && fabs(dh - dg) <= kDriftMax[PC_PREC_FP16],
                  "%s: fp16 AUC drift %+.4f / %+.4f over %.3g", grp, ih - ig, dh - dg, kDriftMax[PC_PREC_FP16]);
        }
        pc_explanation_free(&ec);
        pc_explanation_free(&eg);
        pc_explanation_free(&eh);
    }
    free(x2);
    pc_net_free(&net);
}

// ---- 5. Poly-CAM on the synthetic models: GPU vs CPU, reference AUCs, precision drift ---------

#define SYNTH_CMP_IMAGES 3   // GPU vs CPU backend on the first few (the CPU side is the slow part)
#define SYNTH_REF_TOL 0.01   // AUCs vs the reference's (as test_synth_polycam.c)

// What the images of one model add up to: GPU vs CPU differences (maps, PCAM- maps apart, AUCs)
// on the first SYNTH_CMP_IMAGES, the largest AUC difference to the reference, and per precision
// the AUC drift against fp32 on the GPU (sums and maxima of insertion [0] and deletion [1]).
typedef struct {
    double cmp_map, cmp_map_m, cmp_auc, ref_auc;
    double drift_mean[4][2], drift_max[4][2];
    int drift_n[4], cls_agree[4], n_cmp;
} SynthStats;

// The reference AUCs of synthetic.h5 (16 images per variant); NULL where missing (checked).
static void read_synth_ref(const char *model, double **ref_ins, double **ref_del) {
    for (int v = 0; v < PC_N_VARIANTS; v++) {
        char dset[128];
        size_t n = 0;
        snprintf(dset, sizeof dset, "%s/test/%s/insertion_auc", model, pc_variant_ids[v]);
        ref_ins[v] = h5_read_f64(fixture_path("synthetic.h5"), dset, &n);
        CHECK(ref_ins[v] && n == 16, "%s", dset);
        snprintf(dset, sizeof dset, "%s/test/%s/deletion_auc", model, pc_variant_ids[v]);
        ref_del[v] = h5_read_f64(fixture_path("synthetic.h5"), dset, &n);
        CHECK(ref_del[v] && n == 16, "%s", dset);
    }
}

// The fp32 GPU result g32 of image x against the CPU backend's.
static void synth_vs_cpu(const char *model, const char *rel, PcBackendNet *bn_cpu, const PcNet *net,
                         const PcTargets *tg, const float *x, const TestSynthResult *g32, SynthStats *st) {
    PcError err = {{0}};
    const size_t ss = 224 * 224;
    TestSynthResult c;
    if (test_synth_explain(cpu, bn_cpu, net, tg, x, &c, &err) == 0) {
        st->n_cmp++;
        CHECK(c.e.cls == g32->e.cls, "%s %s: class %d (gpu) vs %d (cpu)", model, rel, g32->e.cls, c.e.cls);
        for (int v = 0; v < PC_N_VARIANTS; v++) {
            double dm = max_abs_diff_f32(g32->e.map[v], c.e.map[v], ss);
            double da = worse(fabs(g32->ins[v] - c.ins[v]), fabs(g32->del[v] - c.del[v]));
            // PCAM- apart: its weights relu(s0 - s_minus) on the saturated synthetic models
            // (s0 = 1.0 in float32 on some images) are where rounding shows first
            if (v == PC_VARIANT_MINUS) st->cmp_map_m = fmax(st->cmp_map_m, dm);
            else st->cmp_map = fmax(st->cmp_map, dm);
            st->cmp_auc = fmax(st->cmp_auc, da);
            CHECK(dm <= MAP_TOL, "%s %s %s: GPU vs CPU maps differ by %.3g", model, rel, pc_variant_ids[v], dm);
            CHECK(da <= AUC_TOL, "%s %s %s: GPU vs CPU AUCs %.4f/%.4f vs %.4f/%.4f", model, rel,
                  pc_variant_ids[v], g32->ins[v], g32->del[v], c.ins[v], c.del[v]);
        }
    } else {
        CHECK(0, "%s %s cpu: %s", model, rel, err.msg);
    }
    pc_explanation_free(&c.e);
}

// Other precisions: AUC drift of image x against fp32 on the GPU (bounded in synth_report).
static void synth_drift(const char *model, const char *rel, PcBackendNet *const *bn, const PcNet *net,
                        const PcTargets *tg, const float *x, const TestSynthResult *g32, SynthStats *st) {
    PcError err = {{0}};
    for (int p = 1; p < 4; p++) {
        if (!bn[p]) continue;
        TestSynthResult r;
        if (test_synth_explain(gpu[p], bn[p], net, tg, x, &r, &err) == 0) {
            st->drift_n[p]++;
            st->cls_agree[p] += r.e.cls == g32->e.cls;
            for (int v = 0; v < PC_N_VARIANTS; v++) {
                double di = fabs(r.ins[v] - g32->ins[v]), dd = fabs(r.del[v] - g32->del[v]);
                st->drift_mean[p][0] += di, st->drift_mean[p][1] += dd;
                st->drift_max[p][0] = fmax(st->drift_max[p][0], di);
                st->drift_max[p][1] = fmax(st->drift_max[p][1], dd);
            }
        } else {
            CHECK(0, "%s %s %s: %s", model, rel, kPrecName[p], err.msg);
        }
        pc_explanation_free(&r.e);
    }
}

// The summary lines of one model, the GPU-vs-CPU count and the drift bounds (kDriftMean / kDriftMax).
static void synth_report(const char *model, const SynthStats *st) {
    printf("  %-12s Poly-CAM fp32 GPU vs CPU (%d images, 3 maps): maps %.2e (PCAM- %.2e), AUCs %.2e; "
           "16 images vs reference AUCs: %.2e\n",
           model, st->n_cmp, st->cmp_map, st->cmp_map_m, st->cmp_auc, st->ref_auc);
    CHECK(st->n_cmp == SYNTH_CMP_IMAGES, "%s: %d of %d GPU-vs-CPU comparisons ran", model, st->n_cmp,
          SYNTH_CMP_IMAGES);
    for (int p = 1; p < 4; p++)
        if (st->drift_n[p])
            printf("  %-12s %-4s AUC drift vs fp32 (%d images x 3 maps): insertion mean %.4f max %.4f, "
                   "deletion mean %.4f max %.4f; class as fp32 %d/%d\n",
                   model, kPrecName[p], st->drift_n[p], st->drift_mean[p][0] / (3.0 * st->drift_n[p]),
                   st->drift_max[p][0], st->drift_mean[p][1] / (3.0 * st->drift_n[p]), st->drift_max[p][1],
                   st->cls_agree[p], st->drift_n[p]);
    for (int p = 1; p < 4; p++)
        for (int c = 0; c < 2 && st->drift_n[p]; c++) {
            const double mean = st->drift_mean[p][c] / (3.0 * st->drift_n[p]);
            CHECK(mean <= kDriftMean[p] && st->drift_max[p][c] <= kDriftMax[p],
                  "%s %s %s AUC drift vs fp32: mean %.4f (bound %.4f), max %.4f (bound %.4f)", model, kPrecName[p],
                  c ? "deletion" : "insertion", mean, kDriftMean[p], st->drift_max[p][c], kDriftMax[p]);
        }
}

static void test_synth_polycam(const char *model) {
    PcError err = {{0}};
    PcNet net;
    PcTargets tg;
    if (load_net_targets(model, &net, &tg)) return;
    PcSaliencyOptions sopt;
    pc_saliency_default_options(&sopt);
    PcInsDelOptions iopt;
    pc_insdel_default_options(&iopt);
    int mb = sopt.batch > iopt.batch ? sopt.batch : iopt.batch;
    PcBackendNet *bn[4] = {NULL, NULL, NULL, NULL}, *bn_cpu = cpu->net_prepare(cpu, &net, mb, &err);
    CHECK(bn_cpu != NULL, "%s cpu prepare: %s", model, err.msg);
    for (int p = 0; p < 4; p++) {
        if (!gpu[p]) continue;
        bn[p] = gpu[p]->net_prepare(gpu[p], &net, mb, &err);
        CHECK(bn[p] != NULL, "%s %s prepare: %s", model, kPrecName[p], err.msg);
    }
    double *ref_ins[PC_N_VARIANTS], *ref_del[PC_N_VARIANTS];
    read_synth_ref(model, ref_ins, ref_del);
    const size_t ss = 224 * 224;
    float *x = xmalloc(3 * ss * sizeof(float));
    SynthStats st;
    memset(&st, 0, sizeof st);
    for (int i = 0; i < 16 && bn[0] && bn_cpu; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "synthetic/synth_%03d.jpg", i);
        PcImageU8 im;
        if (pc_load_jpeg(data_path(rel), &im, &err)) {
            CHECK(0, "%s: %s", rel, err.msg);
            continue;
        }
        pc_preprocess(&im, PC_RESIZE_BILINEAR, 224, x);
        pc_image_free(&im);
        TestSynthResult g32;
        if (test_synth_explain(gpu[0], bn[0], &net, &tg, x, &g32, &err)) {
            CHECK(0, "%s %s gpu fp32: %s", model, rel, err.msg);
            pc_explanation_free(&g32.e);
            continue;
        }
        for (int v = 0; v < PC_N_VARIANTS && ref_ins[v] && ref_del[v]; v++) {
            double d = worse(fabs(g32.ins[v] - ref_ins[v][i]), fabs(g32.del[v] - ref_del[v][i]));
            st.ref_auc = fmax(st.ref_auc, d);
            CHECK(d <= SYNTH_REF_TOL, "%s %s %s: GPU AUCs %.4f/%.4f, reference %.4f/%.4f", model, rel,
                  pc_variant_ids[v], g32.ins[v], g32.del[v], ref_ins[v][i], ref_del[v][i]);
        }
        if (i < SYNTH_CMP_IMAGES) synth_vs_cpu(model, rel, bn_cpu, &net, &tg, x, &g32, &st);
        synth_drift(model, rel, bn, &net, &tg, x, &g32, &st);
        pc_explanation_free(&g32.e);
    }
    synth_report(model, &st);
    for (int v = 0; v < PC_N_VARIANTS; v++) free(ref_ins[v]), free(ref_del[v]);
    free(x);
    for (int p = 0; p < 4; p++)
        if (bn[p]) gpu[p]->net_release(gpu[p], bn[p]);
    if (bn_cpu) cpu->net_release(cpu, bn_cpu);
    pc_net_free(&net);
}

int main(void) {
    PcError err = {{0}};
    test_cuda_backends(gpu);
    PcBackendOptions copt = {.precision = PC_PREC_FP32};
    cpu = pc_backend_cpu_create(&copt, &err);
    CHECK(cpu != NULL, "CPU backend: %s", err.msg);
    if (!cpu) return test_summary();
    printf("test_cuda_nets on %s\n", gpu[0]->device_name);

    test_fixture_net("tiny_vgg");
    test_fixture_net("tiny_resnet");
    test_fixture_net("vgg16");
    test_fixture_net("resnet50");
    test_node_by_node("tiny_vgg");
    test_node_by_node("tiny_resnet");
    test_node_by_node("synth_resnet");
    test_synth("synth_vgg");
    test_synth("synth_resnet");
    test_polycam("tiny_vgg");
    test_polycam("tiny_resnet");
    test_synth_polycam("synth_vgg");
    test_synth_polycam("synth_resnet");

    for (int p = 0; p < 4; p++)
        if (gpu[p]) gpu[p]->destroy(gpu[p]);
    cpu->destroy(cpu);
    return test_summary();
}
