// methods_scorecam.c: the Score-CAM family of BASELINES.md B3 as torchcam c85232b computes it
// (ScoreCAM, SSCAM, ISCAM with the reference's arguments). Forward passes only:
//   A (K, h, w) the [cam] layer's activation of the clean input, A_bar = mm(A_k) per channel
//   (torchcam normalises its stored activation in place, so the final sum weighs A_bar too);
//   w_k from the class's softmax score of masked inputs, map = mm(ReLU(nansum_k w_k A_bar_k)).
//   scorecam  w_k = softmax(f(X * up(A_bar_k)))_c
//   sscam     w_k = (1/N) sum_n softmax(f(X * (up(A_bar_k) + sigma delta_n)))_c, delta_n (3, S, S)
//             the Philox normals of (seed, image, (3 << 16) | n), shared by the channels of sample n
//   iscam     w_k = sum_{i=1..N} softmax(f(c_i X * up(A_bar_k)))_c, c_i = sum_{j<=i} j / N
// A dead channel (constant activation) min-max normalises to NaN: torchcam forwards the NaN
// input, gets a NaN weight and nansum drops the channel; here the channel is not forwarded and
// its weight is NaN, with the same map. The masked inputs are made by the backend
// (scaled_masked_inputs) straight into the batch buffer; per batch only m scores come back.
// torchcam accumulates the weights in float32, sample by sample; so does this file.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "methods_scorecam.h"

typedef struct {
    int n;          // passes per channel: 1 | N
    float sigma;    // sscam's noise; 0 for the others
    int iscam;      // coefficients c_i (else 1)
    int mean;       // divide the summed scores by n (sscam)
} ScoreKind;

static float relu(float v) { return v > 0 ? v : (isnan(v) ? v : 0.0f); }

// Device buffers of one image: Ā, x, one batch of inputs, its logits and scores.
typedef struct {
    float *amap, *x, *in, *logits, *scores;
} Bufs;

static void bufs_free(PcBackend *be, Bufs *b) {
    float *p[5] = {b->amap, b->x, b->in, b->logits, b->scores};
    for (int i = 0; i < 5; i++)
        if (p[i]) be->release(be, p[i]);
    memset(b, 0, sizeof *b);
}

// w[chans[j]] += score of channel chans[j] for every pass i of `kind`, batches of at most B images.
// 0, -1 with err, or PC_ERR_OOM (the caller retries with a smaller batch).
static int score_weights(const PcMethodCtx *ctx, const ScoreKind *kind, const float *abar, int K, int h, int w,
                         const int *chans, int m, int B, float *wk, PcError *err) {
    PcBackend *be = ctx->be;
    const int S = ctx->size, ncls = ctx->net->n_classes;
    const size_t xs = (size_t)3 * S * S;
    Bufs b = {be->alloc(be, (size_t)K * h * w * sizeof(float)), be->alloc(be, xs * sizeof(float)),
              be->alloc(be, (size_t)B * xs * sizeof(float)), be->alloc(be, (size_t)B * ncls * sizeof(float)),
              be->alloc(be, (size_t)B * sizeof(float))};
    if (!b.amap || !b.x || !b.in || !b.logits || !b.scores) {
        bufs_free(be, &b);
        pc_fail(err, "no memory for %d masked inputs on the %s backend", B, be->name);
        return PC_ERR_OOM;
    }
    be->upload(be, b.amap, abar, (size_t)K * h * w * sizeof(float));
    be->upload(be, b.x, ctx->x, xs * sizeof(float));
    float *s = xmalloc((size_t)B * sizeof(float));
    int rc = 0;
    double coef = 0;   // iscam: c_i accumulated as torchcam's fmap += (i + 1) / N * X * up(A_bar)
    for (int i = 0; i < kind->n && rc == 0; i++) {
        coef += (double)(i + 1) / kind->n;
        const float c = kind->iscam ? (float)coef : 1.0f;
        const uint32_t sample = ((uint32_t)PC_STREAM_SSCAM << 16) | (uint32_t)i;
        for (int j0 = 0; j0 < m && rc == 0; j0 += B) {
            const int nb = m - j0 < B ? m - j0 : B;
            be->scaled_masked_inputs(be, b.amap, h, w, chans + j0, nb, b.x, S, c, kind->sigma, ctx->set->seed,
                                     ctx->image, sample, b.in);
            rc = be->take_error(be, err);
            if (rc == 0) rc = be->forward(be, ctx->bn, b.in, nb, b.logits, 0, NULL, NULL, err);
            if (rc) break;
            be->softmax_gather(be, b.logits, nb, ncls, ctx->cls, b.scores);
            be->download(be, s, b.scores, (size_t)nb * sizeof(float));
            for (int j = 0; j < nb; j++) wk[chans[j0 + j]] += s[j];
        }
    }
    if (rc == 0 && kind->mean)
        for (int j = 0; j < m; j++) wk[chans[j]] /= (float)kind->n;
    free(s);
    bufs_free(be, &b);
    return rc;
}

// The clean activation of the [cam] layer (K, h, w) into a new host array.
static float *cam_activation(const PcMethodCtx *ctx, PcError *err) {
    PcBackend *be = ctx->be;
    const int node = ctx->set->cam.nodes[0], S = ctx->size;
    const PcNode *nd = &ctx->net->nodes[node];
    const size_t per = (size_t)nd->c * nd->h * nd->w, xs = (size_t)3 * S * S;
    float *A = xmalloc(per * sizeof(float));
    float *d_x = be->alloc(be, xs * sizeof(float)), *d_a = be->alloc(be, per * sizeof(float));
    int rc = d_x && d_a ? 0 : pc_fail(err, "no memory for the clean pass on the %s backend", be->name);
    if (rc == 0) {
        be->upload(be, d_x, ctx->x, xs * sizeof(float));
        rc = be->forward(be, ctx->bn, d_x, 1, NULL, 1, &node, &d_a, err);
    }
    if (rc == 0) be->download(be, A, d_a, per * sizeof(float));
    if (d_x) be->release(be, d_x);
    if (d_a) be->release(be, d_a);
    if (rc) free(A);
    return rc ? NULL : A;
}

static int score_cam(const PcMethodCtx *ctx, const ScoreKind *kind, float *out, int *h, int *w, PcError *err) {
    const PcNode *nd = &ctx->net->nodes[ctx->set->cam.nodes[0]];
    const int K = nd->c, hw = nd->h * nd->w;
    float *A = cam_activation(ctx, err);
    if (!A) return -1;
    float *wk = xcalloc((size_t)K, sizeof(float));
    int *chans = xmalloc((size_t)K * sizeof(int)), m = 0;
    for (int k = 0; k < K; k++) {
        pc_method_minmax(A + (size_t)k * hw, (size_t)hw);
        if (isnan(A[(size_t)k * hw])) wk[k] = NAN;   // dead channel: NaN weight, dropped by nansum
        else chans[m++] = k;
    }
    int rc = 0;
    // out of memory: halve the batch, down to 1 image per pass
    for (int B = ctx->batch > 0 ? ctx->batch : 1;; B /= 2) {
        for (int j = 0; j < m; j++) wk[chans[j]] = 0;
        rc = score_weights(ctx, kind, A, K, nd->h, nd->w, chans, m, B, wk, err);
        if (rc != PC_ERR_OOM || B == 1) break;
    }
    if (rc == 0) {
        // map = mm(ReLU(nansum_k w_k A_bar_k)); float products as torch, the sum in double
        for (int p = 0; p < hw; p++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                const float v = wk[k] * A[(size_t)k * hw + p];
                if (!isnan(v)) s += v;
            }
            out[p] = relu((float)s);
        }
        pc_method_minmax(out, (size_t)hw);   // all channels dead: 0 / 0 = NaN, as torchcam
        *h = nd->h, *w = nd->w;
    }
    free(A);
    free(wk);
    free(chans);
    return rc == PC_ERR_OOM ? -1 : rc;
}

int pc_method_scorecam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err) {
    const ScoreKind k = {1, 0.0f, 0, 0};
    return score_cam(ctx, &k, out, h, w, err);
}

int pc_method_sscam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err) {
    const ScoreKind k = {ctx->set->sscam_samples, ctx->set->sscam_sigma, 0, 1};
    return score_cam(ctx, &k, out, h, w, err);
}

int pc_method_iscam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err) {
    const ScoreKind k = {ctx->set->iscam_samples, 0.0f, 1, 0};
    return score_cam(ctx, &k, out, h, w, err);
}
