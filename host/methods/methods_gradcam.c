// methods_gradcam.c: the gradient CAM methods of BASELINES.md B2, computed as torchcam c85232b,
// the reference's Layer-CAM fusion and X-Shi/Zoom-CAM compute them. Every map is a weighted sum
// of a layer's activations A (K, h, w) with weights from g = d y_c / d A (y_c the logit).
// Channel sums accumulate in double; the libraries sum in float32, which moves a normalised map by
// ~1e-6, far inside the 1e-3 tolerance.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "philox.h"
#include "methods_gradcam.h"

// NaN-propagating max, as torch.maximum / torch.max(a, b).
static float nanmax2(float a, float b) { return (isnan(a) || isnan(b)) ? NAN : (a > b ? a : b); }

static float relu(float v) { return v > 0 ? v : (isnan(v) ? v : 0.0f); }

// One backward pass of the clean input for the layers of `list`: acts[l], grads[l] (C_l, h_l, w_l).
static int layer_grads(const PcMethodCtx *ctx, const PcLayerList *list, float **acts, float **grads, PcError *err) {
    for (int l = 0; l < list->n; l++) {
        const PcNode *nd = &ctx->net->nodes[list->nodes[l]];
        const size_t n = (size_t)nd->c * nd->h * nd->w;
        acts[l] = xmalloc(n * sizeof(float));
        grads[l] = xmalloc(n * sizeof(float));
    }
    return pc_method_backward(ctx, ctx->x, 1, list->n, list->nodes, acts, grads, NULL, err);
}

static void free_list(float **p, int n) {
    for (int i = 0; i < n; i++) free(p[i]);
}

// cam[p] = nansum_k w[k] * A[k, p] (torch.nansum: NaN products count as 0), then ReLU and min-max.
static void weighted_cam(const float *A, const float *w, int K, int hw, float *cam) {
    for (int p = 0; p < hw; p++) {
        double s = 0;
        for (int k = 0; k < K; k++) {
            const float v = w[k] * A[(size_t)k * hw + p];
            if (!isnan(v)) s += v;
        }
        cam[p] = relu((float)s);
    }
    pc_method_minmax(cam, (size_t)hw);
}

typedef enum { W_GRADCAM, W_GRADCAMPP } CamWeights;

static int single_layer_cam(const PcMethodCtx *ctx, CamWeights kind, float *out, int *h, int *w, PcError *err) {
    const PcLayerList *L = &ctx->set->cam;
    float *A[1], *G[1];
    if (layer_grads(ctx, L, A, G, err)) return free_list(A, 1), free_list(G, 1), -1;
    const PcNode *nd = &ctx->net->nodes[L->nodes[0]];
    const int K = nd->c, hw = nd->h * nd->w;
    float *wk = xmalloc((size_t)K * sizeof(float));
    for (int k = 0; k < K; k++) {
        const float *g = G[0] + (size_t)k * hw;
        double s = 0;
        for (int p = 0; p < hw; p++) {
            if (kind == W_GRADCAM) s += g[p];
            else s += (g[p] * g[p]) * relu(g[p]);   // torchcam's alpha = g^2 (its division is lost)
        }
        wk[k] = kind == W_GRADCAM ? (float)(s / hw) : (float)s;
    }
    weighted_cam(A[0], wk, K, hw, out);
    *h = nd->h, *w = nd->w;
    free(wk);
    free_list(A, 1);
    free_list(G, 1);
    return 0;
}

int pc_method_gradcam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err) {
    return single_layer_cam(ctx, W_GRADCAM, out, h, w, err);
}

int pc_method_gradcampp(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err) {
    return single_layer_cam(ctx, W_GRADCAMPP, out, h, w, err);
}

// Smooth Grad-CAM++ (torchcam SmoothGradCAMpp, n samples of X + N(0, sigma^2)):
//   G2 = mean_s g_s^2, G3 = mean_s g_s^3, alpha = G2 / (2 G2 + sum_ab A0 * G3) with A0 the clean
//   activation; w_k = sum alpha * ReLU(g_n) with the LAST sample's gradient; the map weighs the
//   LAST sample's activation (torchcam's hook overwrites it at every pass).
int pc_method_smoothgradcampp(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err) {
    const PcMethodSettings *st = ctx->set;
    const int node = st->cam.nodes[0], n = st->sgcampp_samples, S = ctx->size;
    const PcNode *nd = &ctx->net->nodes[node];
    const int K = nd->c, hw = nd->h * nd->w;
    const size_t per = (size_t)K * hw, xs = (size_t)3 * S * S;
    float *A0 = xmalloc(per * sizeof(float));
    float *acts = xmalloc((size_t)n * per * sizeof(float)), *grads = xmalloc((size_t)n * per * sizeof(float));
    float *xn = xmalloc((size_t)n * xs * sizeof(float));
    // the clean activation: a forward pass to the layer
    PcBackend *be = ctx->be;
    float *d_x = be->alloc(be, xs * sizeof(float)), *d_a = be->alloc(be, per * sizeof(float));
    be->upload(be, d_x, ctx->x, xs * sizeof(float));
    int rc = be->forward(be, ctx->bn, d_x, 1, NULL, 1, &node, &d_a, err);
    if (rc == 0) be->download(be, A0, d_a, per * sizeof(float));
    be->release(be, d_x);
    be->release(be, d_a);
    // noisy copies: x + sigma * z, z = philox normal (seed, image, (stream << 16) | s, element)
    for (int s = 0; s < n && rc == 0; s++) {
        float *dst = xn + (size_t)s * xs;
        pc_philox_fill_normal(st->seed, ctx->image, ((uint32_t)PC_STREAM_SGCAMPP << 16) | (uint32_t)s, 0, xs, dst);
        for (size_t i = 0; i < xs; i++) dst[i] = ctx->x[i] + st->sgcampp_sigma * dst[i];
    }
    if (rc == 0) rc = pc_method_backward(ctx, xn, n, 1, &node, &acts, &grads, NULL, err);
    if (rc == 0) {
        const float *gl = grads + (size_t)(n - 1) * per, *Al = acts + (size_t)(n - 1) * per;
        float *wk = xmalloc((size_t)K * sizeof(float));
        float *G2 = xmalloc((size_t)hw * sizeof(float)), *G3 = xmalloc((size_t)hw * sizeof(float));
        for (int k = 0; k < K; k++) {
            double den = 0;
            for (int p = 0; p < hw; p++) {
                float g2 = 0, g3 = 0;   // torchcam accumulates in float, sample by sample
                for (int s = 0; s < n; s++) {
                    const float g = grads[(size_t)s * per + (size_t)k * hw + p];
                    g2 += g * g;
                    g3 += g * g * g;
                }
                G2[p] = g2 / n;
                G3[p] = g3 / n;
                den += (double)(G3[p] * A0[(size_t)k * hw + p]);
            }
            double s = 0;
            for (int p = 0; p < hw; p++) {
                const float alpha = G2[p] / (2 * G2[p] + (float)den);   // 0 / 0 = NaN as in torch
                s += alpha * relu(gl[(size_t)k * hw + p]);
            }
            wk[k] = (float)s;
        }
        weighted_cam(Al, wk, K, hw, out);
        *h = nd->h, *w = nd->w;
        free(wk);
        free(G2);
        free(G3);
    }
    free(A0);
    free(acts);
    free(grads);
    free(xn);
    return rc;
}

// The deepest-first fusion shared by Layer-CAM and Zoom-CAM: F = max(up(F, size(M_l)), M_l).
// maps[l] (h_l, w_l) per layer, earliest first; result at the earliest layer's size into out.
static void fuse(const PcMethodCtx *ctx, const PcLayerList *L, float **maps, float *out, int *h, int *w) {
    const PcNet *net = ctx->net;
    int fh = 0, fw = 0;
    float *F = NULL;
    for (int l = L->n - 1; l >= 0; l--) {
        const PcNode *nd = &net->nodes[L->nodes[l]];
        const size_t hw = (size_t)nd->h * nd->w;
        float *up = xmalloc(hw * sizeof(float));
        if (F) pc_method_up(ctx, F, fh, fw, nd->h, nd->w, up);
        else memset(up, 0, hw * sizeof(float));   // the reference starts from a 1 x 1 zero map
        for (size_t p = 0; p < hw; p++) up[p] = nanmax2(up[p], maps[l][p]);
        free(F);
        F = up, fh = nd->h, fw = nd->w;
    }
    memcpy(out, F, (size_t)fh * fw * sizeof(float));
    *h = fh, *w = fw;
    free(F);
}

// Layer-CAM fused (the reference's layercamfusion4 over torchcam LayerCAM): per layer
// L = mm(ReLU(nansum_k ReLU(g_k) A_k)); tanh(2 L / max L) on the first three layers of the list.
int pc_method_layercam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err) {
    const PcLayerList *L = &ctx->set->layercam;
    float *A[PC_MAX_METHOD_LAYERS] = {0}, *G[PC_MAX_METHOD_LAYERS] = {0};
    if (layer_grads(ctx, L, A, G, err)) return free_list(A, L->n), free_list(G, L->n), -1;
    for (int l = 0; l < L->n; l++) {
        const PcNode *nd = &ctx->net->nodes[L->nodes[l]];
        const int K = nd->c, hw = nd->h * nd->w;
        float *M = A[l];   // reuse: each output pixel reads only its own column
        for (int p = 0; p < hw; p++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                const float v = relu(G[l][(size_t)k * hw + p]) * A[l][(size_t)k * hw + p];
                if (!isnan(v)) s += v;
            }
            M[p] = relu((float)s);
        }
        pc_method_minmax(M, (size_t)hw);
        if (l < 3) {
            float mx = -INFINITY;
            int nan = 0;
            for (int p = 0; p < hw; p++) {
                if (isnan(M[p])) nan = 1;
                else if (M[p] > mx) mx = M[p];
            }
            for (int p = 0; p < hw; p++) M[p] = nan ? NAN : tanhf((2 * M[p]) / mx);
        }
    }
    fuse(ctx, L, A, out, h, w);
    free_list(A, L->n);
    free_list(G, L->n);
    return 0;
}

// Zoom-CAM normalize_CAM: R = max(R, 0); (R - min R) / max R, max taken before the subtraction.
static void zoom_normalize(float *R, int hw) {
    float lo = INFINITY, hi = -INFINITY;
    int nan = 0;
    for (int p = 0; p < hw; p++) {
        R[p] = nanmax2(R[p], 0.0f);
        if (isnan(R[p])) nan = 1;
        if (R[p] < lo) lo = R[p];
        if (R[p] > hi) hi = R[p];
    }
    if (nan) lo = hi = NAN;
    for (int p = 0; p < hw; p++) R[p] = (R[p] - lo) / hi;
}

// Zoom-CAM (X-Shi/Zoom-CAM, the reference's zoomcam_fn): per layer Z = normalize(sum_k A_k g_k);
// the deepest layer's map is normalised twice (the reference applies normalize_CAM again when it
// starts the aggregate); then the fusion of Layer-CAM without tanh. The code upsamples by a scale
// factor; for the ratios of the VGG / ResNet families (1 or 2) that is up() to the layer's size.
int pc_method_zoomcam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err) {
    const PcLayerList *L = &ctx->set->zoomcam;
    float *A[PC_MAX_METHOD_LAYERS] = {0}, *G[PC_MAX_METHOD_LAYERS] = {0};
    if (layer_grads(ctx, L, A, G, err)) return free_list(A, L->n), free_list(G, L->n), -1;
    for (int l = 0; l < L->n; l++) {
        const PcNode *nd = &ctx->net->nodes[L->nodes[l]];
        const int K = nd->c, hw = nd->h * nd->w;
        float *R = A[l];
        for (int p = 0; p < hw; p++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += A[l][(size_t)k * hw + p] * G[l][(size_t)k * hw + p];
            R[p] = (float)s;
        }
        zoom_normalize(R, hw);
        if (l == L->n - 1) zoom_normalize(R, hw);
    }
    fuse(ctx, L, A, out, h, w);
    free_list(A, L->n);
    free_list(G, L->n);
    return 0;
}
