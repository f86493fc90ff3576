// test_quant.c: the 8-bit precisions (quant.h, quant_run.h) on the CPU.
//   1. pc_q_e4m3 / pc_q_int8 against the oracle of fixtures/quant_rounding.h5 (ml_dtypes'
//      float8_e4m3fn and numpy's rint; tools/make_quant_fixtures.py): every code, every tie, the
//      values beside the ties, saturation, subnormals, NaN. Exact (value equality; NaN = NaN).
//   2. The CPU backend's 8-bit convs against an independent naive reference in double, layer by
//      layer: from the conv's input as the backend computed it, y = s_x * s_w[k] * sum(q_x * q_w) + b
//      (+ ReLU) with q_x, q_w the codes of quant.h's rounding, within 1e-4 of max |y| per layer;
//      tiny_vgg, synth_vgg, synth_resnet, fp8 and int8, the direct kernel and im2col + GEMM.
//      Also: the 8-bit logits differ from fp32 (the quantisation is applied), net_set_quant(NULL)
//      gives the fp32 logits back bit for bit, the backward (gradients) stays fp32, bad scales are
//      refused.
//   3. Calibration: pc_quant_observe's amax equals max |x| of each 8-bit conv's input in a plain
//      forward, batch or image by image; s_x = clip * amax / QMAX.
//   4. The [quant] key text reads back as the same floats; [precision] keep names are checked.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "quant_run.h"
#include "testutil.h"

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
        sw[k] = m > 0.0f ? m / qmax : 1.0f;
        const float inv_w = 1.0f / sw[k];
        for (long j = 0; j < per_out; j++) qw[k * per_out + j] = pc_q_round(c->weight[k * per_out + j] * inv_w, f);
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
    int *nodes = malloc((size_t)(2 * p->n + 1) * sizeof(int)), nt = 0;
    for (int i = 0; i < p->n; i++) nodes[nt++] = p->node[i], nodes[nt++] = net->nodes[p->node[i]].input;
    float **taps = malloc((size_t)nt * sizeof(float *));
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
    check_calibration(x);
    free(x);
    return test_summary();
}
