// test_sanity.c: the cascading randomisation of the sanity check (host/metrics/sanity.c) against PyTorch
// (tests/fixtures/sanity_similarity.h5, tools/make_sanity_fixtures.py):
//   - the layer order of the synthetic VGG and ResNet is the reverse of torchvision's module order;
//   - each layer's fan_in and bound equal reset_parameters()' (kaiming_uniform_(a = sqrt 5) for the
//     weights, 1/sqrt(fan_in) for the biases);
//   - the draws lie in +-bound and their mean / variance fit uniform(-b, b) (|z| < 5);
//   - batch norm of a re-initialised ResNet conv is reset (folded scale 1/sqrt(1 + eps), bias 0);
//   - reproducible (same seed: same bits; another seed: other values);
//   - end to end: synth_vgg / synth_resnet after 0, 1, 3, 8 steps compute torch's logits for the
//     same draws.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sanity.h"
#include "testutil.h"

static const char *fx(void) {
    static char p[1024];
    snprintf(p, sizeof p, "%s", fixture_path("sanity_similarity.h5"));
    return p;
}

static void test_order_bounds(const char *model) {
    PcNet net;
    PcError err;
    if (fixture_net_create(model, &net, &err)) {
        CHECK(0, "%s: %s", model, err.msg);
        return;
    }
    char path[128];
    size_t n, m;
    snprintf(path, sizeof path, "reset/%s/names", model);
    char **names = h5_read_strings(fx(), path, &n);
    snprintf(path, sizeof path, "reset/%s/fan_in", model);
    int64_t *fan = h5_read_i64(fx(), path, &m);
    snprintf(path, sizeof path, "reset/%s/weight_bound", model);
    double *wb = h5_read_f64(fx(), path, &m);
    snprintf(path, sizeof path, "reset/%s/bias_bound", model);
    double *bb = h5_read_f64(fx(), path, &m);
    snprintf(path, sizeof path, "reset/%s/torch_max_w", model);
    double *tmax = h5_read_f64(fx(), path, &m);
    int nodes[256];
    int L = pc_sanity_order(&net, nodes, 256);
    CHECK(names && (size_t)L == n, "%s: %d layers, torch %zu", model, L, n);
    for (int i = 0; names && i < L && (size_t)i < n; i++) {
        const char *nm = pc_sanity_layer_name(&net, nodes[i]);
        int f = pc_sanity_fan_in(&net, nodes[i]);
        double bound = 1.0 / sqrt((double)f);
        CHECK(!strcmp(nm, names[i]), "%s step %d: %s, torch %s", model, i + 1, nm, names[i]);
        CHECK(f == fan[i], "%s %s: fan_in %d, torch %lld", model, nm, f, (long long)fan[i]);
        CHECK(fabs(bound - wb[i]) < 1e-12 * wb[i] && fabs(bound - bb[i]) < 1e-12 * bb[i],
              "%s %s: bound %.9g, torch weight %.9g bias %.9g", model, nm, bound, wb[i], bb[i]);
        CHECK(tmax[i] <= bound * (1 + 1e-6), "%s %s: torch's own draws within the bound", model, nm);
        CHECK(pc_sanity_layer_index(&net, nodes[i]) == L - 1 - i, "%s %s: forward index", model, nm);
    }
    for (size_t i = 0; names && i < n; i++) free(names[i]);
    free(names), free(fan), free(wb), free(bb), free(tmax);
    pc_net_free(&net);
}

// Weights (and biases) of node: pointers and counts.
static void params(PcNet *net, int node, float **w, size_t *nw, float **b, int *nb, int *bn) {
    PcNode *nd = &net->nodes[node];
    if (nd->op == PC_NODE_CONV) {
        *w = nd->p.conv.weight, *b = nd->p.conv.bias, *nb = nd->p.conv.cout, *bn = nd->p.conv.has_bn;
        *nw = (size_t)nd->p.conv.cout * nd->p.conv.cin * nd->p.conv.k * nd->p.conv.k;
    } else {
        *w = nd->p.linear.weight, *b = nd->p.linear.bias, *nb = nd->p.linear.out, *bn = 0;
        *nw = (size_t)nd->p.linear.out * nd->p.linear.in;
    }
}

static void test_draws(const char *model) {
    PcNet net, again;
    PcError err;
    if (fixture_net_load(model, &net, &err) || fixture_net_load(model, &again, &err)) {
        CHECK(0, "%s: %s", model, err.msg);
        return;
    }
    int nodes[256], L = pc_sanity_order(&net, nodes, 256), worst_z = 0;
    double zmax = 0;
    for (int i = 0; i < L; i++) {
        float *w, *b;
        size_t nw;
        int nb, bn;
        params(&net, nodes[i], &w, &nw, &b, &nb, &bn);
        pc_sanity_reinit_layer(&net, nodes[i], 1234);
        pc_sanity_reinit_layer(&again, nodes[i], 1234);
        double s = bn ? 1.0 / sqrt(1.0 + 1e-5) : 1.0, bound = s / sqrt((double)pc_sanity_fan_in(&net, nodes[i]));
        double sum = 0, sq = 0, bmax = 0;
        int inside = 1;
        for (size_t j = 0; j < nw; j++) {
            inside &= fabs(w[j]) <= bound * (1 + 1e-6);
            sum += w[j], sq += (double)w[j] * w[j];
        }
        for (int o = 0; o < nb; o++) bmax = fmax(bmax, fabs(b[o]));
        const char *nm = pc_sanity_layer_name(&net, nodes[i]);
        CHECK(inside, "%s %s: weights within +-%.6g", model, nm, bound);
        // resnet convs: no bias, BN reset (beta 0, mean 0) -> folded bias 0; else within the bound
        int zero_bias = net.nodes[nodes[i]].op == PC_NODE_CONV && net.spec.is_resnet;
        CHECK(zero_bias ? bmax == 0 : bmax <= bound * (1 + 1e-6) && bmax > 0, "%s %s: bias max %.6g", model, nm, bmax);
        // uniform(-b, b): mean 0 (sd b / sqrt(3n)), variance b^2 / 3 (sd of the estimate b^2 sqrt(4/45n))
        double n = (double)nw, mean = sum / n, var = sq / n - mean * mean;
        double z1 = fabs(mean) / (bound / sqrt(3 * n)), z2 = fabs(var - bound * bound / 3) / (bound * bound * sqrt(4 / (45 * n)));
        if (fmax(z1, z2) > zmax) zmax = fmax(z1, z2), worst_z = i;
        CHECK(z1 < 5 && z2 < 5, "%s %s: mean z %.2f, variance z %.2f", model, nm, z1, z2);
        float *w2, *b2;
        params(&again, nodes[i], &w2, &nw, &b2, &nb, &bn);
        CHECK(!memcmp(w, w2, nw * sizeof(float)) && !memcmp(b, b2, (size_t)nb * sizeof(float)), "%s %s: reproducible",
              model, nm);
        pc_sanity_reinit_layer(&again, nodes[i], 1235);
        CHECK(memcmp(w, w2, nw * sizeof(float)) != 0, "%s %s: another seed draws other values", model, nm);
    }
    printf("  %s: %d layers, largest |z| of mean / variance %.2f (%s)\n", model, L, zmax,
           pc_sanity_layer_name(&net, nodes[worst_z]));
    pc_net_free(&net);
    pc_net_free(&again);
}

// model after K steps (seed 0): logits of the fixture's input vs torch with the same draws.
static void test_end_to_end(const char *model) {
    size_t n, nk;
    int64_t dims[8];
    int nd;
    char p1[128], p2[128], p3[128];
    snprintf(p1, sizeof p1, "reinit/x");
    snprintf(p2, sizeof p2, "reinit/%s/steps", model);
    snprintf(p3, sizeof p3, "reinit/%s/logits", model);
    float *x = h5_read_f32(fx(), p1, &n, dims, &nd);
    int64_t *ks = h5_read_i64(fx(), p2, &nk);
    double *want = h5_read_f64(fx(), p3, &n);
    PcBackend *be = test_cpu_backend();
    if (!x || !ks || !want || !be) {
        CHECK(0, "fixture reinit/%s", model);
        return;
    }
    for (size_t r = 0; r < nk; r++) {
        PcNet net;
        PcError err;
        if (fixture_net_load(model, &net, &err)) {
            CHECK(0, "%s", err.msg);
            break;
        }
        int nodes[256], L = pc_sanity_order(&net, nodes, 256);
        for (int i = 0; i < ks[r] && i < L; i++) pc_sanity_reinit_layer(&net, nodes[i], 0);
        PcBackendNet *bn = be->net_prepare(be, &net, 1, &err);
        float logits[4];
        int rc = bn ? be->forward(be, bn, x, 1, logits, 0, NULL, NULL, &err) : -1;
        CHECK(rc == 0, "forward: %s", err.msg);
        double scale = 0, worst = 0;
        for (int k = 0; k < 4; k++) scale = fmax(scale, fabs(want[r * 4 + k]));
        for (int k = 0; k < 4; k++) worst = fmax(worst, fabs(logits[k] - want[r * 4 + k]));
        CHECK(rc == 0 && worst <= 1e-4 * scale + 1e-6, "%s after %lld steps: logits max |diff| %.3g (max |logit| %.3g)",
              model, (long long)ks[r], worst, scale);
        if (bn) be->net_release(be, bn);
        pc_net_free(&net);
    }
    be->destroy(be);
    free(x), free(ks), free(want);
}

// The torchvision networks' orders (BASELINES.md B7 for VGG16), from the node graph alone.
static void test_torchvision_orders(void) {
    static const char *const vgg16[] = {"classifier.6", "classifier.3", "classifier.0", "features.28", "features.26",
                                        "features.24", "features.21", "features.19", "features.17", "features.14",
                                        "features.12", "features.10", "features.7", "features.5", "features.2",
                                        "features.0"};
    PcNet net;
    PcError err;
    int nodes[256], L;
    if (fixture_net_create("vgg16", &net, &err) == 0) {
        L = pc_sanity_order(&net, nodes, 256);
        int same = L == 16;
        for (int i = 0; same && i < L; i++) same = !strcmp(pc_sanity_layer_name(&net, nodes[i]), vgg16[i]);
        CHECK(same, "vgg16: the 16 steps of BASELINES.md B7 (%d layers)", L);
        pc_net_free(&net);
    } else {
        CHECK(0, "vgg16: %s", err.msg);
    }
    if (fixture_net_create("resnet50", &net, &err) == 0) {
        L = pc_sanity_order(&net, nodes, 256);
        CHECK(L == 54, "resnet50: 53 convolutions + fc = 54 steps (%d)", L);
        CHECK(L == 54 && !strcmp(pc_sanity_layer_name(&net, nodes[0]), "fc") &&
                  !strcmp(pc_sanity_layer_name(&net, nodes[1]), "layer4.2.conv3") &&
                  !strcmp(pc_sanity_layer_name(&net, nodes[7]), "layer4.0.downsample.0") &&
                  !strcmp(pc_sanity_layer_name(&net, nodes[53]), "conv1"),
              "resnet50: fc, layer4.2.conv3, ..., layer4.0.downsample.0, ..., conv1");
        pc_net_free(&net);
    } else {
        CHECK(0, "resnet50: %s", err.msg);
    }
}

int main(void) {
    test_torchvision_orders();
    test_order_bounds("synth_vgg");
    test_order_bounds("synth_resnet");
    test_draws("synth_vgg");
    test_draws("synth_resnet");
    test_end_to_end("synth_vgg");
    test_end_to_end("synth_resnet");
    return test_summary();
}
