// metric_perturb.c: ROAD, pixel flipping, region perturbation and Average Drop / Increase in
// Confidence / Average Gain (metric_perturb.h) written against the backend interface: the
// perturbed inputs are made by backend ops straight into a batch buffer, then one forward pass.
#include "metric_perturb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metric_math.h"

const char *const pc_perturb_baseline_names[4] = {"black", "mean", "blur", "uniform"};

void pc_perturb_default_options(PcPerturbOptions *opt) {
    memset(opt, 0, sizeof *opt);
    opt->road_n = 9;
    for (int j = 0; j < 9; j++) opt->road_pct[j] = 10.0f * (float)(j + 1);
    opt->road_noise = 0.01f;
    opt->flip_pixels = 224;
    opt->flip_base = PC_PB_BLACK;
    opt->region_patch = 16;
    opt->region_steps = 100;
    opt->region_base = PC_PB_UNIFORM;
    opt->batch = 32;
}

int pc_perturb_any(const PcPerturbOptions *o) { return o->road || o->flip || o->region || o->adcc; }

int pc_perturb_flip_steps(const PcPerturbOptions *opt, int size) {
    const long ss = (long)size * size;
    return opt->flip_pixels > 0 ? (int)((ss + opt->flip_pixels - 1) / opt->flip_pixels) : 0;
}

int pc_perturb_region_steps(const PcPerturbOptions *opt, int size) {
    if (opt->region_patch < 1) return 0;
    const int side = pc_region_per_side(size, opt->region_patch);
    return opt->region_steps < side * side ? opt->region_steps : side * side;
}

void pc_perturb_context_free(PcPerturbContext *ctx) {
    PcBackend *be = ctx->be;
    if (!be) return;
    void *dev[] = {ctx->x, ctx->base, ctx->map, ctx->order, ctx->rank, ctx->samples, ctx->logits, ctx->scores};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) be->release(be, dev[i]);
    free(ctx->logits_host);
    free(ctx->clean_logits);
    memset(ctx, 0, sizeof *ctx);
}

static int context_buffers(PcPerturbContext *ctx) {
    PcBackend *be = ctx->be;
    const size_t ss = (size_t)ctx->size * ctx->size, f = sizeof(float), b = (size_t)ctx->opt.batch;
    const int side = ctx->opt.region_patch > 0 ? pc_region_per_side(ctx->size, ctx->opt.region_patch) : 1;
    ctx->x = be->alloc(be, 3 * ss * f);
    ctx->base = be->alloc(be, 3 * ss * f);
    ctx->map = be->alloc(be, ss * f);
    ctx->order = be->alloc(be, ss * sizeof(int));
    ctx->rank = be->alloc(be, (size_t)side * side * sizeof(int));
    ctx->samples = be->alloc(be, b * 3 * ss * f);
    ctx->logits = be->alloc(be, b * ctx->n_classes * f);
    ctx->scores = be->alloc(be, b * f);
    ctx->logits_host = xmalloc(b * ctx->n_classes * f);
    ctx->clean_logits = xmalloc((size_t)ctx->n_classes * f);
    return ctx->x && ctx->base && ctx->map && ctx->order && ctx->rank && ctx->samples && ctx->logits && ctx->scores
               ? 0 : -1;
}

// The baseline of pixel flipping or region perturbation into ctx->base (ctx->base_kind says which
// is there: both metrics with the same kind build it once per image).
static void build_baseline(PcPerturbContext *ctx, PcPerturbBaseline kind) {
    PcBackend *be = ctx->be;
    const int S = ctx->size;
    const size_t n = (size_t)3 * S * S;
    if (ctx->base_kind == (int)kind) return;
    ctx->base_kind = (int)kind;
    if (kind == PC_PB_BLUR) {
        be->blur(be, ctx->x, S, 11, 5.0f, ctx->base);
    } else if (kind == PC_PB_UNIFORM) {
        be->uniform_baseline(be, S, 0.0f, 1.0f, ctx->opt.seed, ctx->image, (uint32_t)PC_STREAM_PERTURB_BASE << 16,
                             ctx->base);
    } else {
        const float fill = kind == PC_PB_BLACK ? ctx->x_min : ctx->x_mean;
        float *host = xmalloc(n * sizeof *host);
        for (size_t i = 0; i < n; i++) host[i] = fill;
        be->upload(be, ctx->base, host, n * sizeof *host);
        free(host);
    }
}

int pc_perturb_context_init(PcBackend *be, PcBackendNet *bn, const PcNet *net, const float *x_host, uint32_t image,
                            const PcPerturbOptions *opt, PcPerturbContext *ctx, PcError *err) {
    memset(ctx, 0, sizeof *ctx);
    if (opt->batch < 1) return pc_fail(err, "perturbation metrics: batch %d (need at least 1)", opt->batch);
    if (net->in_h != net->in_w)
        return pc_fail(err, "%s: input %dx%d is not square", net->spec.arch, net->in_h, net->in_w);
    for (int batch = opt->batch;; batch /= 2) {
        *ctx = (PcPerturbContext){.be = be, .size = net->in_h, .n_classes = net->n_classes, .image = image, .opt = *opt};
        ctx->opt.batch = batch;
        if (context_buffers(ctx) == 0) break;
        pc_perturb_context_free(ctx);
        if (batch == 1)
            return pc_fail(err, "perturbation metrics: out of memory on the %s backend even for one input per pass",
                           be->name);
    }
    const int S = ctx->size;
    const size_t n = (size_t)3 * S * S;
    be->upload(be, ctx->x, x_host, n * sizeof(float));
    double lo = INFINITY, sum = 0.0;   // black = the smallest value, mean = the sum in double / n
    for (size_t i = 0; i < n; i++) lo = fmin(lo, x_host[i]), sum += x_host[i];
    ctx->x_min = (float)lo;
    ctx->x_mean = (float)(sum / (double)n);
    ctx->base_kind = -1;
    int rc = be->take_error(be, err);
    if (!rc) rc = be->forward(be, bn, ctx->x, 1, ctx->logits, 0, NULL, NULL, err);
    if (!rc) be->download(be, ctx->clean_logits, ctx->logits, (size_t)ctx->n_classes * sizeof(float));
    if (!rc) rc = be->take_error(be, err);
    if (rc) pc_perturb_context_free(ctx);
    return rc ? -1 : 0;
}

// f_c of the m inputs in ctx->samples into scores (host, m) and, when top1 is not NULL, whether c
// is the first arg max of their logits. Passes of at most opt.batch inputs, halved on PC_ERR_OOM.
static int score_samples(PcPerturbContext *ctx, PcBackendNet *bn, int m, int cls, float *scores, int *top1,
                         long *passes, PcError *err) {
    PcBackend *be = ctx->be;
    const size_t in = (size_t)3 * ctx->size * ctx->size, K = (size_t)ctx->n_classes;
    for (int i0 = 0; i0 < m;) {
        const int n = m - i0 < ctx->opt.batch ? m - i0 : ctx->opt.batch;
        int rc = be->forward(be, bn, ctx->samples + (size_t)i0 * in, n, ctx->logits, 0, NULL, NULL, err);
        if (rc == PC_ERR_OOM && ctx->opt.batch > 1) {
            ctx->opt.batch /= 2;
            continue;
        }
        if (rc) return -1;
        be->softmax_gather(be, ctx->logits, n, (int)K, cls, ctx->scores);
        be->download(be, scores + i0, ctx->scores, (size_t)n * sizeof(float));
        if (top1) be->download(be, ctx->logits_host, ctx->logits, (size_t)n * K * sizeof(float));
        if (be->take_error(be, err)) return -1;
        for (int i = 0; top1 && i < n; i++) {
            const float *row = ctx->logits_host + (size_t)i * K;
            size_t best = 0;
            for (size_t k = 1; k < K; k++)
                if (row[k] > row[best]) best = k;
            top1[i0 + i] = (int)best == cls;
        }
        if (passes) *passes += n;
        i0 += n;
    }
    return 0;
}

// f_c(X) from the clean logits (softmax in double, as the backends' softmax_gather).
static float clean_score(const PcPerturbContext *ctx, int cls) {
    const float *l = ctx->clean_logits;
    float mx = l[0];
    for (int k = 1; k < ctx->n_classes; k++) mx = l[k] > mx ? l[k] : mx;
    double den = 0;
    for (int k = 0; k < ctx->n_classes; k++) den += exp((double)l[k] - mx);
    return (float)(exp((double)l[cls] - mx) / den);
}

// ROAD: both orders, the percentages in batches of opt.batch imputed inputs (ctx->order holds the
// stable descending order of the map).
static int road(PcPerturbContext *ctx, PcBackendNet *bn, int cls, PcPerturbResult *res, long *passes, PcError *err) {
    const PcPerturbOptions *o = &ctx->opt;
    const long ss = (long)ctx->size * ctx->size;
    int counts[PC_ROAD_MAX];
    uint32_t samples[PC_ROAD_MAX];
    for (int lerf = 0; lerf < 2; lerf++) {
        for (int j0 = 0; j0 < o->road_n; j0 += ctx->opt.batch) {
            const int m = o->road_n - j0 < ctx->opt.batch ? o->road_n - j0 : ctx->opt.batch;
            for (int j = 0; j < m; j++) {
                counts[j] = (int)((double)ss * o->road_pct[j0 + j] / 100.0);   // the reference's int()
                samples[j] = ((uint32_t)PC_STREAM_ROAD << 16) | ((uint32_t)lerf << 8) | (uint32_t)(j0 + j);
            }
            ctx->be->road_impute(ctx->be, ctx->x, ctx->order, ctx->size, counts, m, lerf, o->road_noise, o->seed,
                                 ctx->image, samples, ctx->samples);
            if (ctx->be->take_error(ctx->be, err) ||
                score_samples(ctx, bn, m, cls, res->road_score[lerf] + j0, res->road_top1[lerf] + j0, passes, err))
                return -1;
        }
    }
    return 0;
}

// Pixel flipping in one order (ctx->order set for it): curve and trapezoid AUC over [0, 1].
static int flip_curve(PcPerturbContext *ctx, PcBackendNet *bn, int cls, float *curve, double *auc, long *passes,
                      PcError *err) {
    const int S = ctx->size, T = pc_perturb_flip_steps(&ctx->opt, S);
    float *y = xmalloc((size_t)T * sizeof *y);
    int rc = 0;
    for (int t0 = 0; rc == 0 && t0 < T; t0 += ctx->opt.batch) {
        const int m = T - t0 < ctx->opt.batch ? T - t0 : ctx->opt.batch;
        ctx->be->insdel_samples(ctx->be, ctx->x, ctx->base, ctx->order, S, t0, m, ctx->opt.flip_pixels, 1,
                                ctx->samples);
        rc = ctx->be->take_error(ctx->be, err) || score_samples(ctx, bn, m, cls, y + t0, NULL, passes, err) ? -1 : 0;
    }
    double tr = 0;
    for (int t = 1; t < T; t++) tr += 0.5 * ((double)y[t - 1] + y[t]);
    *auc = rc ? NAN : T > 1 ? tr / (T - 1) : y[0];
    if (curve && !rc) memcpy(curve, y, (size_t)T * sizeof *y);
    free(y);
    return rc;
}

// Region perturbation in one order: patches by the sum of the map over their pixels (double),
// stable; curve f_c(X) - f_c(X_k) and AOPC = sum / (steps + 1) (Samek et al.: the k = 0 term is 0).
static int region_curve(PcPerturbContext *ctx, PcBackendNet *bn, const float *map, int cls, int lerf, float *curve,
                        double *aopc, long *passes, PcError *err) {
    const int S = ctx->size, P = ctx->opt.region_patch, side = pc_region_per_side(S, P), np = side * side;
    const int R = pc_perturb_region_steps(&ctx->opt, S);
    double *sum = xcalloc((size_t)np, sizeof *sum);
    int *order = xmalloc((size_t)np * sizeof *order), *rank = xmalloc((size_t)np * sizeof *rank);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) sum[pc_region_of(y, x, S, P)] += map[(size_t)y * S + x];
    for (int i = 0; i < np; i++) order[i] = i;
    for (int i = 1; i < np; i++) {   // insertion sort, stable (a few hundred patches)
        const int v = order[i];
        int j = i - 1;
        while (j >= 0 && (lerf ? sum[order[j]] > sum[v] : sum[order[j]] < sum[v])) order[j + 1] = order[j], j--;
        order[j + 1] = v;
    }
    for (int i = 0; i < np; i++) rank[order[i]] = i;
    ctx->be->upload(ctx->be, ctx->rank, rank, (size_t)np * sizeof *rank);
    float *y = xmalloc((size_t)(R > 0 ? R : 1) * sizeof *y);
    int rc = 0;
    for (int t0 = 0; rc == 0 && t0 < R; t0 += ctx->opt.batch) {
        const int m = R - t0 < ctx->opt.batch ? R - t0 : ctx->opt.batch;
        ctx->be->region_samples(ctx->be, ctx->x, ctx->base, ctx->rank, S, P, t0, m, ctx->samples);
        rc = ctx->be->take_error(ctx->be, err) || score_samples(ctx, bn, m, cls, y + t0, NULL, passes, err) ? -1 : 0;
    }
    const float y0 = clean_score(ctx, cls);
    double acc = 0;
    for (int t = 0; !rc && t < R; t++) {
        y[t] = y0 - y[t];
        acc += y[t];
    }
    *aopc = rc ? NAN : acc / (R + 1);
    if (curve && !rc) memcpy(curve, y, (size_t)R * sizeof *y);
    free(y), free(sum), free(order), free(rank);
    return rc;
}

// Average Drop / Increase in Confidence / Average Gain: O = f_c(X * E), E = the map min-max
// normalised (0 where the map is constant, as pytorch-grad-cam's scaling gives).
static int adcc(PcPerturbContext *ctx, PcBackendNet *bn, const float *map, int cls, PcPerturbResult *res, long *passes,
                PcError *err) {
    const size_t ss = (size_t)ctx->size * ctx->size;
    float lo = map[0], hi = map[0];
    for (size_t i = 1; i < ss; i++) lo = map[i] < lo ? map[i] : lo, hi = map[i] > hi ? map[i] : hi;
    float *e = xmalloc(ss * sizeof *e);
    for (size_t i = 0; i < ss; i++) e[i] = hi > lo ? (map[i] - lo) / (hi - lo) : 0.0f;
    ctx->be->upload(ctx->be, ctx->map, e, ss * sizeof *e);
    free(e);
    ctx->be->masked_batch(ctx->be, ctx->x, ctx->map, 1, ctx->size, ctx->samples);
    if (ctx->be->take_error(ctx->be, err) || score_samples(ctx, bn, 1, cls, &res->masked_score, NULL, passes, err))
        return -1;
    const double y = clean_score(ctx, cls), o = res->masked_score;
    res->drop = fmax(0.0, y - o) / y;
    res->gain = fmax(0.0, o - y) / (1.0 - y);
    res->increase = o > y;
    return 0;
}

// ctx->order = the stable descending order of `map` (MoRF), or of -map (LeRF: ascending, ties
// by ascending index as well).
static void set_order(PcPerturbContext *ctx, const float *map, int lerf) {
    const size_t ss = (size_t)ctx->size * ctx->size;
    float *v = xmalloc(ss * sizeof *v);
    for (size_t i = 0; i < ss; i++) v[i] = lerf ? -map[i] : map[i];
    ctx->be->upload(ctx->be, ctx->map, v, ss * sizeof *v);
    ctx->be->argsort_desc(ctx->be, ctx->map, (int)ss, ctx->order);
    free(v);
}

int pc_perturb_eval(PcPerturbContext *ctx, PcBackendNet *bn, const float *map_host, int cls, PcPerturbResult *res,
                    long *passes, PcError *err) {
    if (!ctx->be) return pc_fail(err, "perturbation metrics: context not initialised");
    if (cls < 0 || cls >= ctx->n_classes)
        return pc_fail(err, "perturbation metrics: class %d out of range (%d classes)", cls, ctx->n_classes);
    const PcPerturbOptions *o = &ctx->opt;
    if (o->road || o->flip) set_order(ctx, map_host, 0);
    if (o->road && road(ctx, bn, cls, res, passes, err)) return -1;
    for (int lerf = 0; o->flip && lerf < 2; lerf++) {
        build_baseline(ctx, o->flip_base);
        if (lerf) set_order(ctx, map_host, 1);
        if (flip_curve(ctx, bn, cls, res->flip[lerf], &res->flip_auc[lerf], passes, err)) return -1;
    }
    for (int lerf = 0; o->region && lerf < 2; lerf++) {
        build_baseline(ctx, o->region_base);
        if (region_curve(ctx, bn, map_host, cls, lerf, res->region[lerf], &res->region_aopc[lerf], passes, err))
            return -1;
    }
    if (o->adcc && adcc(ctx, bn, map_host, cls, res, passes, err)) return -1;
    return 0;
}
