// insdel.c: insertion / deletion curves (SPEC §8) written against the backend interface. A PcInsDelContext keeps one image's X, baseline and buffers
// on the backend so that the ~20 maps of an image reuse them.
#include "insdel.h"

#include <stdio.h>
#include <stdlib.h>
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

void pc_insdel_context_free(PcInsDelContext *ctx) {
    PcBackend *be = ctx->be;
    if (!be) return;
    void *dev[] = {ctx->x, ctx->base, ctx->map, ctx->order, ctx->samples, ctx->logits, ctx->scores};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) be->release(be, dev[i]);
    free(ctx->scores_host);
    memset(ctx, 0, sizeof *ctx);
}

// The context's backend buffers for its batch; -1 when the backend is out of memory.
static int context_buffers(PcInsDelContext *ctx) {
    PcBackend *be = ctx->be;
    const size_t ss = (size_t)ctx->size * ctx->size, f = sizeof(float);
    ctx->x = be->alloc(be, 3 * ss * f);
    ctx->base = be->alloc(be, 3 * ss * f);
    ctx->map = be->alloc(be, ss * f);
    ctx->order = be->alloc(be, ss * sizeof(int));
    ctx->samples = be->alloc(be, (size_t)ctx->opt.batch * 3 * ss * f);
    ctx->logits = be->alloc(be, (size_t)ctx->opt.batch * ctx->n_classes * f);
    ctx->scores = be->alloc(be, (size_t)ctx->opt.steps * f);
    ctx->scores_host = xmalloc((size_t)ctx->opt.steps * f);
    return ctx->x && ctx->base && ctx->map && ctx->order && ctx->samples && ctx->logits && ctx->scores ? 0 : -1;
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
    // out of memory: half the samples per pass, down to 1
    for (int batch = opt->batch;; batch /= 2) {
        *ctx = (PcInsDelContext){.be = be, .size = net->in_h, .n_classes = net->n_classes, .opt = *opt};
        ctx->opt.batch = batch;
        if (context_buffers(ctx) == 0) break;
        pc_insdel_context_free(ctx);
        if (batch == 1)
            return pc_fail(err, "insertion/deletion: out of memory on the %s backend even for one sample per pass",
                           be->name);
    }
    const int S = ctx->size;
    be->upload(be, ctx->x, x_host, 3 * (size_t)S * S * sizeof(float));
    baseline_on_backend(be, ctx->x, S, opt, ctx->base);
    if (be->take_error(be, err)) {
        pc_insdel_context_free(ctx);
        return -1;
    }
    return 0;
}

// One curve at the context's batch: steps samples, softmax score of cls per sample. PC_ERR_OOM
// when the backend ran out of memory for the batch.
static int curve_at_batch(PcInsDelContext *ctx, PcBackendNet *bn, int cls, int deletion, PcError *err) {
    PcBackend *be = ctx->be;
    const int S = ctx->size, steps = ctx->opt.steps, batch = ctx->opt.batch;
    const long ss = (long)S * S;
    const int per_step = (int)((ss + steps - 1) / steps);   // ceil(S*S / n)
    for (int t0 = 0; t0 < steps; t0 += batch) {
        const int m = steps - t0 < batch ? steps - t0 : batch;
        be->insdel_samples(be, ctx->x, ctx->base, ctx->order, S, t0, m, per_step, deletion,
                           ctx->samples);
        int rc = be->take_error(be, err);
        if (!rc) rc = be->forward(be, bn, ctx->samples, m, ctx->logits, 0, NULL, NULL, err);
        if (rc) return rc;
        be->softmax_gather(be, ctx->logits, m, ctx->n_classes, cls, ctx->scores + t0);
    }
    be->download(be, ctx->scores_host, ctx->scores, (size_t)steps * sizeof(float));
    return be->take_error(be, err);
}

// One curve and its mean; out of memory: half the batch (kept for the context's later curves),
// down to 1.
static int run_curve(PcInsDelContext *ctx, PcBackendNet *bn, int cls, int deletion, float *scores,
                     double *auc, PcError *err) {
    int rc;
    while ((rc = curve_at_batch(ctx, bn, cls, deletion, err)) == PC_ERR_OOM && ctx->opt.batch > 1)
        ctx->opt.batch /= 2;
    if (rc == PC_ERR_OOM) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return pc_fail(err, "insertion/deletion: out of memory on the %s backend even for one sample per pass (%.900s)",
                       ctx->be->name, why);
    }
    if (rc) return rc;
    const int steps = ctx->opt.steps;
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
    const int S = ctx->size;
    if (!map_host || mh != S || mw != S)
        return pc_fail(err, "insertion/deletion: saliency map of %dx%d values, need %dx%d (the input size)", mh, mw,
                       S, S);
    if (cls < 0 || cls >= ctx->n_classes)
        return pc_fail(err, "insertion/deletion: class %d out of range (%d classes)", cls, ctx->n_classes);
    const size_t ss = (size_t)S * S;
    be->upload(be, ctx->map, map_host, ss * sizeof(float));
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
