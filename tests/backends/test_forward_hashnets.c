// test_forward_hashnets.c: full-size torchvision VGG16 and ResNet50 on the CPU with the fixtures'
// hash weights (rules from reference_golden.h5 hashnets/*/rules), the two fixture inputs as one
// batch: logits, and for every target layer the per-channel sums and 4096 sampled activation
// values, within 1e-4 relative (max |d| / max |ref|) of PyTorch. About 2 x 31 GFLOP.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hashweights.h"
#include "testutil.h"
#include "cpu_backend.h"

#define GOLDEN "reference_golden.h5"
#define TOL 1e-4

static double rel_err_f64(const double *a, const double *ref, size_t n) {
    double m = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - ref[i]);
        if (isnan(d)) return INFINITY;
        m = fmax(m, d);
        r = fmax(r, fabs(ref[i]));
    }
    return r > 0 ? m / r : m;
}

// The network of arch with the hash weights of the fixture's rules (grp/rules): every float
// tensor of the state dict must have a rule. 0 when loaded (then net must be freed).
static int load_hash_net(const char *arch, const char *grp, PcNet *net, double *t_weights) {
    char path[256];
    PcError err = {{0}};
    PcArchSpec spec;
    if (pc_arch_from_name(arch, &spec, &err) || pc_net_create(&spec, net, &err)) {
        CHECK(0, "%s: %s", arch, err.msg);
        return -1;
    }
    // weight rules
    size_t nr, nb, nd;
    snprintf(path, sizeof path, "%s/rules/names", grp);
    char **names = h5_read_strings(fixture_path(GOLDEN), path, &nr);
    snprintf(path, sizeof path, "%s/rules/base", grp);
    float *base = h5_read_f32(fixture_path(GOLDEN), path, &nb, NULL, NULL);
    snprintf(path, sizeof path, "%s/rules/bound", grp);
    float *bound = h5_read_f32(fixture_path(GOLDEN), path, &nd, NULL, NULL);
    CHECK(names && base && bound && nr == nb && nr == nd, "%s: rules", grp);
    if (!names || !base || !bound) return -1;
    double t0 = pc_now();
    PcStateDict sd;
    int rc = pc_hash_state_dict(net, (int)nr, (const char *const *)names, base, bound, &sd, &err);
    CHECK(rc == 0, "%s: hash weights: %s", arch, err.msg);
    // every float tensor of the state dict has a rule in the fixture
    int ruled = 0, floats = 0;
    for (int i = 0; i < sd.n; i++) {
        if (sd.tensors[i].dtype == PC_DT_I64) continue;
        floats++;
        for (size_t r = 0; r < nr; r++)
            if (strcmp(names[r], sd.tensors[i].name) == 0) {
                ruled++;
                break;
            }
    }
    CHECK(ruled == floats && (size_t)floats == nr, "%s: %d of %d tensors have a rule (%zu rules)", arch, ruled,
          floats, nr);
    rc = pc_net_load(net, &sd, &err);
    CHECK(rc == 0, "%s: load: %s", arch, err.msg);
    *t_weights = pc_now() - t0;
    pc_state_dict_free(&sd);
    for (size_t r = 0; r < nr; r++) free(names[r]);
    free(names), free(base), free(bound);
    return rc;
}

// logits (2, classes) against grp/logits, and the same predicted classes.
static void check_logits(const char *arch, const char *grp, const PcNet *net, const float *logits) {
    char path[256];
    size_t n;
    snprintf(path, sizeof path, "%s/logits", grp);
    double *ref = h5_read_f64(fixture_path(GOLDEN), path, &n);
    CHECK(ref && n == (size_t)2 * net->n_classes, "%s", path);
    if (!ref) return;
    double e = max_rel_diff_f32_f64(logits, ref, n);
    printf("  %-16s logits      max rel err %.2e\n", grp, e);
    CHECK(e <= TOL, "%s: logits rel err %.3g", grp, e);
    // same predicted classes
    for (int i = 0; i < 2; i++) {
        int a = 0, b = 0;
        for (int k = 1; k < net->n_classes; k++) {
            if (logits[i * net->n_classes + k] > logits[i * net->n_classes + a]) a = k;
            if (ref[i * net->n_classes + k] > ref[i * net->n_classes + b]) b = k;
        }
        CHECK(a == b, "%s image %d: argmax %d, PyTorch %d", arch, i, a, b);
    }
    free(ref);
}

// The tap (2, C, H, W) of target layer `target` (node nd) against grp/act/<target>: per-channel
// sums and the sampled values.
static void check_tap(const char *grp, const char *target, const PcNode *nd, const float *tap) {
    const size_t hw = (size_t)nd->h * nd->w, chw = nd->c * hw;
    char dpath[300];
    snprintf(dpath, sizeof dpath, "%s/act/%s/channel_sum", grp, target);
    size_t ns, nidx, nv;
    double *sums = h5_read_f64(fixture_path(GOLDEN), dpath, &ns);
    snprintf(dpath, sizeof dpath, "%s/act/%s/sample_index", grp, target);
    int64_t *idx = h5_read_i64(fixture_path(GOLDEN), dpath, &nidx);
    snprintf(dpath, sizeof dpath, "%s/act/%s/sample_value", grp, target);
    double *vals = h5_read_f64(fixture_path(GOLDEN), dpath, &nv);
    CHECK(sums && idx && vals && ns == 2 * (size_t)nd->c && nv == 2 * nidx, "%s/act/%s", grp, target);
    if (sums && idx && vals && ns == 2 * (size_t)nd->c && nv == 2 * nidx) {
        double *mine = xmalloc(ns * sizeof(double)), *got = xmalloc(nv * sizeof(double));
        for (int i = 0; i < 2; i++)
            for (int c = 0; c < nd->c; c++) {
                double s = 0;
                const float *p = tap + i * chw + c * hw;
                for (size_t k = 0; k < hw; k++) s += p[k];
                mine[i * nd->c + c] = s;
            }
        int in_range = 1;
        for (int i = 0; i < 2; i++)
            for (size_t k = 0; k < nidx; k++) {
                int ok = idx[k] >= 0 && (size_t)idx[k] < chw;
                in_range &= ok;
                got[i * nidx + k] = ok ? tap[i * chw + (size_t)idx[k]] : NAN;
            }
        double es = rel_err_f64(mine, sums, ns), ev = rel_err_f64(got, vals, nv);
        printf("  %-16s %-11s sums %.2e  samples %.2e  (%dx%dx%d)\n", grp, target, es, ev, nd->c, nd->h, nd->w);
        CHECK(in_range, "%s/act/%s: sample index outside C*H*W", grp, target);
        CHECK(es <= TOL, "%s/act/%s: channel sums rel err %.3g", grp, target, es);
        CHECK(ev <= TOL, "%s/act/%s: sampled values rel err %.3g", grp, target, ev);
        free(mine), free(got);
    }
    free(sums), free(idx), free(vals);
}

static void test_net(const char *arch) {
    char grp[64], path[256];
    snprintf(grp, sizeof grp, "hashnets/%s", arch);
    PcError err = {{0}};
    PcNet net;
    double t_weights = 0;
    if (load_hash_net(arch, grp, &net, &t_weights)) return;

    // targets and inputs
    size_t nt, ni;
    char **targets = h5_attr_strings(fixture_path(GOLDEN), grp, "target_layers", &nt);
    snprintf(path, sizeof path, "%s/inputs", grp);
    char **inputs = h5_read_strings(fixture_path(GOLDEN), path, &ni);
    CHECK(targets && nt == 5 && inputs && ni == 2, "%s: targets / inputs", grp);
    if (!targets || !inputs) return;
    int nodes[8];
    float *taps[8];
    for (size_t t = 0; t < nt; t++) {
        nodes[t] = pc_net_find(&net, targets[t]);
        CHECK(nodes[t] >= 0, "%s: no node %s", arch, targets[t]);
        if (nodes[t] < 0) return;
        const PcNode *n = &net.nodes[nodes[t]];
        taps[t] = xmalloc((size_t)2 * n->c * n->h * n->w * sizeof(float));
    }
    float *x = golden_inputs((const char *const *)inputs, 2);
    for (size_t i = 0; i < 2; i++) free(inputs[i]);
    free(inputs);

    PcBackendOptions opt = {.precision = PC_PREC_FP32};
    PcBackend *be = pc_backend_cpu_create(&opt, &err);
    PcBackendNet *bn = be->net_prepare(be, &net, 2, &err);
    CHECK(bn != NULL, "%s: prepare: %s", arch, err.msg);
    float *logits = xmalloc((size_t)2 * net.n_classes * sizeof(float));
    double t0 = pc_now();
    int rc = bn ? be->forward(be, bn, x, 2, logits, (int)nt, nodes, taps, &err) : -1;
    double t_fwd = pc_now() - t0;
    CHECK(rc == 0, "%s: forward: %s", arch, err.msg);
    printf("  %s: weights %.2f s, forward of 2 images %.2f s (%.1f GFLOP/s)\n", arch, t_weights, t_fwd,
           2 * pc_net_flops(&net) / t_fwd * 1e-9);

    if (rc == 0) {
        check_logits(arch, grp, &net, logits);
        for (size_t t = 0; t < nt; t++) check_tap(grp, targets[t], &net.nodes[nodes[t]], taps[t]);
    }
    for (size_t t = 0; t < nt; t++) {
        free(taps[t]);
        free(targets[t]);
    }
    free(targets);
    free(logits);
    free(x);
    if (bn) be->net_release(be, bn);
    be->destroy(be);
    pc_net_free(&net);
}

int main(void) {
    test_net("vgg16");
    test_net("resnet50");
    return test_summary();
}
