// test_cuda_backward.c: the CUDA backend's backward (backend.h: data gradients of the logit
// y_cls[i]) against the CPU backend's backward, the reference (itself checked against PyTorch
// autograd elsewhere). Compared: logits, taps, the gradient of every requested tap and of the
// input. fp32: max |gpu - cpu| / max |cpu| <= 1e-4 for each; non-finite values must sit at the
// same places. Except, in section 1 (the 224 x 224 networks), the gradients of the layers before the
// last target and of the input: they are ill-conditioned with respect to float rounding (one ReLU
// output near 0 or one near-tie in a max-pool window decided differently by two correct float32
// forwards moves a whole gradient value, and the backward spreads it), so they get
// ||d|| / ||ref|| <= 0.02 (kLooseL2), with max rel and the count of values over 1e-4 printed.
// Measured with the CPU backward against itself on the fixture inputs perturbed by 1e-7 / 1e-6
// relative (about the size of the GPU / CPU forward differences): hash VGG16 max rel up to 0.24,
// L2 up to 3.8e-3 / 6.7e-3 in features.1 .. 15 and the input, exactly 0 from features.22 on;
// ResNet50 max rel 0.05, L2 < 1e-3; tiny_vgg 0 / max rel 0.1 and L2 2.8e-3 in features.1, 3 and
// the input; tiny_resnet 0 / 0. tf32 / fp16 / bf16 (the forward in that precision, the backward
// on f32 gradients with TF32 math): the drift against the CPU's fp32 gradients is printed (max
// relative and ||d|| / ||ref||); only the L2 figure is bounded, loosely (tf32 0.3, fp16 0.4, bf16
// 0.8; uncorrelated gradients of equal size, e.g. a wrong layout, give about 1.4): the same
// experiment with 1e-3 / 1e-2 relative noise on the input (about a reduced precision's forward
// error) moved hash VGG16's gradients by L2 up to 0.145 / 0.41 (input, features.1), ResNet50's by
// 0.11 / 0.31 (input), from the rounding of the masks alone.
//  1. networks: tiny_vgg and tiny_resnet (data/models), hash-weight VGG16 and ResNet50
//     (tests/lib/hashweights.h, rules of reference_golden.h5) on the two fixture images: the default
//     target layers (tap + gradient) and the input gradient; on VGG also Zoom-CAM's 13 conv
//     gradients in the same pass; the Grad-CAM head alone (the pass stops at the last target)
//     equals the full pass; every reduced precision's drift.
//  2. batch sizes 1 and 3 of a net prepared for 4 (tiny_resnet).
//  3. single ops on small nets built here (random weights): max-pool with ties on the input
//     (2/2 and the overlapping 3/2 pad 1: the gradient goes to the first max in scan order),
//     adaptive average pooling with uneven, overlapping bins (10 -> 3, 10 -> 4, 4 -> 7), ResNet
//     BasicBlocks (the block input's gradient is the sum of the residual branch's and the
//     identity's or downsample's), an add of a node to itself, NaN in the input (NaN outputs of
//     ReLU and max-pool: where the gradient goes is compared).
//  4. bad calls: a class out of range, a batch over the prepared maximum.
// Skips (exit 77) when the CUDA backend is not compiled in or no device is present.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hashweights.h"
#include "testutil.h"
#include "weights.h"

#define GOLDEN "reference_golden.h5"
#define TOL 1e-4
#define MAX_T 32

static const char *const kImages[2] = {"ILSVRC2012_val_00010495.JPEG", "ILSVRC2012_val_00015410.JPEG"};
static const char *const kPrecName[4] = {"fp32", "tf32", "fp16", "bf16"};
static const double kDriftL2[4] = {0, 0.3, 0.4, 0.8};
static const double kLooseL2 = 0.02;
static PcBackend *gpu[4];   // one per precision (NULL when unavailable)
static PcBackend *cpu;

// ---- random numbers ---------------------------------------------------------------------------

static TestRng rng = {2024u};
static float frand(void) { return test_rand01(&rng); }   // [0, 1)

// ---- networks ---------------------------------------------------------------------------------


// A custom vgg / resnet spec with the README's default hash weights.
static int spec_net(const PcArchSpec *s, PcNet *net, PcError *err) {
    if (pc_net_create(s, net, err)) return -1;
    PcStateDict sd;
    return test_net_load_sd(net, pc_hash_state_dict(net, 0, NULL, NULL, NULL, &sd, err), &sd, err);
}

// Hand-built graphs (shapes computed here, weights uniform +-sqrt(6 / fan_in), biases +-0.1).
static void hand_begin(PcNet *net, int c, int h, int w) {
    memset(net, 0, sizeof *net);
    snprintf(net->spec.arch, sizeof net->spec.arch, "hand");
    net->in_c = c, net->in_h = h, net->in_w = w;
    net->nodes = xcalloc(16, sizeof(PcNode));
    net->params = xmalloc(((size_t)1 << 18) * sizeof(float));
    net->loaded = 1;
}

static PcNode *hand_node(PcNet *net, PcNodeOp op, int input, int relu) {
    PcNode *nd = &net->nodes[net->n_nodes++];
    nd->op = op, nd->input = input, nd->input2 = -1, nd->relu = relu;
    if (input < 0) nd->c = net->in_c, nd->h = net->in_h, nd->w = net->in_w;
    else nd->c = net->nodes[input].c, nd->h = net->nodes[input].h, nd->w = net->nodes[input].w;
    return nd;
}

static float *hand_params(PcNet *net, size_t count, float bound) {
    float *p = net->params + net->n_params;
    net->n_params += count;
    CHECK(net->n_params <= ((size_t)1 << 18), "hand-built net: parameter arena too small");
    for (size_t i = 0; i < count; i++) p[i] = bound * (2.0f * frand() - 1.0f);
    return p;
}

static int hand_conv(PcNet *net, int input, int cout, int k, int stride, int pad, int relu) {
    PcNode *nd = hand_node(net, PC_NODE_CONV, input, relu);
    PcConvParams *cp = &nd->p.conv;
    cp->cin = nd->c, cp->cout = cout, cp->k = k, cp->stride = stride, cp->pad = pad;
    snprintf(cp->weight_name, sizeof cp->weight_name, "hand.%d", net->n_nodes - 1);
    cp->weight = hand_params(net, (size_t)cout * cp->cin * k * k, sqrtf(6.0f / (cp->cin * k * k)));
    cp->bias = hand_params(net, (size_t)cout, 0.1f);
    nd->c = cout, nd->h = (nd->h + 2 * pad - k) / stride + 1, nd->w = (nd->w + 2 * pad - k) / stride + 1;
    return net->n_nodes - 1;
}

static int hand_maxpool(PcNet *net, int input, int k, int stride, int pad) {
    PcNode *nd = hand_node(net, PC_NODE_MAXPOOL, input, 0);
    nd->p.pool.k = k, nd->p.pool.stride = stride, nd->p.pool.pad = pad;
    nd->h = (nd->h + 2 * pad - k) / stride + 1, nd->w = (nd->w + 2 * pad - k) / stride + 1;
    return net->n_nodes - 1;
}

static int hand_add(PcNet *net, int a, int b, int relu) {
    PcNode *nd = hand_node(net, PC_NODE_ADD, a, relu);
    nd->input2 = b;
    return net->n_nodes - 1;
}

static int hand_linear(PcNet *net, int input, int out, int relu) {
    PcNode *nd = hand_node(net, PC_NODE_LINEAR, input, relu);
    PcLinearParams *lp = &nd->p.linear;
    lp->in = nd->c * nd->h * nd->w, lp->out = out;
    snprintf(lp->weight_name, sizeof lp->weight_name, "hand.%d", net->n_nodes - 1);
    lp->weight = hand_params(net, (size_t)out * lp->in, sqrtf(6.0f / lp->in));
    lp->bias = hand_params(net, (size_t)out, 0.1f);
    nd->c = out, nd->h = nd->w = 1;
    net->n_classes = out;
    return net->n_nodes - 1;
}

static size_t node_size(const PcNet *net, int k) {
    if (k < 0) return (size_t)net->in_c * net->in_h * net->in_w;
    return (size_t)net->nodes[k].c * net->nodes[k].h * net->nodes[k].w;
}

// ---- one backward through a backend -----------------------------------------------------------

typedef struct {
    int n_taps, nodes[MAX_T];
    unsigned char tap[MAX_T], grad[MAX_T];   // activation / gradient of nodes[t] asked for
    unsigned char loose[MAX_T];              // fp32 gradient compared by kLooseL2 (header)
    int gx, logits, gx_loose;
} Req;

typedef struct {
    float *logits, *taps[MAX_T], *grads[MAX_T], *gx;   // host copies, NULL when not asked for
    double seconds;
} Out;

static void out_free(Out *o) {
    free(o->logits);
    free(o->gx);
    for (int t = 0; t < MAX_T; t++) free(o->taps[t]), free(o->grads[t]);
    memset(o, 0, sizeof *o);
}

static float *to_host(PcBackend *be, const float *d, size_t count) {
    float *h = xmalloc(count ? count * sizeof(float) : 1);
    be->download(be, h, d, count * sizeof(float));
    return h;
}

static int run_backward(PcBackend *be, const PcNet *net, const float *x, int n, const int *cls,
                        int max_batch, const Req *rq, Out *o, PcError *err) {
    memset(o, 0, sizeof *o);
    if (!be->backward) return pc_fail(err, "the %s backend has no backward", be->name);
    PcBackendNet *bn = be->net_prepare(be, net, max_batch, err);
    if (!bn) return -1;
    const size_t img = node_size(net, -1), k = (size_t)net->nodes[net->n_nodes - 1].c;
    float *dx = be->alloc(be, n * img * sizeof(float));
    be->upload(be, dx, x, n * img * sizeof(float));
    float *dl = rq->logits ? be->alloc(be, n * k * sizeof(float)) : NULL;
    float *dgx = rq->gx ? be->alloc(be, n * img * sizeof(float)) : NULL;
    float *dt[MAX_T] = {0}, *dg[MAX_T] = {0};
    for (int t = 0; t < rq->n_taps; t++) {
        size_t bytes = n * node_size(net, rq->nodes[t]) * sizeof(float);
        if (rq->tap[t]) dt[t] = be->alloc(be, bytes);
        if (rq->grad[t]) dg[t] = be->alloc(be, bytes);
    }
    be->synchronize(be);
    double t0 = pc_now();
    int rc = be->backward(be, bn, dx, n, cls, dl, rq->n_taps, rq->nodes, dt, dg, dgx, err);
    be->synchronize(be);
    o->seconds = pc_now() - t0;
    if (!rc) {
        if (dl) o->logits = to_host(be, dl, n * k);
        if (dgx) o->gx = to_host(be, dgx, n * img);
        for (int t = 0; t < rq->n_taps; t++) {
            size_t count = n * node_size(net, rq->nodes[t]);
            if (dt[t]) o->taps[t] = to_host(be, dt[t], count);
            if (dg[t]) o->grads[t] = to_host(be, dg[t], count);
        }
    }
    for (int t = 0; t < rq->n_taps; t++) be->release(be, dt[t]), be->release(be, dg[t]);
    be->release(be, dx), be->release(be, dl), be->release(be, dgx);
    be->net_release(be, bn);
    return rc;
}

// ---- comparisons ------------------------------------------------------------------------------

typedef struct {
    double max_abs, rel, l2;    // max |d|, max |d| / max |ref|, ||d|| / ||ref|| (finite values)
    size_t nonfinite, bad_nonfinite;
    size_t over;                // values with |d| > TOL max |ref|: a few isolated ones point at a
                                // flipped ReLU mask or max-pool choice, many at a real error
} Diff;

static Diff diff(const float *got, const float *ref, size_t n) {
    Diff d = {0, 0, 0, 0, 0, 0};
    double max_ref = 0, s_dd = 0, s_rr = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(ref[i]) || !isfinite(got[i])) {
            d.nonfinite++;
            d.bad_nonfinite += !((isnan(ref[i]) && isnan(got[i])) || ref[i] == got[i]);
            continue;
        }
        double e = fabs((double)got[i] - (double)ref[i]);
        d.max_abs = fmax(d.max_abs, e);
        max_ref = fmax(max_ref, fabs(ref[i]));
        s_dd += e * e, s_rr += (double)ref[i] * ref[i];
    }
    d.rel = max_ref > 0 ? d.max_abs / max_ref : d.max_abs;
    d.l2 = s_rr > 0 ? sqrt(s_dd / s_rr) : sqrt(s_dd);
    for (size_t i = 0; i < n; i++)
        d.over += isfinite(ref[i]) && isfinite(got[i]) && fabs((double)got[i] - ref[i]) > TOL * max_ref;
    return d;
}

// fp32: max relative error <= tol and identical non-finite places (loose: L2 <= kLooseL2 instead
// of the max relative error). prec > 0: the drift, printed, with the L2 figure bounded by
// kDriftL2[prec].
static void compare(const char *what, const float *got, const float *ref, size_t n, int prec, double tol,
                    int loose) {
    CHECK(got && ref, "%s: missing output", what);
    if (!got || !ref) return;
    Diff d = diff(got, ref, n);
    printf("  %-52s n=%-9zu max abs %.2e  rel %.2e  L2 %.2e  over 1e-4: %zu%s\n", what, n, d.max_abs, d.rel,
           d.l2, d.over, d.nonfinite ? "  (non-finite values compared)" : "");
    if (prec == PC_PREC_FP32 && loose) {
        CHECK(d.l2 <= kLooseL2, "%s: L2 error %.3g > %.2g", what, d.l2, kLooseL2);
        CHECK(d.bad_nonfinite == 0, "%s: %zu of %zu non-finite values differ", what, d.bad_nonfinite,
              d.nonfinite);
    } else if (prec == PC_PREC_FP32) {
        CHECK(d.rel <= tol, "%s: relative error %.3g > %.1g", what, d.rel, tol);
        CHECK(d.bad_nonfinite == 0, "%s: %zu of %zu non-finite values differ", what, d.bad_nonfinite,
              d.nonfinite);
    } else {
        // the L2 figure skips non-finite values: a backward that wrote NaN everywhere would pass it
        CHECK(d.l2 <= kDriftL2[prec], "%s: L2 drift %.3g > %.2g", what, d.l2, kDriftL2[prec]);
        CHECK(d.bad_nonfinite == 0, "%s: %zu of %zu non-finite values differ", what, d.bad_nonfinite,
              d.nonfinite);
    }
}

// Every output of rq in got against ref.
static void compare_out(const char *label, const PcNet *net, int n, const Req *rq, const Out *got,
                        const Out *ref, int prec, double tol) {
    char what[160];
    if (rq->logits && prec == PC_PREC_FP32) {
        snprintf(what, sizeof what, "%s logits", label);
        compare(what, got->logits, ref->logits, (size_t)n * net->nodes[net->n_nodes - 1].c, prec, tol, 0);
    }
    for (int t = 0; t < rq->n_taps; t++) {
        const PcNode *nd = &net->nodes[rq->nodes[t]];
        const char *nm = nd->name[0] ? nd->name : nd->op == PC_NODE_CONV ? nd->p.conv.weight_name : "";
        size_t count = n * node_size(net, rq->nodes[t]);
        if (rq->tap[t] && prec == PC_PREC_FP32) {
            snprintf(what, sizeof what, "%s tap %d %s", label, rq->nodes[t], nm);
            compare(what, got->taps[t], ref->taps[t], count, prec, tol, 0);
        }
        if (rq->grad[t]) {
            snprintf(what, sizeof what, "%s grad %d %s", label, rq->nodes[t], nm);
            compare(what, got->grads[t], ref->grads[t], count, prec, tol, rq->loose[t]);
        }
    }
    if (rq->gx) {
        snprintf(what, sizeof what, "%s grad input", label);
        compare(what, got->gx, ref->gx, n * node_size(net, -1), prec, tol, rq->gx_loose);
    }
}

// CPU reference and GPU fp32 of the same request; the other precisions' drift when all_prec.
static void cpu_vs_gpu(const char *label, const PcNet *net, const float *x, int n, const int *cls,
                       int max_batch, const Req *rq, int all_prec) {
    PcError err = {{0}};
    Out ref, got;
    int rc = run_backward(cpu, net, x, n, cls, max_batch, rq, &ref, &err);
    CHECK(rc == 0, "%s: cpu backward: %s", label, err.msg);
    if (rc) return;
    for (int p = 0; p < (all_prec ? 4 : 1); p++) {
        if (!gpu[p]) continue;
        int rg = run_backward(gpu[p], net, x, n, cls, max_batch, rq, &got, &err);
        CHECK(rg == 0, "%s: gpu %s backward: %s", label, kPrecName[p], err.msg);
        if (rg) continue;
        char lbl[96];
        snprintf(lbl, sizeof lbl, "%s %s", label, kPrecName[p]);
        printf("  %s: backward cpu %.3f s, gpu %s %.3f s (first call: prepare + algorithm choice)\n", label,
               ref.seconds, kPrecName[p], got.seconds);
        compare_out(lbl, net, n, rq, &got, &ref, p, TOL);
        out_free(&got);
    }
    out_free(&ref);
}

static void req_add(Req *rq, int node, int tap, int grad) {
    if (rq->n_taps >= MAX_T) return;
    rq->nodes[rq->n_taps] = node, rq->tap[rq->n_taps] = (unsigned char)tap;
    rq->grad[rq->n_taps++] = (unsigned char)grad;
}

// ---- 1. networks ------------------------------------------------------------------------------

static void test_network(const char *model) {
    PcError err = {{0}};
    PcNet net;
    double t0 = pc_now();
    if (fixture_net_load(model, &net, &err)) {
        CHECK(0, "%s: %s", model, err.msg);
        return;
    }
    printf("%s (%d nodes, loaded in %.1f s)\n", model, net.n_nodes, pc_now() - t0);
    char names[16][64];
    int nt = pc_net_default_targets(&net, names, 16), targets[16];
    Req rq = {0};
    rq.gx = rq.logits = 1;
    for (int t = 0; t < nt; t++) {
        targets[t] = pc_net_find(&net, names[t]);
        CHECK(targets[t] >= 0, "%s: target %s not found", model, names[t]);
        if (targets[t] < 0) return;
        req_add(&rq, targets[t], 1, 1);
    }
    if (!net.spec.is_resnet)   // Zoom-CAM: every conv's gradient in the same pass (13 on VGG16)
        for (int i = 0; i < net.n_nodes; i++)
            if (net.nodes[i].op == PC_NODE_CONV) req_add(&rq, i, 0, 1);
    // gradients before the last target and of the input compared by L2 (header)
    for (int t = 0; t < rq.n_taps; t++) rq.loose[t] = rq.nodes[t] < targets[nt - 1];
    rq.gx_loose = 1;
    float *x = golden_inputs(kImages, 2);
    const int k = net.n_classes, cls[2] = {7 % k, k - 3};
    cpu_vs_gpu(model, &net, x, 2, cls, 2, &rq, 1);

    // Grad-CAM's head alone: the pass stops at the last target, with the same gradient
    if (gpu[0]) {
        Req head = {0};
        req_add(&head, targets[nt - 1], 0, 1);
        Req one = head;
        one.gx = 1;   // the same node from a pass down to the input
        Out a, b;
        int ra = run_backward(gpu[0], &net, x, 2, cls, 2, &head, &a, &err);
        CHECK(ra == 0, "%s: head-only backward: %s", model, err.msg);
        int rb = ra ? -1 : run_backward(gpu[0], &net, x, 2, cls, 2, &one, &b, &err);
        CHECK(ra || rb == 0, "%s: backward to the input: %s", model, err.msg);
        if (!ra && !rb) {
            char what[128];
            snprintf(what, sizeof what, "%s fp32 head-only grad %s vs full pass", model, names[nt - 1]);
            compare(what, a.grads[0], b.grads[0], 2 * node_size(&net, targets[nt - 1]), 0, 1e-6, 0);
            printf("  %s: head-only backward %.4f s, to the input %.4f s\n", model, a.seconds, b.seconds);
        }
        if (!ra) out_free(&a);
        if (!ra && !rb) out_free(&b);
    }
    free(x);
    pc_net_free(&net);
}

// ---- 2. batch sizes ---------------------------------------------------------------------------

static void test_batches(void) {
    PcError err = {{0}};
    PcNet net;
    if (fixture_net_load("tiny_resnet", &net, &err)) {
        CHECK(0, "tiny_resnet: %s", err.msg);
        return;
    }
    const size_t img = node_size(&net, -1);
    float *x2 = golden_inputs(kImages, 2), *x = xmalloc(3 * img * sizeof(float));
    memcpy(x, x2, 2 * img * sizeof(float));
    for (size_t i = 0; i < img; i++) x[2 * img + i] = 0.5f * x2[i] - 0.25f * x2[img + i];
    free(x2);
    Req rq = {0};
    rq.gx = 1;
    req_add(&rq, pc_net_find(&net, "layer2"), 1, 1);
    req_add(&rq, pc_net_find(&net, "layer4"), 0, 1);
    const int cls[3] = {0, 9, 4};
    cpu_vs_gpu("tiny_resnet batch 1 of 4", &net, x, 1, cls, 4, &rq, 0);
    cpu_vs_gpu("tiny_resnet batch 3 of 4", &net, x, 3, cls, 4, &rq, 0);
    free(x);
    pc_net_free(&net);
}

// ---- 3. single ops ----------------------------------------------------------------------------

// n images of net's input size: values from {0, 0.5, 1} (many ties), or uniform in [-1, 1).
static float *inputs(const PcNet *net, int n, int ties) {
    size_t count = n * node_size(net, -1);
    float *x = xmalloc(count * sizeof(float));
    for (size_t i = 0; i < count; i++) x[i] = ties ? 0.5f * floorf(3.0f * frand()) : 2.0f * frand() - 1.0f;
    return x;
}

// Every node's gradient and the input's, in one request.
static Req all_grads(const PcNet *net) {
    Req rq = {0};
    rq.gx = rq.logits = 1;
    for (int i = 0; i < net->n_nodes && i < MAX_T; i++) req_add(&rq, i, 1, 1);
    return rq;
}

static void test_maxpool_ties(void) {
    // max-pool 2/2 and 3/2 pad 1 straight on an input of ties: the input gradient shows which
    // element of each window got the gradient; then a conv and a max-pool on its ReLU output
    for (int overlap = 0; overlap < 2; overlap++) {
        PcNet net;
        hand_begin(&net, 3, 12, 12);
        int a = hand_maxpool(&net, -1, overlap ? 3 : 2, 2, overlap ? 1 : 0);
        int b = hand_conv(&net, a, 6, 3, 1, 1, 1);
        int c = hand_maxpool(&net, b, overlap ? 3 : 2, overlap ? 1 : 2, overlap ? 1 : 0);
        hand_linear(&net, c, 5, 0);
        float *x = inputs(&net, 3, 1);
        const int cls[3] = {0, 4, 2};
        Req rq = all_grads(&net);
        cpu_vs_gpu(overlap ? "max-pool 3/2 pad 1, ties" : "max-pool 2/2, ties", &net, x, 3, cls, 3, &rq, 0);
        free(x);
        pc_net_free(&net);
    }
}

static void test_adaptive_bins(void) {
    // custom VGG: conv, max-pool, conv, adaptive pool to `pool` from `side` / 2, classifier
    const int sides[3] = {20, 20, 8}, pools[3] = {3, 4, 7};
    for (int v = 0; v < 3; v++) {
        PcArchSpec s;
        PcError err = {{0}};
        pc_arch_from_name("vgg", &s, &err);
        const int cfg[3] = {4, 0, 6};
        s.n_vgg_cfg = 3;
        memcpy(s.vgg_cfg, cfg, sizeof cfg);
        s.n_vgg_hidden = 1, s.vgg_hidden[0] = 16, s.vgg_pool = pools[v];
        s.n_classes = 5, s.in_size = sides[v];
        PcNet net;
        if (spec_net(&s, &net, &err)) {
            CHECK(0, "adaptive pool net: %s", err.msg);
            continue;
        }
        float *x = inputs(&net, 2, 0);
        const int cls[2] = {1, 3};
        Req rq = all_grads(&net);
        char label[64];
        snprintf(label, sizeof label, "adaptive pool %d -> %d", sides[v] / 2, pools[v]);
        cpu_vs_gpu(label, &net, x, 2, cls, 2, &rq, 0);
        free(x);
        pc_net_free(&net);
    }
}

static void test_residual(void) {
    // BasicBlocks: two identity blocks (the block input feeds conv1 and the add), then a
    // stride-2 block with a downsample conv (the block input feeds conv1 and the downsample)
    PcArchSpec s;
    PcError err = {{0}};
    pc_arch_from_name("resnet", &s, &err);
    s.resnet_bottleneck = 0, s.resnet_stem = 8, s.n_stages = 2;
    s.stage_planes[0] = 8, s.stage_blocks[0] = 2, s.stage_stride[0] = 1;
    s.stage_planes[1] = 16, s.stage_blocks[1] = 1, s.stage_stride[1] = 2;
    s.n_classes = 6, s.in_size = 32;
    PcNet net;
    if (spec_net(&s, &net, &err)) {
        CHECK(0, "residual net: %s", err.msg);
        return;
    }
    float *x = inputs(&net, 2, 0);
    const int cls[2] = {5, 2};
    Req rq = all_grads(&net);
    cpu_vs_gpu("BasicBlocks (fan-out)", &net, x, 2, cls, 2, &rq, 0);
    // a stop inside the second block: the identity path from before the stop is cut off
    Req mid = {0};
    req_add(&mid, pc_net_find(&net, "layer1.0") + 1, 0, 1);
    cpu_vs_gpu("BasicBlocks, stop inside a block", &net, x, 2, cls, 2, &mid, 0);
    free(x);
    pc_net_free(&net);

    // y = relu(c + c): both operands of the add are the same node
    hand_begin(&net, 3, 8, 8);
    int c = hand_conv(&net, -1, 4, 3, 1, 1, 0);
    int a = hand_add(&net, c, c, 1);
    hand_linear(&net, a, 3, 0);
    x = inputs(&net, 2, 0);
    rq = all_grads(&net);
    const int cls2[2] = {0, 2};
    cpu_vs_gpu("add of a node to itself", &net, x, 2, cls2, 2, &rq, 0);
    free(x);
    pc_net_free(&net);
}

static void test_nan(void) {
    // a NaN input pixel makes NaN conv outputs (kept by ReLU, winning max-pools) over a patch:
    // where the gradient goes at those places is compared (the gradients stay finite)
    PcNet net;
    hand_begin(&net, 3, 8, 8);
    int a = hand_conv(&net, -1, 4, 3, 1, 1, 1);
    int b = hand_maxpool(&net, a, 2, 2, 0);
    int c = hand_conv(&net, b, 4, 3, 1, 1, 1);
    hand_linear(&net, c, 3, 0);
    float *x = inputs(&net, 2, 0);
    x[3 * 8 + 3] = NAN;                       // image 0, channel 0, (3, 3)
    x[node_size(&net, -1) + 2 * 64 + 7] = NAN;   // image 1, channel 2, (0, 7): at the border
    const int cls[2] = {1, 2};
    Req rq = all_grads(&net);
    cpu_vs_gpu("NaN input (ReLU / max-pool masks)", &net, x, 2, cls, 2, &rq, 0);
    free(x);
    pc_net_free(&net);
}

// ---- 4. bad calls -----------------------------------------------------------------------------

static void test_errors(void) {
    PcError err = {{0}};
    PcNet net;
    hand_begin(&net, 3, 8, 8);
    int a = hand_conv(&net, -1, 4, 3, 1, 1, 1);
    hand_linear(&net, a, 3, 0);
    float *x = inputs(&net, 3, 0);
    Req rq = {0};
    rq.gx = 1;
    Out o;
    const int bad[2] = {0, 3};
    int rc = run_backward(gpu[0], &net, x, 2, bad, 2, &rq, &o, &err);
    CHECK(rc != 0 && strstr(err.msg, "class"), "class out of range: rc %d, '%s'", rc, err.msg);
    if (!rc) out_free(&o);
    const int good[3] = {0, 1, 2};
    // run_backward prepares for max_batch; ask the backend for more images than that directly
    PcBackendNet *bn = gpu[0]->net_prepare(gpu[0], &net, 2, &err);
    CHECK(bn != NULL, "prepare: %s", err.msg);
    if (bn) {
        float *d = gpu[0]->alloc(gpu[0], 3 * node_size(&net, -1) * sizeof(float));
        float *g = gpu[0]->alloc(gpu[0], 3 * node_size(&net, -1) * sizeof(float));
        rc = gpu[0]->backward(gpu[0], bn, d, 3, good, NULL, 0, NULL, NULL, NULL, g, &err);
        CHECK(rc != 0 && strstr(err.msg, "batch"), "batch over the maximum: rc %d, '%s'", rc, err.msg);
        gpu[0]->release(gpu[0], d), gpu[0]->release(gpu[0], g);
        gpu[0]->net_release(gpu[0], bn);
    }
    printf("  bad calls: '%s'\n", err.msg);
    free(x);
    pc_net_free(&net);
}

int main(void) {
    test_cuda_backends(gpu);
    cpu = test_cpu_backend();
    if (!cpu) return test_summary();
    printf("test_cuda_backward on %s\n", gpu[0]->device_name);
    CHECK(gpu[0]->backward != NULL, "the CUDA backend has no backward");
    CHECK(cpu->backward != NULL, "the CPU backend (the reference) has no backward");
    if (gpu[0]->backward && cpu->backward) {
        test_network("tiny_vgg");
        test_network("tiny_resnet");
        test_network("vgg16");
        test_network("resnet50");
        test_batches();
        test_maxpool_ties();
        test_adaptive_bins();
        test_residual();
        test_nan();
        test_errors();
    }
    for (int p = 0; p < 4; p++)
        if (gpu[p]) gpu[p]->destroy(gpu[p]);
    cpu->destroy(cpu);
    return test_summary();
}
