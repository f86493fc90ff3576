// cpu_backward.c: data gradients of a PcNet on the CPU (the `backward` entry of backend.h): the
// gradient of the logit y_{cls[i]} of each image with respect to tapped node outputs and/or the
// input. No weight gradients.
//
// Forward: cpu_forward_ex (cpu_nn.c), unquantised fp32 also in the 8-bit precisions (their 8 bits
// apply to forward passes only), runs the batch with extra taps on the node outputs the backward
// reads: the output of every node with a fused ReLU (its mask) and the input of every max-pool
// (to route its gradient). Backward, node by node from the logits down, on image-major
// (N, C, H, W) float32 tensors, each node's output gradient complete once every later node has run
// (nodes are in topological order):
//   ReLU     g *= (out > 0), written as PyTorch's threshold_backward: g = out <= 0 ? 0 : g, so a
//            NaN output lets its gradient through, as in PyTorch.
//   conv     backward-data: cols (Cin*k*k, OH*OW) = W^T x g_out, then col2im (sum into g_in). A
//            folded conv+BN is one conv with the folded weights, whose gradient equals that of
//            conv -> BN in eval mode (BN is affine there). 1x1 stride-1 convs skip col2im.
//   max-pool to the window's argmax in PyTorch's CPU kernel order: rows then columns, the first
//            maximum wins ties (strict >), a NaN wins over everything (the last NaN).
//   adaptive average pool: g_out / bin area to each input of the bin (PyTorch's bins
//            [floor(i*in/out), ceil((i+1)*in/out)), which may overlap).
//   linear   g_in = g_out x W (flatten and eval-mode dropout are the identity).
//   add      both inputs receive g_out.
// The pass stops at the earliest node whose gradient is asked for (the input for grad_x).
//
// Memory: the kept activations and the live gradients of a chunk of images, per image
// (cpu_backward_bytes_per_image; bench_cpu_backward prints it): VGG16 to the input 80 MB (13.6 M
// floats of activations, two 3.2 M-float gradients), to features.29 0.9 MB; ResNet50 to the input
// 45 MB, to layer4 0.4 MB. A batch is processed in chunks of images that fit CPU_BACKWARD_CHUNK_BYTES (1 GiB), so callers may pass
// any batch size the net was prepared for.
//
// Threads: every op splits its work over the backend's threads (by images when a chunk has at
// least as many images as threads, else by input channels / planes / features); GEMMs run
// single-threaded inside each part, OpenBLAS set to one thread for the pass.
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

#define CPU_BACKWARD_CHUNK_BYTES ((size_t)1 << 30)
// im2col-sized column buffer per thread, in floats (4 MiB)
#define COL_CHUNK_FLOATS ((size_t)1 << 20)

static size_t node_floats(const PcNode *nd) { return (size_t)nd->c * nd->h * nd->w; }

// ---- ops -------------------------------------------------------------------------------------

// Gradient through conv node nd for images [0, m): g_in (m, Cin, H, W) += conv^T(g_out).
typedef struct {
    const PcNode *nd;
    const float *gout;      // (m, Cout, OH, OW)
    float *gin;             // (m, Cin, H, W), accumulated into
    int m, h, w;
    float *scratch;         // per part: scratch_floats
    size_t scratch_floats;
} ConvBwdJob;

// Scatters cols (rows (ci, ky, kx) for ci in [c0, c1), columns = output rows [r0, r1) x OW, leading
// dimension ld) into g_in of one image.
static void col2im_rows(const ConvBwdJob *j, const float *cols, long ld, int c0, int c1, int r0, int r1,
                        float *gin_img) {
    const PcConvParams *c = &j->nd->p.conv;
    const int k = c->k, s = c->stride, pad = c->pad, h = j->h, w = j->w, ow = j->nd->w;
    for (int ci = c0; ci < c1; ci++) {
        float *plane = gin_img + (size_t)ci * h * w;
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                const float *src = cols + ((size_t)((ci - c0) * k + ky) * k + kx) * ld;
                int lo = 0, hi = ow;   // valid output columns: 0 <= ox*s - pad + kx < w
                while (lo < ow && lo * s - pad + kx < 0) lo++;
                while (hi > lo && (hi - 1) * s - pad + kx >= w) hi--;
                for (int oy = r0; oy < r1; oy++) {
                    const int iy = oy * s - pad + ky;
                    if (iy < 0 || iy >= h) continue;
                    const float *srow = src + (size_t)(oy - r0) * ow;
                    float *drow = plane + (size_t)iy * w - pad + kx;
                    for (int ox = lo; ox < hi; ox++) drow[ox * s] += srow[ox];
                }
            }
    }
}

// One image, input channels [c0, c1): cols = W[:, c0*kk : c1*kk]^T x g_out, chunk by chunk of
// output rows, then col2im.
static void conv_bwd_image(const ConvBwdJob *j, int img, int c0, int c1, float *scratch) {
    const PcNode *nd = j->nd;
    const PcConvParams *c = &nd->p.conv;
    const int kk = c->k * c->k, ohw = nd->h * nd->w, ldw = c->cin * kk;
    const float *gout = j->gout + (size_t)img * c->cout * ohw;
    float *gin = j->gin + (size_t)img * c->cin * j->h * j->w;
    const int rows_k = (c1 - c0) * kk;
    if (c->k == 1 && c->stride == 1 && c->pad == 0) {   // g_in = W^T g_out directly
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows_k, ohw, c->cout, 1.0f, c->weight + c0, ldw,
                    gout, ohw, 1.0f, gin + (size_t)c0 * ohw, ohw);
        return;
    }
    long rows = (long)(j->scratch_floats / ((size_t)rows_k * nd->w));
    if (rows < 1) rows = 1;   // prepare sized scratch for one output row
    for (int r0 = 0; r0 < nd->h; r0 += (int)rows) {
        const int r1 = r0 + rows < nd->h ? r0 + (int)rows : nd->h;
        const long ncols = (long)(r1 - r0) * nd->w;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows_k, (int)ncols, c->cout, 1.0f,
                    c->weight + (size_t)c0 * kk, ldw, gout + (size_t)r0 * nd->w, ohw, 0.0f, scratch, ncols);
        col2im_rows(j, scratch, ncols, c0, c1, r0, r1, gin);
    }
}

static void conv_bwd_part(void *arg, int part, int parts) {
    const ConvBwdJob *j = arg;
    float *scratch = j->scratch + (size_t)part * j->scratch_floats;
    const int cin = j->nd->p.conv.cin;
    if (j->m >= parts) {   // by images, all channels
        for (long i = cpu_part_begin(j->m, part, parts); i < cpu_part_begin(j->m, part + 1, parts); i++)
            conv_bwd_image(j, (int)i, 0, cin, scratch);
    } else {               // by input channels, every image
        const int c0 = (int)cpu_part_begin(cin, part, parts), c1 = (int)cpu_part_begin(cin, part + 1, parts);
        if (c0 == c1) return;
        for (int i = 0; i < j->m; i++) conv_bwd_image(j, i, c0, c1, scratch);
    }
}

// Plane-wise ops over m images: max-pool, adaptive average pool (per (image, channel) plane).
typedef struct {
    const PcNode *nd;
    const float *in;        // the pool's input activation (m, C, H, W) (max-pool only)
    const float *gout;      // (m, C, OH, OW)
    float *gin;             // (m, C, H, W), accumulated into
    int m, h, w;
} PoolBwdJob;

// PyTorch's CPU max_pool2d: window rows/columns clipped to the image, index starts at the first
// valid element, maxval at -inf; (val > maxval || isnan(val)) takes the element.
static void maxpool_bwd_part(void *arg, int part, int parts) {
    const PoolBwdJob *j = arg;
    const PcNode *nd = j->nd;
    const int k = nd->p.pool.k, s = nd->p.pool.stride, pad = nd->p.pool.pad;
    const int h = j->h, w = j->w, oh = nd->h, ow = nd->w;
    const long planes = (long)j->m * nd->c;
    for (long p = cpu_part_begin(planes, part, parts); p < cpu_part_begin(planes, part + 1, parts); p++) {
        const float *src = j->in + (size_t)p * h * w;
        const float *go = j->gout + (size_t)p * oh * ow;
        float *gi = j->gin + (size_t)p * h * w;
        for (int oy = 0; oy < oh; oy++) {
            int y0 = oy * s - pad, y1 = y0 + k < h ? y0 + k : h;
            if (y0 < 0) y0 = 0;
            for (int ox = 0; ox < ow; ox++) {
                int x0 = ox * s - pad, x1 = x0 + k < w ? x0 + k : w;
                if (x0 < 0) x0 = 0;
                long best = (long)y0 * w + x0;
                float mv = -__builtin_inff();
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) {
                        const float v = src[(size_t)y * w + x];
                        if (v > mv || v != v) mv = v, best = (long)y * w + x;
                    }
                gi[best] += go[oy * ow + ox];
            }
        }
    }
}

static void avgpool_bwd_part(void *arg, int part, int parts) {
    const PoolBwdJob *j = arg;
    const PcNode *nd = j->nd;
    const int h = j->h, w = j->w, oh = nd->h, ow = nd->w;
    const long planes = (long)j->m * nd->c;
    for (long p = cpu_part_begin(planes, part, parts); p < cpu_part_begin(planes, part + 1, parts); p++) {
        const float *go = j->gout + (size_t)p * oh * ow;
        float *gi = j->gin + (size_t)p * h * w;
        for (int oy = 0; oy < oh; oy++) {
            const int y0 = oy * h / oh, y1 = ((oy + 1) * h + oh - 1) / oh;
            for (int ox = 0; ox < ow; ox++) {
                const int x0 = ox * w / ow, x1 = ((ox + 1) * w + ow - 1) / ow;
                const float d = go[oy * ow + ox] / (float)((y1 - y0) * (x1 - x0));
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) gi[y * w + x] += d;
            }
        }
    }
}

// Linear: g_in (m, in) += g_out (m, out) x W (out, in); parts split the in features.
typedef struct {
    const PcLinearParams *lp;
    const float *gout;
    float *gin;
    int m;
} LinearBwdJob;

static void linear_bwd_part(void *arg, int part, int parts) {
    const LinearBwdJob *j = arg;
    const int a = (int)cpu_part_begin(j->lp->in, part, parts), b = (int)cpu_part_begin(j->lp->in, part + 1, parts);
    if (a == b) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->m, b - a, j->lp->out, 1.0f, j->gout, j->lp->out,
                j->lp->weight + a, j->lp->in, 1.0f, j->gin + a, j->lp->in);
}

// Elementwise over n values: ReLU mask (g = out <= 0 ? 0 : g) or accumulate (dst += g).
typedef struct {
    float *g;
    const float *out;       // mask source, or NULL
    float *dst;             // accumulation target, or NULL
    size_t n;
} EltJob;

static void elt_part(void *arg, int part, int parts) {
    const EltJob *j = arg;
    const size_t a = (size_t)cpu_part_begin((long)j->n, part, parts);
    const size_t b = (size_t)cpu_part_begin((long)j->n, part + 1, parts);
    if (j->out)
        for (size_t i = a; i < b; i++) j->g[i] = j->out[i] <= 0.0f ? 0.0f : j->g[i];
    if (j->dst)
        for (size_t i = a; i < b; i++) j->dst[i] += j->g[i];
}

// ---- the pass --------------------------------------------------------------------------------

// What one chunk of images needs: activations kept (act[i] of node i, NULL when not kept),
// gradients (grad[i] allocated when a consumer first writes into it), the input gradient.
typedef struct {
    const PcNet *net;
    int threads, m, stop;
    const float *x;         // (m, 3, H, W)
    float **act;
    float **grad;
    float *grad_in;         // (m, 3, H, W) or NULL when the input's gradient is not wanted
    float *scratch;         // threads x scratch_floats
    size_t scratch_floats;
} Chunk;

// Which nodes' outputs the backward reads for a pass down to stop: ReLU nodes and max-pool inputs.
static void kept_nodes(const PcNet *net, int stop, char *keep) {
    memset(keep, 0, (size_t)net->n_nodes);
    for (int i = net->n_nodes - 1; i > stop && i >= 0; i--) {
        const PcNode *nd = &net->nodes[i];
        if (nd->relu) keep[i] = 1;
        if (nd->op == PC_NODE_MAXPOOL && nd->input >= 0) keep[nd->input] = 1;
    }
}

size_t cpu_backward_bytes_per_image(const PcNet *net, int stop) {
    char *keep = xmalloc((size_t)net->n_nodes);
    kept_nodes(net, stop, keep);
    // kept activations, plus the two largest gradients alive at once (a node's and its input's)
    size_t kept = 0, big1 = stop < 0 ? (size_t)net->in_c * net->in_h * net->in_w : 0, big2 = 0;
    for (int i = 0; i < net->n_nodes; i++) {
        const size_t f = node_floats(&net->nodes[i]);
        if (keep[i]) kept += f;
        if (i < stop) continue;
        if (f > big1) big2 = big1, big1 = f;
        else if (f > big2) big2 = f;
    }
    free(keep);
    return (kept + big1 + big2) * sizeof(float);
}

// The gradient buffer of node j (-1: the input), zeroed at first use; NULL when not wanted.
static float *grad_of(Chunk *ck, int j) {
    if (j < 0) return ck->grad_in;
    if (j < ck->stop) return NULL;
    if (!ck->grad[j]) ck->grad[j] = xcalloc((size_t)ck->m * node_floats(&ck->net->nodes[j]), sizeof(float));
    return ck->grad[j];
}

static void input_shape(const PcNet *net, int j, int *c, int *h, int *w) {
    if (j < 0) *c = net->in_c, *h = net->in_h, *w = net->in_w;
    else *c = net->nodes[j].c, *h = net->nodes[j].h, *w = net->nodes[j].w;
}

// Node i's output gradient g (ReLU mask already applied) into the gradients of its inputs.
static void node_backward(Chunk *ck, int i, const float *g) {
    const PcNode *nd = &ck->net->nodes[i];
    float *gin = grad_of(ck, nd->input);
    int c, h, w;
    input_shape(ck->net, nd->input, &c, &h, &w);
    switch (nd->op) {
    case PC_NODE_CONV: {
        if (!gin) break;
        ConvBwdJob j = {nd, g, gin, ck->m, h, w, ck->scratch, ck->scratch_floats};
        cpu_run_parts(ck->threads, conv_bwd_part, &j);
        break;
    }
    case PC_NODE_MAXPOOL:
    case PC_NODE_ADAPTIVE_AVG: {
        if (!gin) break;
        const float *in = nd->input < 0 ? ck->x : ck->act[nd->input];
        PoolBwdJob j = {nd, in, g, gin, ck->m, h, w};
        cpu_run_parts(ck->threads, nd->op == PC_NODE_MAXPOOL ? maxpool_bwd_part : avgpool_bwd_part, &j);
        break;
    }
    case PC_NODE_LINEAR: {   // a spatial input is flattened: (m, C, H, W) = (m, C*H*W)
        if (!gin) break;
        LinearBwdJob j = {&nd->p.linear, g, gin, ck->m};
        cpu_run_parts(ck->threads, linear_bwd_part, &j);
        break;
    }
    case PC_NODE_ADD: {
        const size_t n = (size_t)ck->m * node_floats(nd);
        float *gin2 = grad_of(ck, nd->input2);
        EltJob a = {(float *)g, NULL, gin, n}, b = {(float *)g, NULL, gin2, n};
        if (gin) cpu_run_parts(ck->threads, elt_part, &a);
        if (gin2) cpu_run_parts(ck->threads, elt_part, &b);
        break;
    }
    }
}

// Backward of one chunk from the logits to ck->stop; tap gradients copied out as they complete.
static void chunk_backward(Chunk *ck, const int *cls, int n_taps, const int *tap_nodes, float *const *grad_taps,
                           int i0) {
    const PcNet *net = ck->net;
    const int last = net->n_nodes - 1;
    float *seed = grad_of(ck, last);
    for (int i = 0; i < ck->m; i++) seed[(size_t)i * net->n_classes + cls[i]] = 1.0f;
    for (int i = last; i >= 0 && i >= ck->stop; i--) {
        const PcNode *nd = &net->nodes[i];
        const size_t per = node_floats(nd);
        float *g = ck->grad[i];   // NULL: nothing after node i depends on it (gradient 0)
        for (int t = 0; t < n_taps; t++)
            if (tap_nodes[t] == i && grad_taps[t]) {
                float *dst = grad_taps[t] + (size_t)i0 * per;
                if (g) memcpy(dst, g, (size_t)ck->m * per * sizeof(float));
                else memset(dst, 0, (size_t)ck->m * per * sizeof(float));
            }
        if (g && i > ck->stop) {
            if (nd->relu) {
                EltJob j = {g, ck->act[i], NULL, (size_t)ck->m * per};
                cpu_run_parts(ck->threads, elt_part, &j);
            }
            node_backward(ck, i, g);
        }
        free(ck->grad[i]);
        ck->grad[i] = NULL;
    }
}

// The forward of one chunk of m images from x: logits (or an internal buffer), the user's taps and
// the kept activations. Returns 0 or -1 with err set.
static int chunk_forward(PcBackend *be, PcBackendNet *bn, Chunk *ck, const char *keep, float *logits, int n_taps,
                         const int *tap_nodes, float *const *taps, int i0, PcError *err) {
    const PcNet *net = ck->net;
    int nt = 0;
    int *nodes = xmalloc((size_t)(net->n_nodes + n_taps) * sizeof(int));
    float **dst = xmalloc((size_t)(net->n_nodes + n_taps) * sizeof(float *));
    for (int i = 0; i < net->n_nodes; i++) {
        if (!keep[i]) continue;
        ck->act[i] = xmalloc((size_t)ck->m * node_floats(&net->nodes[i]) * sizeof(float));
        nodes[nt] = i, dst[nt++] = ck->act[i];
    }
    for (int t = 0; t < n_taps; t++)
        if (taps[t]) nodes[nt] = tap_nodes[t], dst[nt++] = taps[t] + (size_t)i0 * node_floats(&net->nodes[tap_nodes[t]]);
    int rc = cpu_forward_ex(be, bn, ck->x, ck->m, logits + (size_t)i0 * net->n_classes, nt, nodes, dst, 0, err);
    free(nodes), free(dst);
    return rc;
}

// Checks the arguments; returns the stop node (-1: the input; n_nodes: no gradient asked for).
static int backward_stop(const PcNet *net, int max_batch, int n, const int *cls, int n_taps, const int *tap_nodes,
                         float *const *grad_taps, const float *grad_x, PcError *err) {
    if (n < 1 || n > max_batch) return pc_fail(err, "cpu_backward: batch of %d images, prepared for 1..%d", n, max_batch), -2;
    if (net->nodes[net->n_nodes - 1].op != PC_NODE_LINEAR)
        return pc_fail(err, "cpu_backward: %s does not end in a linear layer", net->spec.arch), -2;
    for (int i = 0; i < n; i++)
        if (!cls || cls[i] < 0 || cls[i] >= net->n_classes)
            return pc_fail(err, "cpu_backward: class %d of image %d outside 0..%d", cls ? cls[i] : -1, i,
                           net->n_classes - 1), -2;
    int stop = grad_x ? -1 : net->n_nodes;
    for (int t = 0; t < n_taps; t++) {
        if (tap_nodes[t] < 0 || tap_nodes[t] >= net->n_nodes)
            return pc_fail(err, "cpu_backward: tap node %d out of range (0..%d)", tap_nodes[t], net->n_nodes - 1), -2;
        if (grad_taps && grad_taps[t] && tap_nodes[t] < stop) stop = tap_nodes[t];
    }
    return stop;
}

int cpu_backward(PcBackend *be, PcBackendNet *bn, const float *x, int n, const int *cls, float *logits,
                 int n_taps, const int *tap_nodes, float *const *taps, float *const *grad_taps, float *grad_x,
                 PcError *err) {
    int max_batch;
    const PcNet *net = cpu_net_of(bn, &max_batch);
    const int stop = backward_stop(net, max_batch, n, cls, n_taps, tap_nodes, grad_taps, grad_x, err);
    if (stop < -1) return -1;
    float **none = xcalloc((size_t)n_taps + 1, sizeof(float *));   // taps / grad_taps given as NULL
    float *const *tap_out = taps ? taps : none;
    if (!grad_taps) grad_taps = none;
    if (stop >= net->n_nodes) {   // no gradient asked for: a forward
        int rc = cpu_forward_ex(be, bn, x, n, logits, n_taps, tap_nodes, tap_out, 0, err);
        free(none);
        return rc;
    }
    const CpuContext *ctx = be->impl;
    const int threads = ctx && ctx->threads > 0 ? ctx->threads : 1;
    size_t scratch_floats = COL_CHUNK_FLOATS;
    for (int i = 0; i < net->n_nodes; i++) {
        const PcNode *nd = &net->nodes[i];
        if (nd->op == PC_NODE_CONV) {   // one output row of columns for all input channels
            size_t row = (size_t)nd->p.conv.cin * nd->p.conv.k * nd->p.conv.k * nd->w;
            if (row > scratch_floats) scratch_floats = row;
        }
    }
    const size_t per_image = cpu_backward_bytes_per_image(net, stop);
    int chunk = (int)(CPU_BACKWARD_CHUNK_BYTES / per_image);
    if (chunk < 1) chunk = 1;
    char *keep = xmalloc((size_t)net->n_nodes);
    kept_nodes(net, stop, keep);
    float *own_logits = logits ? NULL : xmalloc((size_t)n * net->n_classes * sizeof(float));
    Chunk ck = {net, threads, 0, stop, NULL, xcalloc((size_t)net->n_nodes, sizeof(float *)),
                xcalloc((size_t)net->n_nodes, sizeof(float *)), NULL,
                xmalloc((size_t)threads * scratch_floats * sizeof(float)), scratch_floats};
    const size_t in_floats = (size_t)net->in_c * net->in_h * net->in_w;
    int rc = 0;
    for (int i0 = 0; i0 < n && rc == 0; i0 += chunk) {
        ck.m = n - i0 < chunk ? n - i0 : chunk;
        ck.x = x + (size_t)i0 * in_floats;
        rc = chunk_forward(be, bn, &ck, keep, logits ? logits : own_logits, n_taps, tap_nodes, tap_out, i0, err);
        if (rc == 0) {
            // our parts each run single-threaded GEMMs (as cpu_forward, which restored the setting)
            int blas_threads = openblas_get_num_threads();
            if (threads > 1 && blas_threads != 1) openblas_set_num_threads(1);
            if (grad_x) memset(grad_x + (size_t)i0 * in_floats, 0, (size_t)ck.m * in_floats * sizeof(float));
            ck.grad_in = grad_x ? grad_x + (size_t)i0 * in_floats : NULL;
            chunk_backward(&ck, cls + i0, n_taps, tap_nodes, grad_taps, i0);
            if (threads > 1 && blas_threads != 1) openblas_set_num_threads(blas_threads);
        }
        for (int i = 0; i < net->n_nodes; i++) {
            free(ck.act[i]), free(ck.grad[i]);
            ck.act[i] = ck.grad[i] = NULL;
        }
    }
    free(ck.act), free(ck.grad), free(ck.scratch);
    free(keep), free(own_logits), free(none);
    return rc;
}
