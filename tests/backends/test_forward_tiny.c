// test_forward_tiny.c: CPU forward pass of tiny_vgg / tiny_resnet (data/models, torchvision
// naming) against PyTorch's outputs in reference_golden.h5 `tiny/*`: logits and, for every target
// layer, the per-channel sums and 4096 sampled activation values, all within 1e-4 relative
// (max |d| / max |ref|). Also checks that the batch size and the thread count do not change the
// result (1, 2 and 3 threads; batch 2 vs two batches of 1), and runs the im2col + GEMM path for
// every convolution too (backend option no_direct_conv).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "testutil.h"
#include "weights.h"
#include "cpu_backend.h"
#include "safetensors.h"

#define GOLDEN "reference_golden.h5"
#define TOL 1e-4

typedef struct {
    int n_taps;
    int nodes[8];
    char names[8][64];
    float *taps[8];
    float *logits;
} PassOut;

static void pass_free(PassOut *o) {
    for (int t = 0; t < o->n_taps; t++) free(o->taps[t]);
    free(o->logits);
}

// no_direct_conv: the backend option (every convolution via im2col + GEMM).
static int run_pass(const PcNet *net, int threads, int no_direct_conv, const float *x, int n, int batch_split,
                    PassOut *o) {
    PcError err = {{0}};
    PcBackendOptions opt = {.precision = PC_PREC_FP32, .threads = threads, .no_direct_conv = no_direct_conv};
    PcBackend *be = pc_backend_cpu_create(&opt, &err);
    PcBackendNet *bn = be->net_prepare(be, net, batch_split, &err);
    CHECK(bn != NULL, "prepare: %s", err.msg);
    if (!bn) {
        be->destroy(be);
        return -1;
    }
    size_t img = (size_t)3 * net->in_h * net->in_w;
    o->logits = xmalloc((size_t)n * net->n_classes * sizeof(float));
    for (int t = 0; t < o->n_taps; t++) {
        const PcNode *nd = &net->nodes[o->nodes[t]];
        o->taps[t] = xmalloc((size_t)n * nd->c * nd->h * nd->w * sizeof(float));
    }
    int rc = 0;
    for (int i0 = 0; i0 < n && rc == 0; i0 += batch_split) {
        int m = n - i0 < batch_split ? n - i0 : batch_split;
        float *taps[8];
        for (int t = 0; t < o->n_taps; t++) {
            const PcNode *nd = &net->nodes[o->nodes[t]];
            taps[t] = o->taps[t] + (size_t)i0 * nd->c * nd->h * nd->w;
        }
        rc = be->forward(be, bn, x + i0 * img, m, o->logits + (size_t)i0 * net->n_classes, o->n_taps,
                         o->nodes, taps, &err);
        CHECK(rc == 0, "forward: %s", err.msg);
    }
    be->net_release(be, bn);
    be->destroy(be);
    return rc;
}

// Compares a pass with group `grp` of the golden file (2 images).
static void compare_golden(const char *grp, const PcNet *net, const PassOut *o) {
    char path[256];
    size_t n;
    snprintf(path, sizeof path, "%s/logits", grp);
    double *ref = h5_read_f64(fixture_path(GOLDEN), path, &n);
    CHECK(ref && n == (size_t)2 * net->n_classes, "%s: %zu reference logits", path, ref ? n : 0);
    if (!ref) return;
    double e = max_rel_diff_f32_f64(o->logits, ref, n);
    printf("  %-28s logits        max rel err %.2e\n", grp, e);
    CHECK(e <= TOL, "%s: logits rel err %.3g", grp, e);
    free(ref);
    for (int t = 0; t < o->n_taps; t++) {
        const PcNode *nd = &net->nodes[o->nodes[t]];
        const size_t hw = (size_t)nd->h * nd->w, chw = nd->c * hw;
        double shape[4];
        snprintf(path, sizeof path, "%s/act/%s", grp, o->names[t]);
        // attribute `shape` = (2, C, H, W)
        size_t ns;
        char dpath[300];
        snprintf(dpath, sizeof dpath, "%s/channel_sum", path);
        double *sums = h5_read_f64(fixture_path(GOLDEN), dpath, &ns);
        CHECK(sums && ns == 2 * (size_t)nd->c, "%s: channel_sum has %zu values for C = %d", path, sums ? ns : 0, nd->c);
        (void)shape;
        if (!sums) continue;
        float *mine = xmalloc(ns * sizeof(float));
        for (int i = 0; i < 2; i++)
            for (int c = 0; c < nd->c; c++) {
                double s = 0;
                const float *p = o->taps[t] + i * chw + c * hw;
                for (size_t k = 0; k < hw; k++) s += p[k];
                mine[i * nd->c + c] = (float)s;
            }
        double es = max_rel_diff_f32_f64(mine, sums, ns);
        free(mine);
        free(sums);
        snprintf(dpath, sizeof dpath, "%s/sample_index", path);
        size_t ni, nv;
        int64_t *idx = h5_read_i64(fixture_path(GOLDEN), dpath, &ni);
        snprintf(dpath, sizeof dpath, "%s/sample_value", path);
        double *vals = h5_read_f64(fixture_path(GOLDEN), dpath, &nv);
        CHECK(idx && vals && nv == 2 * ni, "%s: samples", path);
        if (!idx || !vals) {
            free(idx), free(vals);
            continue;
        }
        float *got = xmalloc(nv * sizeof(float));
        int in_range = 1;
        for (int i = 0; i < 2; i++)
            for (size_t k = 0; k < ni; k++) {
                if (idx[k] < 0 || (size_t)idx[k] >= chw) in_range = 0;
                got[i * ni + k] = in_range ? o->taps[t][i * chw + (size_t)idx[k]] : NAN;
            }
        CHECK(in_range, "%s: sample index outside C*H*W = %zu", path, chw);
        double ev = max_rel_diff_f32_f64(got, vals, nv);
        printf("  %-28s %-13s sums %.2e  samples %.2e  (%dx%dx%d)\n", grp, o->names[t], es, ev, nd->c, nd->h, nd->w);
        CHECK(es <= TOL, "%s: channel sums rel err %.3g", path, es);
        CHECK(ev <= TOL, "%s: sampled values rel err %.3g", path, ev);
        free(got), free(idx), free(vals);
    }
}

static double pass_diff(const PcNet *net, const PassOut *a, const PassOut *b, int n) {
    double e = max_rel_diff_f32(a->logits, b->logits, (size_t)n * net->n_classes);
    for (int t = 0; t < a->n_taps; t++) {
        const PcNode *nd = &net->nodes[a->nodes[t]];
        double et = max_rel_diff_f32(a->taps[t], b->taps[t], (size_t)n * nd->c * nd->h * nd->w);
        if (et > e) e = et;
    }
    return e;
}

// An empty PassOut for the taps of o (names included).
static void pass_like(PassOut *p, const PassOut *o) {
    memset(p, 0, sizeof *p);
    p->n_taps = o->n_taps;
    memcpy(p->nodes, o->nodes, sizeof o->nodes);
    memcpy(p->names, o->names, sizeof o->names);
}

// tiny_vgg / tiny_resnet with its data/models weights; 0 when loaded.
static int load_tiny(const char *which, PcNet *net) {
    char file[128];
    snprintf(file, sizeof file, "models/%s.safetensors", which);
    PcError err = {{0}};
    PcStateDict sd;
    if (fixture_net_create(which, net, &err) || pc_safetensors_open(data_path(file), &sd, &err)) {
        CHECK(0, "%s: %s", which, err.msg);
        return -1;
    }
    int rc = pc_net_load(net, &sd, &err);
    CHECK(rc == 0, "%s load: %s", which, err.msg);
    pc_state_dict_free(&sd);
    return rc;
}

// Target layers into o: the fixture's list, which must also be our default.
static void golden_targets(const char *which, const char *grp, const PcNet *net, PassOut *o) {
    size_t nt;
    char **targets = h5_attr_strings(fixture_path(GOLDEN), grp, "target_layers", &nt);
    CHECK(targets && nt == 5, "%s: target_layers attribute", grp);
    char defaults[8][64];
    int nd = pc_net_default_targets(net, defaults, 8);
    CHECK(nd == (int)nt, "%s: %d default targets", which, nd);
    memset(o, 0, sizeof *o);
    o->n_taps = (int)nt;
    for (size_t t = 0; t < nt; t++) {
        CHECK(t < (size_t)nd && strcmp(defaults[t], targets[t]) == 0, "%s: default target %zu is %s, fixture %s",
              which, t, t < (size_t)nd ? defaults[t] : "-", targets[t]);
        snprintf(o->names[t], 64, "%s", targets[t]);
        o->nodes[t] = pc_net_find(net, targets[t]);
        CHECK(o->nodes[t] >= 0, "%s: no node %s", which, targets[t]);
        free(targets[t]);
    }
    free(targets);
}

// The two input images of grp, batched (2, 3, 224, 224); NULL (checked) when missing.
static float *golden_batch(const char *grp) {
    size_t ni;
    char path[128];
    snprintf(path, sizeof path, "%s/inputs", grp);
    char **inputs = h5_read_strings(fixture_path(GOLDEN), path, &ni);
    CHECK(inputs && ni == 2, "%s: inputs", grp);
    float *x = inputs && ni == 2 ? golden_inputs((const char *const *)inputs, 2) : NULL;
    for (size_t i = 0; inputs && i < ni; i++) free(inputs[i]);
    free(inputs);
    return x;
}

// Other thread counts and batch splits give the same numbers as the batched pass o.
static void check_splits(const char *which, const char *grp, const PcNet *net, const float *x, const PassOut *o) {
    const int threads[] = {1, 3, 2};
    const int splits[] = {2, 2, 1};
    for (int v = 0; v < 3; v++) {
        PassOut p;
        pass_like(&p, o);
        if (run_pass(net, threads[v], 0, x, 2, splits[v], &p) == 0) {
            double e = pass_diff(net, o, &p, 2);
            printf("  %-28s %d threads, batches of %d: max rel diff to the batched pass %.2e\n", grp,
                   threads[v], splits[v], e);
            CHECK(e <= 1e-5, "%s: %d threads / batch %d differ by %.3g", which, threads[v], splits[v], e);
        }
        pass_free(&p);
    }
}

// Batches of at least two images per thread run image-parallel: six images (the two repeated)
// give each image's numbers of o again.
static void check_image_parallel(const char *which, const char *grp, const PcNet *net, const float *x,
                                 const PassOut *o) {
    for (int th = 2; th <= 3; th++) {
        size_t img_sz = (size_t)3 * 224 * 224;
        float *x6 = xmalloc(6 * img_sz * sizeof(float));
        for (int i = 0; i < 6; i++) memcpy(x6 + i * img_sz, x + (i % 2) * img_sz, img_sz * sizeof(float));
        PassOut p;
        pass_like(&p, o);
        if (run_pass(net, th, 0, x6, 6, 6, &p) == 0) {
            double e = 0;
            for (int i = 0; i < 6; i++) {
                e = fmax(e, max_rel_diff_f32(p.logits + i * net->n_classes, o->logits + (i % 2) * net->n_classes,
                                             (size_t)net->n_classes));
                for (int t = 0; t < o->n_taps; t++) {
                    const PcNode *nd = &net->nodes[o->nodes[t]];
                    size_t chw = (size_t)nd->c * nd->h * nd->w;
                    e = fmax(e, max_rel_diff_f32(p.taps[t] + i * chw, o->taps[t] + (i % 2) * chw, chw));
                }
            }
            printf("  %-28s %d threads, batch of 6: max rel diff to the batched pass %.2e\n", grp, th, e);
            CHECK(e <= 1e-5, "%s: batch of 6 on %d threads differs by %.3g", which, th, e);
        }
        pass_free(&p);
        free(x6);
    }
}

// logits == NULL stops after the last tap: the taps of o are unchanged; a batch beyond max_batch
// and a bad tap node are rejected.
static void check_tap_only(const char *which, const PcNet *net, const float *x, const PassOut *o) {
    PcError err = {{0}};
    PcBackendOptions opt = {.precision = PC_PREC_FP32, .threads = 2};
    PcBackend *be = pc_backend_cpu_create(&opt, &err);
    PcBackendNet *bn = be->net_prepare(be, net, 2, &err);
    const PcNode *t0 = &net->nodes[o->nodes[0]];
    size_t sz = (size_t)2 * t0->c * t0->h * t0->w;
    float *tap = xmalloc(sz * sizeof(float));
    float *taps[1] = {tap};
    int rc = be->forward(be, bn, x, 2, NULL, 1, o->nodes, taps, &err);
    CHECK(rc == 0 && max_abs_diff_f32(tap, o->taps[0], sz) == 0, "%s: tap-only pass", which);
    // errors: batch beyond max_batch, bad tap node
    CHECK(be->forward(be, bn, x, 3, o->logits, 0, NULL, NULL, &err) != 0, "batch 3 > max 2 rejected");
    int bad = net->n_nodes;
    CHECK(be->forward(be, bn, x, 1, NULL, 1, &bad, taps, &err) != 0, "bad tap node rejected");
    free(tap);
    be->net_release(be, bn);
    be->destroy(be);
}

static void test_net(const char *which) {
    char grp[64];
    snprintf(grp, sizeof grp, "tiny/%s", which);
    PcNet net;
    if (load_tiny(which, &net)) return;
    PassOut o;
    golden_targets(which, grp, &net, &o);
    float *x = golden_batch(grp);
    if (!x) {
        pc_net_free(&net);
        return;
    }

    if (run_pass(&net, 2, 0, x, 2, 2, &o) == 0) compare_golden(grp, &net, &o);

    // the im2col + GEMM path for every convolution (where AVX-512 picks the direct kernel for
    // the few-channel layers, no_direct_conv turns it off)
    PassOut g;
    pass_like(&g, &o);
    printf("  im2col + GEMM only:\n");
    if (run_pass(&net, 2, 1, x, 2, 2, &g) == 0) compare_golden(grp, &net, &g);
    pass_free(&g);

    check_splits(which, grp, &net, x, &o);
    check_image_parallel(which, grp, &net, x, &o);
    check_tap_only(which, &net, x, &o);
    pass_free(&o);
    free(x);
    pc_net_free(&net);
}

int main(void) {
    test_net("tiny_vgg");
    test_net("tiny_resnet");
    return test_summary();
}
