// metrics.c: insertion / deletion curves (SPEC §8) written against the backend interface, and the
// localisation measures of SPEC §10. A PcInsDelContext keeps one image's X, baseline and buffers
// on the backend so that the ~20 maps of an image reuse them.
#include "metrics.h"

#include <string.h>

static const float kImagenetMean[3] = {0.485f, 0.456f, 0.406f};
static const float kImagenetStd[3] = {0.229f, 0.224f, 0.225f};

void pc_insdel_default_options(PcInsDelOptions *opt) {
    memset(opt, 0, sizeof *opt);
    opt->steps = 224;
    opt->baseline = PC_BASE_BLUR;
    opt->blur_kernel = 11;
    opt->blur_sigma = 5.0f;
    opt->batch = 32;
}

// Baseline into a backend buffer; x is X on the backend.
static void baseline_on_backend(PcBackend *be, const float *x, int size, const PcInsDelOptions *opt,
                                float *base) {
    const size_t ss = (size_t)size * size;
    if (opt->baseline == PC_BASE_BLUR) {
        be->blur(be, x, size, opt->blur_kernel, opt->blur_sigma, base);
        return;
    }
    float *host = xmalloc(3 * ss * sizeof *host);   // (3, S, S)
    for (int c = 0; c < 3; c++) {
        // grey = 0.5 in [0, 1] units, normalised; zero = the dataset mean
        float v = opt->baseline == PC_BASE_GREY ? (0.5f - kImagenetMean[c]) / kImagenetStd[c] : 0.0f;
        for (size_t i = 0; i < ss; i++) host[c * ss + i] = v;
    }
    be->upload(be, base, host, 3 * ss * sizeof *host);
    free(host);
}

void pc_insdel_baseline(PcBackend *be, const float *x_host, int size, const PcInsDelOptions *opt,
                        float *base_host) {
    const size_t bytes = 3 * (size_t)size * size * sizeof(float);
    float *x = be->alloc(be, bytes), *base = be->alloc(be, bytes);
    be->upload(be, x, x_host, bytes);
    baseline_on_backend(be, x, size, opt, base);
    be->download(be, base_host, base, bytes);
    be->release(be, x);
    be->release(be, base);
}

void pc_insdel_context_free(PcInsDelContext *ctx) {
    PcBackend *be = ctx->be;
    if (!be) return;
    void *dev[] = {ctx->x, ctx->base, ctx->map, ctx->map_src, ctx->order, ctx->samples,
                   ctx->logits, ctx->scores};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) be->release(be, dev[i]);
    free(ctx->scores_host);
    memset(ctx, 0, sizeof *ctx);
}

int pc_insdel_context_init(PcBackend *be, const PcNet *net, const float *x_host,
                           const PcInsDelOptions *opt, PcInsDelContext *ctx, PcError *err) {
    memset(ctx, 0, sizeof *ctx);
    if (opt->steps < 1) return pc_fail(err, "insertion/deletion: %d steps (need at least 1)", opt->steps);
    if (opt->batch < 1) return pc_fail(err, "insertion/deletion: batch %d (need at least 1)", opt->batch);
    if (opt->baseline == PC_BASE_BLUR && (opt->blur_kernel < 1 || !(opt->blur_sigma > 0.0f)))
        return pc_fail(err, "insertion/deletion: blur kernel %d, sigma %g (need >= 1, > 0)",
                       opt->blur_kernel, opt->blur_sigma);
    if (net->in_h != net->in_w)
        return pc_fail(err, "%s: input %dx%d is not square", net->spec.arch, net->in_h, net->in_w);
    const int S = net->in_h;
    const size_t ss = (size_t)S * S, f = sizeof(float);
    ctx->be = be;
    ctx->size = S;
    ctx->n_classes = net->n_classes;
    ctx->opt = *opt;
    ctx->x = be->alloc(be, 3 * ss * f);
    ctx->base = be->alloc(be, 3 * ss * f);
    ctx->map = be->alloc(be, ss * f);
    ctx->order = be->alloc(be, ss * sizeof(int));
    ctx->samples = be->alloc(be, (size_t)opt->batch * 3 * ss * f);
    ctx->logits = be->alloc(be, (size_t)opt->batch * net->n_classes * f);
    ctx->scores = be->alloc(be, (size_t)opt->steps * f);
    ctx->scores_host = xmalloc((size_t)opt->steps * f);
    be->upload(be, ctx->x, x_host, 3 * ss * f);
    baseline_on_backend(be, ctx->x, S, opt, ctx->base);
    return 0;
}

// One curve: steps samples in batches, softmax score of cls per sample, mean.
static int run_curve(PcInsDelContext *ctx, PcBackendNet *bn, int cls, int deletion, float *scores,
                     double *auc, PcError *err) {
    PcBackend *be = ctx->be;
    const int S = ctx->size, steps = ctx->opt.steps, batch = ctx->opt.batch;
    const long ss = (long)S * S;
    const int per_step = (int)((ss + steps - 1) / steps);   // ceil(S*S / n)
    for (int t0 = 0; t0 < steps; t0 += batch) {
        const int m = steps - t0 < batch ? steps - t0 : batch;
        be->insdel_samples(be, ctx->x, ctx->base, ctx->order, S, t0, m, per_step, deletion,
                           ctx->samples);
        if (be->forward(be, bn, ctx->samples, m, ctx->logits, 0, NULL, NULL, err) != 0) return -1;
        be->softmax_gather(be, ctx->logits, m, ctx->n_classes, cls, ctx->scores + t0);
    }
    be->download(be, ctx->scores_host, ctx->scores, (size_t)steps * sizeof(float));
    double sum = 0.0;
    for (int t = 0; t < steps; t++) sum += ctx->scores_host[t];
    if (scores) memcpy(scores, ctx->scores_host, (size_t)steps * sizeof(float));
    if (auc) *auc = sum / steps;
    return 0;
}

int pc_insdel_context_eval(PcInsDelContext *ctx, PcBackendNet *bn, const float *map_host, int mh,
                           int mw, int cls, float *ins_scores, double *ins_auc, float *del_scores,
                           double *del_auc, long *forward_passes, PcError *err) {
    PcBackend *be = ctx->be;
    if (!be) return pc_fail(err, "insertion/deletion: context not initialised");
    if (!map_host || mh < 1 || mw < 1)
        return pc_fail(err, "insertion/deletion: saliency map of %dx%d values", mh, mw);
    if (cls < 0 || cls >= ctx->n_classes)
        return pc_fail(err, "insertion/deletion: class %d out of range (%d classes)", cls, ctx->n_classes);
    const int S = ctx->size;
    const size_t ss = (size_t)S * S;
    if (mh == S && mw == S) {
        be->upload(be, ctx->map, map_host, ss * sizeof(float));
    } else {
        // SPEC §8: a map that is not S x S is first resized with up()
        const size_t bytes = (size_t)mh * mw * sizeof(float);
        if (bytes > ctx->map_src_bytes) {
            if (ctx->map_src) be->release(be, ctx->map_src);
            ctx->map_src = be->alloc(be, bytes);
            ctx->map_src_bytes = bytes;
        }
        be->upload(be, ctx->map_src, map_host, bytes);
        be->resample(be, ctx->map_src, 1, mh, mw, S, S, ctx->map);
    }
    be->argsort_desc(be, ctx->map, (int)ss, ctx->order);
    const int want_ins = ins_scores || ins_auc, want_del = del_scores || del_auc;
    if (want_ins) {
        if (run_curve(ctx, bn, cls, 0, ins_scores, ins_auc, err) != 0) return -1;
        if (forward_passes) *forward_passes += ctx->opt.steps;
    }
    if (want_del) {
        if (run_curve(ctx, bn, cls, 1, del_scores, del_auc, err) != 0) return -1;
        if (forward_passes) *forward_passes += ctx->opt.steps;
    }
    return 0;
}

int pc_insertion_deletion(PcBackend *be, PcBackendNet *bn, const PcNet *net, const float *x_host,
                          const float *map_host, int mh, int mw, int cls,
                          const PcInsDelOptions *opt, float *ins_scores, double *ins_auc,
                          float *del_scores, double *del_auc, long *forward_passes, PcError *err) {
    PcInsDelContext ctx;
    if (pc_insdel_context_init(be, net, x_host, opt, &ctx, err) != 0) return -1;
    int rc = pc_insdel_context_eval(&ctx, bn, map_host, mh, mw, cls, ins_scores, ins_auc,
                                    del_scores, del_auc, forward_passes, err);
    pc_insdel_context_free(&ctx);
    return rc;
}

double pc_energy_in_mask(const float *s, const unsigned char *g, int n) {
    double inside = 0.0, total = 0.0;
    for (int i = 0; i < n; i++) {
        total += s[i];
        if (g[i]) inside += s[i];
    }
    return total == 0.0 ? 0.0 : inside / total;
}

int pc_pointing_hit(const float *s, const unsigned char *g, int n) {
    if (n <= 0) return 0;
    int best = 0;
    for (int i = 1; i < n; i++)
        if (s[i] > s[best]) best = i;   // strict: the first maximum wins
    return g[best] != 0;
}
