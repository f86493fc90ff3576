// methods_attrib.c: the input-gradient attributions of BASELINES.md B4, as captum 0.6.0 computes
// them with the reference's arguments: y_c is the logit, the attribution (3, S, S) is summed over
// the colour channels (with its sign) into an S x S map, no normalisation.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "philox.h"
#include "methods_attrib.h"

// Gauss-Legendre rule on [-1, 1] (what numpy.polynomial.legendre.leggauss returns): the nodes are
// the roots of P_n, found by Newton's method from Tricomi's estimate cos(pi (i - 1/4) / (n + 1/2));
// P_n and P_n' by the three-term recurrence; weights 2 / ((1 - t^2) P_n'(t)^2). Ascending order.
void pc_gauss_legendre(int n, double *t, double *w) {
    const int m = (n + 1) / 2;
    for (int i = 1; i <= m; i++) {
        double z = cos(M_PI * (i - 0.25) / (n + 0.5)), pp = 1;
        for (int it = 0; it < 100; it++) {
            double p1 = 1, p2 = 0;
            for (int j = 1; j <= n; j++) {
                const double p3 = p2;
                p2 = p1;
                p1 = ((2.0 * j - 1) * z * p2 - (j - 1.0) * p3) / j;
            }
            pp = n * (z * p1 - p2) / (z * z - 1);
            const double z1 = z;
            z = z1 - p1 / pp;
            if (fabs(z - z1) < 1e-16) break;
        }
        t[i - 1] = -z;
        t[n - i] = z;
        w[i - 1] = w[n - i] = 2 / ((1 - z * z) * pp * pp);
    }
    if (n % 2) t[m - 1] = 0;   // the middle root exactly
}

// S x S map = sum over colour channels of att (3, S, S).
static void sum_channels(const float *att, int S, float *out) {
    const size_t ss = (size_t)S * S;
    for (size_t p = 0; p < ss; p++) out[p] = att[p] + att[ss + p] + att[2 * ss + p];
}

// ig / ixg output: the channel sum, or with ctx->unsummed the (3, S, S) attribution itself (*h = 3 S).
static void channel_sum(const PcMethodCtx *ctx, const float *att, int S, float *out, int *h, int *w) {
    *h = *w = S;
    if (!ctx->unsummed) {
        sum_channels(att, S, out);
        return;
    }
    memcpy(out, att, (size_t)3 * S * S * sizeof(float));
    *h = 3 * S;
}

// Input x Gradient: X * dy_c/dX.
int pc_method_ixg(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err) {
    const int S = ctx->size;
    const size_t xs = (size_t)3 * S * S;
    float *g = xmalloc(xs * sizeof(float));
    int rc = pc_method_backward(ctx, ctx->x, 1, 0, NULL, NULL, NULL, g, err);
    if (rc == 0) {
        for (size_t i = 0; i < xs; i++) g[i] *= ctx->x[i];
        channel_sum(ctx, g, S, out, h, w);
    }
    free(g);
    return rc;
}

// Integrated Gradients, captum's default "gausslegendre" rule with baseline 0: the n inputs
// alpha_j X with alpha_j = (1 + t_j) / 2 go through the network in batches; the attribution is
// X * sum_j (omega_j / 2) grad_j. alpha_j and the step sizes are float32 as in captum's tensors.
int pc_method_ig(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err) {
    const int S = ctx->size, n = ctx->set->ig_steps;
    const size_t xs = (size_t)3 * S * S;
    double *t = xmalloc((size_t)n * sizeof(double)), *wt = xmalloc((size_t)n * sizeof(double));
    pc_gauss_legendre(n, t, wt);
    float *xin = xmalloc((size_t)n * xs * sizeof(float)), *g = xmalloc((size_t)n * xs * sizeof(float));
    for (int j = 0; j < n; j++) {
        const float a = (float)(0.5 * (1 + t[j]));
        for (size_t i = 0; i < xs; i++) xin[(size_t)j * xs + i] = a * ctx->x[i];
    }
    int rc = pc_method_backward(ctx, xin, n, 0, NULL, NULL, NULL, g, err);
    if (rc == 0) {
        float *att = xin;   // reuse the first input's room
        for (size_t i = 0; i < xs; i++) {
            double s = 0;
            for (int j = 0; j < n; j++) s += (double)(g[(size_t)j * xs + i] * (float)(0.5 * wt[j]));
            att[i] = (float)s * ctx->x[i];
        }
        channel_sum(ctx, att, S, out, h, w);
    }
    free(t);
    free(wt);
    free(xin);
    free(g);
    return rc;
}

// SmoothGrad (NoiseTunnel(Saliency), abs = True): mean_s |dy_c/dX (X + sigma z_s)|, z_s the philox
// normals of (seed, image, (stream << 16) | s); then the channel sum.
int pc_method_smoothgrad(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err) {
    const PcMethodSettings *st = ctx->set;
    const int S = ctx->size, n = st->smoothgrad_samples;
    const size_t xs = (size_t)3 * S * S;
    float *xin = xmalloc((size_t)n * xs * sizeof(float)), *g = xmalloc((size_t)n * xs * sizeof(float));
    for (int s = 0; s < n; s++) {
        float *dst = xin + (size_t)s * xs;
        pc_philox_fill_normal(st->seed, ctx->image, ((uint32_t)PC_STREAM_SMOOTHGRAD << 16) | (uint32_t)s, 0, xs, dst);
        for (size_t i = 0; i < xs; i++) dst[i] = ctx->x[i] + st->smoothgrad_sigma * dst[i];
    }
    int rc = pc_method_backward(ctx, xin, n, 0, NULL, NULL, NULL, g, err);
    if (rc == 0) {
        float *att = xin;
        for (size_t i = 0; i < xs; i++) {
            double s = 0;
            for (int j = 0; j < n; j++) s += fabsf(g[(size_t)j * xs + i]);
            att[i] = (float)(s / n);
        }
        sum_channels(att, S, out);   // also for sensitivity-max (B6): the reference's sg_fn summed
        *h = *w = S;
    }
    free(xin);
    free(g);
    return rc;
}
