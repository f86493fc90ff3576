// sensitivity.c: sensitivity-max (sensitivity.h, BASELINES.md B6): the perturbations, the
// max-ratio loop, and the explanation functions of the registry methods and of Poly-CAM.
#include "sensitivity.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "philox.h"

void pc_sensitivity_delta(uint64_t seed, uint32_t image, int j, float radius, size_t n, float *delta) {
    pc_philox_fill_uniform(seed, image, ((uint32_t)PC_STREAM_SENSITIVITY << 16) | (uint32_t)j, 0, n, delta);
    // torch uniform_(from, to): from + (to - from) * u, in float32
    const float from = -radius, span = radius - (-radius);
    for (size_t i = 0; i < n; i++) delta[i] = from + span * delta[i];
}

uint64_t pc_sensitivity_call_seed(uint64_t seed, int call) {
    return seed + (uint64_t)call * 0x9E3779B97F4A7C15ull;   // Weyl step: distinct keys per call
}

// ||a - b||_F (b NULL: ||a||_F) in double; NaN when any element is NaN.
static double fro(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = b ? (double)a[i] - (double)b[i] : (double)a[i];
        s += d * d;
    }
    return sqrt(s);
}

int pc_sensitivity_max(PcSensExplain fn, void *user, int K, const size_t *len, float *const *clean,
                       const float *x, size_t xn, int samples, float radius, uint64_t seed, uint32_t image,
                       double *sens, double *avg, PcError *err) {
    float **own = xcalloc((size_t)K, sizeof(float *)), **pert = xcalloc((size_t)K, sizeof(float *));
    float *xp = xmalloc(xn * sizeof(float));
    int rc = 0;
    for (int k = 0; k < K; k++) {
        pert[k] = xmalloc(len[k] * sizeof(float));
        if (!clean) own[k] = xmalloc(len[k] * sizeof(float));
        sens[k] = -INFINITY;
        if (avg) avg[k] = 0;
    }
    if (!clean) rc = fn(user, x, 0, own, err);
    float *const *e0 = clean ? clean : own;
    for (int j = 0; j < samples && rc == 0; j++) {
        pc_sensitivity_delta(seed, image, j, radius, xn, xp);
        for (size_t i = 0; i < xn; i++) xp[i] = x[i] + xp[i];
        rc = fn(user, xp, j + 1, pert, err);
        for (int k = 0; k < K && rc == 0; k++) {
            double den = fro(e0[k], NULL, len[k]);
            if (den == 0) den = 1;   // captum: torch.where(norm == 0, 1, norm)
            const double r = fro(pert[k], e0[k], len[k]) / den;
            // torch.max propagates NaN
            sens[k] = isnan(r) || isnan(sens[k]) ? NAN : fmax(sens[k], r);
            if (avg) avg[k] += r / samples;   // NaN stays NaN
        }
    }
    for (int k = 0; k < K; k++) {
        free(pert[k]);
        free(own[k]);
        if (rc) sens[k] = NAN;
        if (rc && avg) avg[k] = NAN;
    }
    free(own);
    free(pert);
    free(xp);
    return rc;
}

// ---- registry methods --------------------------------------------------------------------------

typedef struct {
    const PcMethodDesc *d;
    PcMethodCtx ctx;            // unsummed, its own settings (seed per call)
    PcMethodSettings set;
    uint64_t seed;              // the run's
    int h, w;                   // native shape of the clean call
} MethodUser;

static int method_explain(void *user, const float *x, int call, float *const *out, PcError *err) {
    MethodUser *u = user;
    // per-image noise is drawn anew on every call, as captum calls the method anew; draws of the
    // run (RISE's masks: a run_data method) stay the run's: the same masks for clean and noisy X
    if (!u->d->run_data) u->set.seed = pc_sensitivity_call_seed(u->seed, call);
    u->ctx.x = x;
    int h = 0, w = 0;
    if (u->d->native(&u->ctx, out[0], &h, &w, err)) return -1;
    if (h != u->h || w != u->w) return pc_fail(err, "%s: native map %dx%d, expected %dx%d", u->d->id, h, w, u->h, u->w);
    return 0;
}

int pc_sensitivity_method(const PcMethodDesc *d, const PcMethodCtx *ctx, int samples, float radius, double *sens,
                          double *avg, PcError *err) {
    if (!d->native) return pc_fail(err, "%s: computed by the Poly-CAM engine, not on its own", d->id);
    if (d->family == PC_FAMILY_EXTERNAL) {   // maps made elsewhere: no map of a perturbed input, not computed
        *sens = NAN;
        return 0;
    }
    const int S = ctx->size;
    MethodUser u = {.d = d, .ctx = *ctx, .set = *ctx->set, .seed = ctx->set->seed};
    u.ctx.set = &u.set;
    u.ctx.unsummed = 1;
    // the clean call fixes the native shape (every output fits 3 S S floats)
    float *clean = xmalloc((size_t)3 * S * S * sizeof(float));
    int rc = d->native(&u.ctx, clean, &u.h, &u.w, err);
    if (rc == 0) {
        const size_t len = (size_t)u.h * u.w;
        rc = pc_sensitivity_max(method_explain, &u, 1, &len, &clean, ctx->x, (size_t)3 * S * S, samples, radius,
                                u.seed, ctx->image, sens, avg, err);
    }
    free(clean);
    return rc;
}

// ---- Poly-CAM ----------------------------------------------------------------------------------

typedef struct {
    const PcMethodCtx *ctx;
    const PcTargets *tg;
    const PcSaliencyOptions *sopt;
    int cls, K;
    PcSensPick pick;
    const void *user;
} PolyUser;

static int polycam_explain(void *user, const float *x, int call, float *const *out, PcError *err) {
    (void)call;   // deterministic: no noise to redraw
    PolyUser *u = user;
    const PcMethodCtx *c = u->ctx;
    PcExplanation e;
    memset(&e, 0, sizeof e);
    if (pc_explain(c->be, c->bn, c->net, u->tg, x, u->cls, u->sopt, &e, err)) return -1;
    const size_t ss = (size_t)c->size * c->size;
    for (int k = 0; k < u->K; k++) memcpy(out[k], u->pick(u->user, &e, k), ss * sizeof(float));
    pc_explanation_free(&e);
    return 0;
}

int pc_sensitivity_polycam(const PcMethodCtx *ctx, const PcTargets *tg, const PcSaliencyOptions *sopt,
                           const PcExplanation *clean, int K, PcSensPick pick, const void *user, int samples,
                           float radius, double *sens, double *avg, PcError *err) {
    const int S = ctx->size;
    PolyUser u = {.ctx = ctx, .tg = tg, .sopt = sopt, .cls = clean->cls, .K = K, .pick = pick, .user = user};
    size_t *len = xmalloc((size_t)K * sizeof(size_t));
    float **e0 = xmalloc((size_t)K * sizeof(float *));
    for (int k = 0; k < K; k++) {
        len[k] = (size_t)S * S;
        e0[k] = (float *)pick(user, clean, k);
    }
    int rc = pc_sensitivity_max(polycam_explain, &u, K, len, e0, ctx->x, (size_t)3 * S * S, samples, radius,
                                ctx->set->seed, ctx->image, sens, avg, err);
    free(len);
    free(e0);
    return rc;
}
