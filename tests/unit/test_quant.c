// test_quant.c: the 8-bit precisions (quant_scheme.h, quant_plan.h) on the CPU.
//   1. pc_q_e4m3 / pc_q_int8 against the oracle of fixtures/quant_rounding.h5 (ml_dtypes'
//      float8_e4m3fn and numpy's rint; tools/make_quant_fixtures.py): every code, every tie, the
//      values beside the ties, saturation, subnormals, NaN. Exact (value equality; NaN = NaN).
//   2. The CPU backend's 8-bit convs against an independent naive reference in double, layer by
//      layer: from the conv's input as the backend computed it, y = s_x * s_w[k] * sum(q_x * q_w) + b
//      (+ ReLU) with q_x, q_w the codes of quant_scheme.h's rounding, within 1e-4 of max |y| per layer;
//      tiny_vgg, synth_vgg, synth_resnet, fp8 and int8, the direct kernel and im2col + GEMM.
//      Also: the 8-bit logits differ from fp32 (the quantisation is applied), net_set_quant(NULL)
//      gives the fp32 logits back bit for bit, the backward (gradients) stays fp32, bad scales are
//      refused.
//   3. Calibration: pc_quant_observe's amax equals max |x| of each 8-bit conv's input in a plain
//      forward, batch or image by image; s_x = clip * amax / QMAX.
//   4. The [quant] key text reads back as the same floats; [precision] keep names are checked.
//   5. Edges: weight channels too small to scale (all zero, max / QMAX subnormal) are all-zero
//      weights with scale 1 on a net too (their outputs relu(bias), nothing NaN); a tiny or inf
//      amax gets the input scale 1, a tiny clip does not; a merge's fallbacks are the union, -1
//      when a shard does not know; /quant with missing counts reads back as 0 / -1.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "quant_plan.h"
#include "testutil.h"
#include "cpu_backend.h"

// ---- 1. rounding ------------------------------------------------------------------------------

static void check_rounding(const char *group, PcQuantFormat f) {
    char px[64], pq[64];
    snprintf(px, sizeof px, "%s/x", group);
    snprintf(pq, sizeof pq, "%s/q", group);
    size_t nx = 0, nq = 0;
    int64_t dims[8];
    int nd;
    float *x = h5_read_f32(fixture_path("quant_rounding.h5"), px, &nx, dims, &nd);
    float *q = h5_read_f32(fixture_path("quant_rounding.h5"), pq, &nq, dims, &nd);
    CHECK(x && q && nx == nq && nx > 1000, "%s: fixture read (%zu, %zu values)", group, nx, nq);
    size_t bad = 0, nan = 0;
    for (size_t i = 0; x && q && i < nx && i < nq; i++) {
        float got = f == PC_QUANT_FP8 ? pc_q_e4m3(x[i]) : pc_q_int8(x[i]);
        int ok = isnan(q[i]) ? isnan(got) : got == q[i];
        nan += isnan(q[i]) != 0;
        if (!ok && bad++ < 5) printf("  %s: Q(%.9g) = %.9g, oracle %.9g\n", group, x[i], got, q[i]);
    }
    printf("  %-5s rounding: %zu values (%zu NaN) against the oracle, %zu differ\n", group, nx, nan, bad);
    CHECK(bad == 0, "%s: %zu roundings differ from the oracle", group, bad);
    CHECK(nan >= 1, "%s: the fixture has NaN inputs", group);
    free(x), free(q);
}

// ---- 2. the 8-bit convs against a naive reference ----------------------------------------------

// One 8-bit conv in double from its input in (n, Cin, H, W): out (n, Cout, OH, OW).
static void ref_qconv(const PcNode *nd, const float *in, int n, int ih, int iw, float s_x, PcQuantFormat f,
                      double *out) {
    const PcConvParams *c = &nd->p.conv;
    const long per_out = (long)c->cin * c->k * c->k, in_img = (long)c->cin * ih * iw;
    const float qmax = f == PC_QUANT_INT8 ? 127.0f : 448.0f, inv_x = 1.0f / s_x;
    float *qx = malloc((size_t)n * in_img * sizeof(float)), *qw = malloc((size_t)c->cout * per_out * sizeof(float));
    float *sw = malloc((size_t)c->cout * sizeof(float));
    for (long i = 0; i < n * in_img; i++) qx[i] = pc_q_round(in[i] * inv_x, f);
    for (int k = 0; k < c->cout; k++) {
        float m = 0.0f;
        for (long j = 0; j < per_out; j++) m = fmaxf(m, fabsf(c->weight[k * per_out + j]));
        // README: a channel whose max / QMAX is not a normal float (all zero, or max below
        // QMAX * 2^-126) is all-zero weights with scale 1
        const int dead = (double)m < (double)qmax * 0x1p-126;
        sw[k] = dead ? 1.0f : m / qmax;
        const float inv_w = 1.0f / sw[k];
        for (long j = 0; j < per_out; j++)
            qw[k * per_out + j] = dead ? 0.0f : pc_q_round(c->weight[k * per_out + j] * inv_w, f);
    }
    for (int img = 0; img < n; img++)
        for (int k = 0; k < c->cout; k++)
            for (int oy = 0; oy < nd->h; oy++)
                for (int ox = 0; ox < nd->w; ox++) {
                    double acc = 0.0;
                    for (int ci = 0; ci < c->cin; ci++)
                        for (int ky = 0; ky < c->k; ky++) {
                            int y = oy * c->stride - c->pad + ky;
                            if (y < 0 || y >= ih) continue;
                            for (int kx = 0; kx < c->k; kx++) {
                                int xx = ox * c->stride - c->pad + kx;
                                if (xx < 0 || xx >= iw) continue;
                                acc += (double)qx[img * in_img + ((long)ci * ih + y) * iw + xx] *
                                       qw[k * per_out + ((long)ci * c->k + ky) * c->k + kx];
                            }
                        }
                    double v = (double)s_x * sw[k] * acc + c->bias[k];
                    if (nd->relu && v < 0) v = 0;
                    out[(((long)img * c->cout + k) * nd->h + oy) * nd->w + ox] = v;
                }
    free(qx), free(qw), free(sw);
}

static size_t node_floats(const PcNet *net, int i) {
    if (i < 0) return (size_t)net->in_c * net->in_h * net->in_w;
    return (size_t)net->nodes[i].c * net->nodes[i].h * net->nodes[i].w;
}

// The backend's taps of every 8-bit conv and its input (n images) compared with ref_qconv.
static void check_layers(const char *what, PcBackend *be, PcBackendNet *bn, const PcNet *net, const PcQuantPlan *p,
                         const float *x, int n) {
    int *nodes = calloc((size_t)(2 * p->n + 1), sizeof(int)), nt = 0;
    for (int i = 0; i < p->n; i++) nodes[nt++] = p->node[i], nodes[nt++] = net->nodes[p->node[i]].input;
    float **taps = calloc((size_t)nt + 1, sizeof(float *));
    for (int t = 0; t < nt; t++) taps[t] = malloc((size_t)n * node_floats(net, nodes[t]) * sizeof(float));
    PcError err;
    int rc = be->forward(be, bn, x, n, NULL, nt, nodes, taps, &err);
    CHECK(rc == 0, "%s: forward: %s", what, err.msg);
    double worst = 0.0;
    for (int i = 0; rc == 0 && i < p->n; i++) {
        const PcNode *nd = &net->nodes[p->node[i]];
        const PcNode *in = &net->nodes[nd->input];
        const size_t m = (size_t)n * node_floats(net, p->node[i]);
        double *ref = malloc(m * sizeof(double));
        ref_qconv(nd, taps[2 * i + 1], n, in->h, in->w, p->in_scale[i], p->format, ref);
        double e = max_rel_diff_f32_f64(taps[2 * i], ref, m);
        if (e > worst) worst = e;
        CHECK(e <= 1e-4, "%s: %s: rel err %.3g against the naive 8-bit conv", what, nd->p.conv.weight_name, e);
        free(ref);
    }
    printf("  %-34s %2d 8-bit convs, max rel err %.2e against the naive reference\n", what, p->n, worst);
    for (int t = 0; t < nt; t++) free(taps[t]);
    free(taps), free(nodes);
}

static float *logits_of(PcBackend *be, PcBackendNet *bn, const PcNet *net, const float *x, int n) {
    float *l = malloc((size_t)n * net->n_classes * sizeof(float));
    PcError err;
    CHECK(be->forward(be, bn, x, n, l, 0, NULL, NULL, &err) == 0, "forward: %s", err.msg);
    return l;
}

// The plan of net calibrated on x with clip (all eligible convs).
static void calibrated_plan(PcBackend *be, PcBackendNet *bn, const PcNet *net, PcPrecision prec, double clip,
                            const float *x, int n, PcQuantPlan *p) {
    PcPrecisionSettings ps = {.calibration_images = n, .clip = clip};
    PcError err;
    CHECK(pc_quant_plan(net, prec, &ps, p, &err) == 0, "plan: %s", err.msg);
    CHECK(be->net_set_quant(be, bn, NULL, &err) == 0, "unquantised: %s", err.msg);
    CHECK(pc_quant_observe(p, be, bn, net, x, n, &err) == 0, "observe: %s", err.msg);
    pc_quant_calibrated(p, n);
}

static void check_net(const char *model, PcPrecision prec, int no_direct, const float *x, int n) {
    PcNet net;
    PcError err;
    if (fixture_net_load(model, &net, &err)) {
        CHECK(0, "%s: %s", model, err.msg);
        return;
    }
    PcBackendOptions opt = {.precision = prec, .threads = 2, .no_direct_conv = no_direct};
    PcBackend *be = pc_backend_cpu_create(&opt, &err);
    PcBackendNet *bn = be->net_prepare(be, &net, n, &err);
    PcQuantPlan p;
    calibrated_plan(be, bn, &net, prec, 0.8, x, n, &p);   // clip < 1: some inputs saturate
    float *l32 = logits_of(be, bn, &net, x, n);
    CHECK(be->net_set_quant(be, bn, &p.q, &err) == 0, "set_quant: %s", err.msg);
    char what[96];
    snprintf(what, sizeof what, "%s %s %s", model, prec == PC_PREC_FP8 ? "fp8" : "int8", no_direct ? "im2col" : "direct+im2col");
    check_layers(what, be, bn, &net, &p, x, n);
    float *l8 = logits_of(be, bn, &net, x, n);
    double d = max_rel_diff_f32(l8, l32, (size_t)n * net.n_classes);
    printf("  %-34s logits 8-bit vs fp32: max rel diff %.2e\n", what, d);
    CHECK(d > 1e-6, "%s: the 8-bit logits equal the fp32 ones (quantisation not applied?)", what);
    // the backward runs unquantised: its logits are the fp32 ones
    int *cls = calloc((size_t)n, sizeof(int));
    float *lb = malloc((size_t)n * net.n_classes * sizeof(float));
    float *gx = malloc((size_t)n * node_floats(&net, -1) * sizeof(float));
    CHECK(be->backward(be, bn, x, n, cls, lb, 0, NULL, NULL, NULL, gx, &err) == 0, "backward: %s", err.msg);
    CHECK(!memcmp(lb, l32, (size_t)n * net.n_classes * sizeof(float)), "%s: the backward's forward is not fp32", what);
    CHECK(be->net_set_quant(be, bn, NULL, &err) == 0, "unset: %s", err.msg);
    float *lr = logits_of(be, bn, &net, x, n);
    CHECK(!memcmp(lr, l32, (size_t)n * net.n_classes * sizeof(float)), "%s: net_set_quant(NULL) is not fp32 again", what);
    free(l32), free(l8), free(lb), free(lr), free(gx), free(cls);
    pc_quant_plan_free(&p);
    be->net_release(be, bn);
    be->destroy(be);
    pc_net_free(&net);
}

// Scales the backend must refuse: another format, a scale on the first conv, a NaN scale, the
// wrong node count, a backend of precision fp32.
static void check_refusals(void) {
    PcNet net;
    PcError err;
    if (fixture_net_load("synth_vgg", &net, &err)) return;
    PcBackendOptions opt = {.precision = PC_PREC_FP8, .threads = 1};
    PcBackend *be = pc_backend_cpu_create(&opt, &err);
    PcBackendNet *bn = be->net_prepare(be, &net, 1, &err);
    float *s = calloc((size_t)net.n_nodes, sizeof(float));
    PcQuant q = {PC_QUANT_INT8, net.n_nodes, s};
    CHECK(be->net_set_quant(be, bn, &q, &err) == -1 && strstr(err.msg, "int8"), "int8 scales on fp8: %s", err.msg);
    q.format = PC_QUANT_FP8;
    s[0] = 0.1f;   // node 0: the first conv, reads the image
    CHECK(be->net_set_quant(be, bn, &q, &err) == -1 && strstr(err.msg, "cannot run in 8 bits"), "first conv: %s", err.msg);
    s[0] = 0.0f, s[2] = NAN;
    CHECK(be->net_set_quant(be, bn, &q, &err) == -1 && strstr(err.msg, "finite"), "NaN scale: %s", err.msg);
    s[2] = 0.0f, s[1] = 1e-39f;   // an 8-bit conv, subnormal scale: 1 / s overflows (inputs times inf; CUDA refuses it)
    CHECK(be->net_set_quant(be, bn, &q, &err) == -1 && strstr(err.msg, "reciprocal"), "scale 1e-39: %s", err.msg);
    s[1] = 0.0f;
    {   // and calibration never makes one: an input that small gets the scale 1
        PcPrecisionSettings ps = {.calibration_images = 1, .clip = 1.0};
        PcQuantPlan p;
        if (pc_quant_plan(&net, PC_PREC_FP8, &ps, &p, &err) == 0) {
            for (int i = 0; i < p.n; i++) p.amax[i] = 1e-37f;   // / 448: subnormal
            pc_quant_calibrated(&p, 1);
            CHECK(p.n > 0 && p.in_scale[0] == 1.0f, "amax 1e-37: scale %g, want 1", p.n ? p.in_scale[0] : 0.0f);
            CHECK(be->net_set_quant(be, bn, &p.q, &err) == 0, "amax 1e-37: its scales refused: %s", err.msg);
            be->net_set_quant(be, bn, NULL, &err);
            pc_quant_plan_free(&p);
        } else {
            CHECK(0, "pc_quant_plan: %s", err.msg);
        }
    }
    q.n_nodes = 3;
    CHECK(be->net_set_quant(be, bn, &q, &err) == -1 && strstr(err.msg, "nodes"), "node count: %s", err.msg);
    be->net_release(be, bn);
    be->destroy(be);
    opt.precision = PC_PREC_FP32;
    be = pc_backend_cpu_create(&opt, &err);
    bn = be->net_prepare(be, &net, 1, &err);
    q.n_nodes = net.n_nodes;
    CHECK(be->net_set_quant(be, bn, &q, &err) == -1 && strstr(err.msg, "fp32"), "fp32 backend: %s", err.msg);
    be->net_release(be, bn);
    be->destroy(be);
    free(s);
    pc_net_free(&net);
}

// Weight scales of channels too small to scale (quant_scheme.h pc_quant_weight_scale): an all-zero
// (pruned) channel, a channel whose largest |w| is a normal float but / QMAX is subnormal, one
// whose largest |w| is itself subnormal. Their 1 / s_w overflowed to inf and 0 * inf made the
// channel NaN; now scale 1, weights 0.
static void check_weight_scales(PcQuantFormat f) {
    const float qmax = pc_q_max(f);
    float w[5][4] = {{0, 0, 0, 0}, {1e-37f, 0, 0, -1e-37f}, {0, 1e-38f, 0, 0}, {0.5f, -2.0f, 0, 1}, {1e-30f, 0, 0, 0}};
    const float want[5] = {1.0f, 1.0f, 1.0f, 2.0f / qmax, 1e-30f / qmax};
    float s_w[5];
    pc_quant_weight_scales(&w[0][0], 5, 4, f, s_w);
    for (int k = 0; k < 5; k++) {
        CHECK(s_w[k] == want[k], "%s channel %d: s_w %g, want %g", f == PC_QUANT_FP8 ? "fp8" : "int8", k, s_w[k],
              want[k]);
        const float inv = 1.0f / s_w[k];
        int finite = isfinite(inv);
        for (int j = 0; j < 4; j++) finite &= isfinite(pc_q_fake(w[k][j], inv, s_w[k], f));
        CHECK(finite, "channel %d: 1 / s_w or a quantised weight is not finite", k);
    }
    CHECK(pc_quant_weight_scale(INFINITY, f) == INFINITY, "an inf weight keeps s_w = inf (its channel NaN)");
}

// A net whose first 8-bit conv has dead output channels (0: all zero, 1 and 2: tiny, see above):
// the backend's 8-bit conv equals the naive reference (those channels all-zero weights), their
// outputs are exactly relu(bias), and everything is finite.
static void check_dead_channels(PcPrecision prec, const float *x, int n) {
    PcNet net;
    PcError err;
    if (fixture_net_load("synth_vgg", &net, &err)) {
        CHECK(0, "synth_vgg: %s", err.msg);
        return;
    }
    int node = -1;
    for (int i = 0; i < net.n_nodes && node < 0; i++)
        if (net.nodes[i].op == PC_NODE_CONV &&
            pc_quant_eligible(net.nodes[i].input, net.nodes[i].p.conv.cin, net.nodes[i].p.conv.cout))
            node = i;
    PcConvParams *c = &net.nodes[node].p.conv;
    const long per = (long)c->cin * c->k * c->k;
    memset(c->weight, 0, 3 * per * sizeof(float));
    c->weight[per] = 1e-37f;        // channel 1: max 1e-37, / 448 or / 127 subnormal
    c->weight[2 * per + 5] = -1e-38f;   // channel 2: a subnormal max
    PcBackendOptions opt = {.precision = prec, .threads = 2};
    PcBackend *be = pc_backend_cpu_create(&opt, &err);
    PcBackendNet *bn = be->net_prepare(be, &net, n, &err);
    PcQuantPlan p;
    calibrated_plan(be, bn, &net, prec, 1.0, x, n, &p);
    CHECK(be->net_set_quant(be, bn, &p.q, &err) == 0, "set_quant: %s", err.msg);
    char what[64];
    snprintf(what, sizeof what, "synth_vgg %s, dead channels", prec == PC_PREC_FP8 ? "fp8" : "int8");
    check_layers(what, be, bn, &net, &p, x, n);
    const PcNode *nd = &net.nodes[node];
    const size_t plane = (size_t)nd->h * nd->w, out = (size_t)nd->c * plane;
    float *y = malloc((size_t)n * out * sizeof(float));
    float *logits = malloc((size_t)n * net.n_classes * sizeof(float));
    CHECK(be->forward(be, bn, x, n, logits, 1, &node, &y, &err) == 0, "forward: %s", err.msg);
    size_t bad = 0, nonfinite = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            const float b = c->bias[k], want = nd->relu && b < 0.0f ? 0.0f : b;
            for (size_t j = 0; j < plane; j++) bad += y[i * out + k * plane + j] != want;
        }
    for (size_t j = 0; j < (size_t)n * out; j++) nonfinite += !isfinite(y[j]);
    for (int j = 0; j < n * net.n_classes; j++) nonfinite += !isfinite(logits[j]);
    printf("  %-34s channels 0-2 = relu(bias): %zu values differ, %zu not finite\n", what, bad, nonfinite);
    CHECK(bad == 0 && nonfinite == 0, "%s: %zu outputs of the dead channels are not relu(bias), %zu values not finite",
          what, bad, nonfinite);
    free(y), free(logits);
    pc_quant_plan_free(&p);
    be->net_release(be, bn);
    be->destroy(be);
    pc_net_free(&net);
}

// ---- 3. calibration -------------------------------------------------------------------------

static void check_calibration(const float *x) {
    PcNet net;
    PcError err;
    if (fixture_net_load("synth_resnet", &net, &err)) return;
    PcBackendOptions opt = {.precision = PC_PREC_INT8, .threads = 2};
    PcBackend *be = pc_backend_cpu_create(&opt, &err);
    PcBackendNet *bn = be->net_prepare(be, &net, 2, &err);
    PcQuantPlan a, b;
    calibrated_plan(be, bn, &net, PC_PREC_INT8, 0.5, x, 2, &a);
    PcPrecisionSettings ps = {.calibration_images = 2, .clip = 0.5};
    pc_quant_plan(&net, PC_PREC_INT8, &ps, &b, &err);
    const size_t img = node_floats(&net, -1);
    for (int i = 0; i < 2; i++) pc_quant_observe(&b, be, bn, &net, x + i * img, 1, &err);
    pc_quant_calibrated(&b, 2);
    int bad = 0, bad_scale = 0;
    for (int i = 0; i < a.n; i++) {
        int in = net.nodes[a.node[i]].input;
        float *t = malloc(2 * node_floats(&net, in) * sizeof(float));
        be->forward(be, bn, x, 2, NULL, 1, &in, &t, &err);
        float m = 0.0f;
        for (size_t j = 0; j < 2 * node_floats(&net, in); j++) m = fmaxf(m, fabsf(t[j]));
        bad += a.amax[i] != m || b.amax[i] != m;
        bad_scale += a.in_scale[i] != (float)0.5 * m / 127.0f || a.q.in_scale[a.node[i]] != a.in_scale[i];
        free(t);
    }
    printf("  calibration: %d 8-bit convs of synth_resnet, amax vs a direct forward: %d differ, scales %d differ\n",
           a.n, bad, bad_scale);
    CHECK(a.n > 0 && bad == 0, "calibration amax differs from a direct forward on %d convs", bad);
    CHECK(bad_scale == 0, "s_x != clip * amax / 127 on %d convs", bad_scale);
    // 4. the key text round trip, and a plan that reads another net's text does not take it
    char *key = pc_quant_key_text(&a);
    PcQuantPlan c;
    pc_quant_plan(&net, PC_PREC_INT8, &ps, &c, &err);
    CHECK(pc_quant_from_key(&c, key) == 1 && !memcmp(c.in_scale, a.in_scale, (size_t)a.n * sizeof(float)),
          "the [quant] key text does not read back: %s", key);
    CHECK(c.calibration_images == 2 && c.from_file == 1, "key text: images %d", c.calibration_images);
    char *fp8 = strdup(key);
    memcpy(strstr(fp8, "int8"), "fp8\n", 4);
    CHECK(pc_quant_from_key(&c, fp8) == 0, "int8 plan took fp8 scales");
    free(key), free(fp8);
    const int n_all = a.n;
    pc_quant_plan_free(&a), pc_quant_plan_free(&b), pc_quant_plan_free(&c);
    ps.n_keep = 1;
    snprintf(ps.keep[0], 64, "layer9.conv1");
    snprintf(ps.keep_origin, sizeof ps.keep_origin, "x.ini:7");
    CHECK(pc_quant_plan(&net, PC_PREC_INT8, &ps, &c, &err) == -1 && strstr(err.msg, "x.ini:7: [precision] keep") &&
              strstr(err.msg, "layer9.conv1") && strstr(err.msg, "layer2.0.conv2"),
          "unknown keep layer: %s", err.msg);
    snprintf(ps.keep[0], 64, "layer2.0.conv2");
    pc_quant_plan(&net, PC_PREC_INT8, &ps, &c, &err);
    int kept = 1;
    for (int i = 0; i < c.n; i++) kept &= strcmp(c.layer[i], "layer2.0.conv2") != 0;
    CHECK(kept && c.n == n_all - 1, "keep: %d convs, layer2.0.conv2 kept %d", c.n, kept);
    pc_quant_plan_free(&c);
    be->net_release(be, bn);
    be->destroy(be);
    pc_net_free(&net);
}

// pc_quant_calibrated's edges: a tiny or inf amax gets the scale 1 (its inputs are zero, or the
// net overflowed), but a tiny clip keeps its subnormal scale for the run to refuse naming clip
// (taking 1 there hid a clip = 1e-38 that cli_quant expects refused).
static void check_calibrated_edges(void) {
    PcNet net;
    PcError err;
    if (fixture_net_load("synth_vgg", &net, &err)) return;
    PcPrecisionSettings ps = {.calibration_images = 1, .clip = 1.0};
    PcQuantPlan p;
    CHECK(pc_quant_plan(&net, PC_PREC_FP8, &ps, &p, &err) == 0 && p.n >= 3, "plan: %s", err.msg);
    p.amax[0] = 0.0f, p.amax[1] = INFINITY, p.amax[2] = 4.48f;
    pc_quant_calibrated(&p, 1);
    CHECK(p.in_scale[0] == 1.0f && p.in_scale[1] == 1.0f && p.in_scale[2] == 4.48f / 448.0f,
          "amax 0, inf, 4.48: scales %g %g %g, want 1 1 0.01", p.in_scale[0], p.in_scale[1], p.in_scale[2]);
    p.clip = 1e-38;
    pc_quant_calibrated(&p, 1);
    CHECK(!pc_quant_scale_ok(p.in_scale[2]) && p.in_scale[2] > 0.0f,
          "clip 1e-38, amax 4.48: scale %g should stay subnormal (refused by the run)", p.in_scale[2]);
    CHECK(p.in_scale[0] == 1.0f, "clip 1e-38, amax 0: scale %g, want 1", p.in_scale[0]);
    // a [quant] key text holding a subnormal scale is not taken (the backends would refuse it);
    // the same text with a normal one is
    for (int sub = 0; sub < 2; sub++) {
        char key[4096];
        size_t used = (size_t)snprintf(key, sizeof key, "\n[quant]\nformat = fp8\ncalibration_images = 1\n");
        for (int i = 0; i < p.n && used < sizeof key; i++)
            used += (size_t)snprintf(key + used, sizeof key - used, "%s = %s\n", p.layer[i],
                                     i || !sub ? "0.5" : "1e-39");
        PcQuantPlan q;
        pc_quant_plan(&net, PC_PREC_FP8, &ps, &q, &err);
        CHECK(pc_quant_from_key(&q, key) == !sub, "a key with the first scale %s: taken %d, want %d",
              sub ? "1e-39" : "0.5", sub, !sub);
        pc_quant_plan_free(&q);
    }
    pc_quant_plan_free(&p);
    pc_net_free(&net);
}

// A merge's fallbacks (pc_quant_pool_fallbacks): the union of the shards' convs, -1 when a shard
// does not know its own (it used to take the largest count, so a 0 overrode a -1).
static void check_pool_fallbacks(void) {
    PcQuantPlan a = {.fallback_convs = 0}, b = {.fallback_convs = -1}, c = {.fallback_convs = 2},
                d = {.fallback_convs = 1}, out;
    snprintf(c.fallback_layers, sizeof c.fallback_layers, "layer1.0.conv2, layer3.0.conv1");
    snprintf(d.fallback_layers, sizeof d.fallback_layers, "layer3.0.conv1");
    const struct { const PcQuantPlan *s[3]; int n, convs; const char *layers; } cases[] = {
        {{&a, &a}, 2, 0, ""},
        {{&a, &b}, 2, -1, "not known for 1 of 2 shards (no guard ran)"},
        {{&b, &a}, 2, -1, "not known for 1 of 2 shards (no guard ran)"},
        {{&c, &d}, 2, 2, "layer1.0.conv2, layer3.0.conv1"},
        {{&d, &a, &c}, 3, 2, "layer3.0.conv1, layer1.0.conv2"},
        {{&d, &b, &c}, 3, -1, "layer3.0.conv1, layer1.0.conv2; not known for 1 of 3 shards (no guard ran)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&out, 0, sizeof out);
        pc_quant_pool_fallbacks(cases[i].s, cases[i].n, &out);
        CHECK(out.fallback_convs == cases[i].convs && !strcmp(out.fallback_layers, cases[i].layers),
              "fallbacks case %zu: %d '%s', want %d '%s'", i, out.fallback_convs, out.fallback_layers, cases[i].convs,
              cases[i].layers);
    }
    // a shard whose list was cut (count 300, names up to the buffer): the count stays at least 300
    PcQuantPlan e = {.fallback_convs = 300};
    for (size_t used = 0; used + 20 < sizeof e.fallback_layers;)
        used += (size_t)snprintf(e.fallback_layers + used, sizeof e.fallback_layers - used, "%sl%03zu.conv1",
                                 used ? ", " : "", used);
    const PcQuantPlan *s2[2] = {&e, &c};
    pc_quant_pool_fallbacks(s2, 2, &out);
    CHECK(out.fallback_convs == 300 && strstr(out.fallback_layers, ", ..."), "cut list: %d '%.40s...'",
          out.fallback_convs, out.fallback_layers);
}

// /quant read back with its counts missing (a file of another version, a damaged one): 0 images,
// fallbacks not known; a NaN count used to be converted to int (undefined; INT_MIN on x86).
static void check_read_missing(void) {
    char path[] = "/tmp/pc_test_quant_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return;
    close(fd);
    PcQuantPlan p = {.format = PC_QUANT_INT8, .clip = 1.0, .calibration_images = 4, .guard_images = 2,
                     .fallback_convs = 0};
    PcError err;
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(f >= 0 && pc_quant_write_h5(f, &p, &err) == 0, "write /quant: %s", err.msg);
    hid_t g = H5Gopen2(f, "/quant", H5P_DEFAULT);
    const char *gone[4] = {"calibration_images", "guard_images", "guard_pairs", "fallback_convs"};
    for (int i = 0; i < 4; i++) H5Adelete(g, gone[i]);
    H5Gclose(g);
    PcQuantPlan r;
    CHECK(pc_quant_read_h5(f, &r) == 1, "read /quant");
    CHECK(r.calibration_images == 0 && r.guard_images == 0 && r.guard_pairs == 0 && r.fallback_convs == -1 &&
              r.format == PC_QUANT_INT8,
          "missing counts read as %d %d %d %d, want 0 0 0 -1", r.calibration_images, r.guard_images, r.guard_pairs,
          r.fallback_convs);
    pc_quant_plan_free(&r);
    H5Fclose(f);
    unlink(path);
}

int main(void) {
    check_rounding("e4m3", PC_QUANT_FP8);
    check_rounding("int8", PC_QUANT_INT8);
    static const char *const inputs[2] = {"ILSVRC2012_val_00010495.JPEG", "ILSVRC2012_val_00015410.JPEG"};
    float *x = golden_inputs(inputs, 2);
    const char *models[3] = {"tiny_vgg", "synth_vgg", "synth_resnet"};
    for (int m = 0; m < 3; m++)
        for (int d = 0; d < 2; d++) check_net(models[m], d ? PC_PREC_INT8 : PC_PREC_FP8, d, x, 2);
    check_net("synth_vgg", PC_PREC_INT8, 0, x, 1);
    check_net("synth_resnet", PC_PREC_FP8, 1, x, 1);
    check_refusals();
    check_weight_scales(PC_QUANT_FP8);
    check_weight_scales(PC_QUANT_INT8);
    check_dead_channels(PC_PREC_FP8, x, 2);
    check_dead_channels(PC_PREC_INT8, x, 2);
    check_calibrated_edges();
    check_pool_fallbacks();
    check_read_missing();
    check_calibration(x);
    free(x);
    return test_summary();
}
