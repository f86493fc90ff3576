// image_step.c: one image of a run (image_step.h).
#include "image_step.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "localisation.h"
#include "metric_store.h"

// The per-image state of the metrics: the insertion / deletion and perturbation contexts.
typedef struct {
    int want_curves, want_perturb;
    PcInsDelContext insdel;
    PcPerturbContext perturb;
} StepMetrics;

static PcBackendNet *curves_net(const PcStepCompute *c) { return c->bn_curves ? c->bn_curves : c->bn; }

// The class (and its score) into res, and the Poly-CAM explanation into e when a method of the
// family is run. 0, or -1 with res->status set.
static int step_class(const PcStepEnv *env, const PcStepCompute *c, const PcPrefetchItem *item, PcImageResult *res,
                      PcExplanation *e) {
    const int S = env->layout->size;
    int cls = -1;
    if (env->class_label && env->ds->labels[item->index] >= 0) cls = env->ds->labels[item->index];
    PcError err;
    // apply = maps: the unquantised net predicts the class (and its score), the 8-bit maps explain
    // that class and the curves measure it on the same unquantised net
    if (c->bn_curves) {
        if (pc_classify(c->be, c->bn_curves, env->net, item->x, S, cls, &res->cls, &res->score, &err)) goto fail;
        cls = res->cls;
    }
    if (env->methods->any_polycam) {
        if (pc_explain(c->be, c->bn, env->net, env->tg, item->x, cls, env->sopt, e, &err)) goto fail;
        if (!c->bn_curves) res->cls = e->cls, res->score = e->score;
    } else if (!c->bn_curves && pc_classify(c->be, c->bn, env->net, item->x, S, cls, &res->cls, &res->score, &err)) {
        goto fail;
    }
    return 0;
fail:
    snprintf(res->status, sizeof res->status, "saliency: %.480s", err.msg);
    return -1;
}

// The map of method m into dst (S x S); 1 when it is NaN (the library's constant-map case), 2 when
// the method has none for this image (PC_METHOD_NO_MAP: dst NaN), -1 on error with err.
static int step_map(const PcStepEnv *env, const PcExplanation *e, int m, const PcMethodCtx *mctx, float *dst,
                    PcError *err) {
    const PcRunMethods *ms = env->methods;
    const size_t ss = (size_t)mctx->size * mctx->size;
    if (ms->desc[m]->family == PC_FAMILY_POLYCAM) {
        memcpy(dst, pc_polycam_pick(e, &ms->pcam[m]), ss * sizeof(float));
    } else {
        PcMethodCtx ctx = *mctx;
        ctx.state = ms->state[m];
        int rc = pc_method_compute(ms->desc[m], &ctx, dst, err);   // NO_MAP: dst NaN
        if (rc) return rc == PC_METHOD_NO_MAP ? 2 : -1;
    }
    for (size_t i = 0; i < ss; i++)
        if (isnan(dst[i])) return 1;
    return 0;
}

static int metrics_init(const PcStepEnv *env, const PcStepCompute *c, const PcPrefetchItem *item, uint32_t image,
                        StepMetrics *sm, PcError *err) {
    sm->want_curves = env->insertion || env->deletion;
    sm->want_perturb = pc_perturb_any(env->pert);
    if (sm->want_curves && pc_insdel_context_init(c->be, env->net, item->x, env->insdel, &sm->insdel, err)) {
        sm->want_curves = sm->want_perturb = 0;
        return -1;
    }
    if (sm->want_perturb &&
        pc_perturb_context_init(c->be, curves_net(c), env->net, item->x, image, env->pert, &sm->perturb, err)) {
        sm->want_perturb = 0;
        return -1;
    }
    return 0;
}

static void metrics_free(StepMetrics *sm) {
    if (sm->want_curves) pc_insdel_context_free(&sm->insdel);
    if (sm->want_perturb) pc_perturb_context_free(&sm->perturb);
}

// Every measure of method m's map dst: localisation, perturbation metrics, curves. 0, -1 with err.
static int step_measures(const PcStepEnv *env, const PcStepCompute *c, const PcPrefetchItem *item, StepMetrics *sm,
                         int m, const float *dst, PcImageResult *res, PcError *err) {
    const PcStoreLayout *l = env->layout;
    if (item->has_mask) {
        pc_localise(dst, item->mask, l->size * l->size, &res->energy[m], &res->pointing[m]);
        pc_localise_more(dst, item->mask, l->size, l->pointing_tol, &res->pointing_tol[m], &res->rank[m]);
    }
    if (sm->want_perturb && pc_metric_eval_store(&sm->perturb, curves_net(c), dst, res->cls, l,
                                                 res->extra + (size_t)m * pc_layout_extra_width(l), err))
        return -1;
    if (!sm->want_curves) return 0;
    return pc_insdel_context_eval(&sm->insdel, curves_net(c), dst, l->size, l->size, res->cls,
                                  env->insertion ? res->ins_scores + (size_t)m * l->steps : NULL,
                                  env->insertion ? &res->ins_auc[m] : NULL,
                                  env->deletion ? res->del_scores + (size_t)m * l->steps : NULL,
                                  env->deletion ? &res->del_auc[m] : NULL, NULL, err);
}

// Sensitivity-max (and avg) of every method of the image into res: the Poly-CAM ids from one
// pc_explain per perturbation, each registry method on its own. 0, or -1 with err.
static const float *pick_polycam(const void *user, const PcExplanation *e, int k) {
    const void *const *u = user;   // {PcRunMethods, method indices}
    const PcRunMethods *ms = u[0];
    return pc_polycam_pick(e, &ms->pcam[((const int *)u[1])[k]]);
}

static int step_sensitivity(const PcStepEnv *env, const PcExplanation *e, const PcMethodCtx *mctx,
                            PcImageResult *res, PcError *err) {
    const PcRunMethods *ms = env->methods;
    const PcRobustness *rob = env->rob;
    int poly[PC_POLYCAM_MAX_IDS], K = 0, rc = 0;
    double sens[PC_POLYCAM_MAX_IDS], avg[PC_POLYCAM_MAX_IDS];
    for (int m = 0; m < ms->n; m++)
        if (ms->desc[m]->family == PC_FAMILY_POLYCAM && K < PC_POLYCAM_MAX_IDS) poly[K++] = m;
    const void *u[2] = {ms, poly};
    if (K > 0)
        rc = pc_sensitivity_polycam(mctx, env->tg, env->sopt, e, K, pick_polycam, u, rob->samples, rob->radius, sens,
                                    avg, err);
    for (int k = 0; rc == 0 && k < K; k++) res->sens[poly[k]] = sens[k], res->sens_avg[poly[k]] = avg[k];
    for (int m = 0; rc == 0 && m < ms->n; m++) {
        if (ms->desc[m]->family == PC_FAMILY_POLYCAM) continue;
        PcMethodCtx ctx = *mctx;
        ctx.state = ms->state[m];
        rc = pc_sensitivity_method(ms->desc[m], &ctx, rob->samples, rob->radius, &res->sens[m], &res->sens_avg[m], err);
        if (rc) snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg), " (%s)", ms->ids[m]);
    }
    return rc;
}

// Every method's map and measures; the methods whose map is NaN or absent named in the status.
static void step_methods(const PcStepEnv *env, const PcStepCompute *c, const PcPrefetchItem *item,
                         const PcExplanation *e, const PcMethodCtx *mctx, StepMetrics *sm, PcImageResult *res) {
    const PcRunMethods *ms = env->methods;
    const size_t ss = (size_t)env->layout->size * env->layout->size;
    const char *nan_ids[PC_POLYCAM_MAX_IDS + 64], *absent_ids[PC_POLYCAM_MAX_IDS + 64];
    int n_nan = 0, n_absent = 0;
    PcError err;
    for (int m = 0; m < ms->n; m++) {
        float *dst = res->maps + (size_t)m * ss;
        int rc = step_map(env, e, m, mctx, dst, &err);
        if (rc < 0) {
            snprintf(res->status, sizeof res->status, "%.96s: %.380s", ms->ids[m], err.msg);
            return;
        }
        if (rc > 0) {
            // as torchcam: a constant map min-max normalises to NaN; the map is stored as it is,
            // its curves stay NaN, the status names it and the other methods go on. The same for
            // an image a method has no map of (ext:NAME): stored as NaN, named as such.
            if (rc == 2) absent_ids[n_absent++] = ms->ids[m];
            else nan_ids[n_nan++] = ms->ids[m];
            continue;
        }
        if (step_measures(env, c, item, sm, m, dst, res, &err)) {
            // keep the image but mark it: its table row would be incomplete
            snprintf(res->status, sizeof res->status, "metrics (%.96s): %.380s", ms->ids[m], err.msg);
            return;
        }
    }
    // every method's NaN map named (layout.h); a method or metric that failed wins: the image is skipped
    if (n_nan || n_absent) pc_status_partial_maps(res->status, sizeof res->status, nan_ids, n_nan, absent_ids, n_absent);
}

void pc_image_step(const PcStepEnv *env, const PcStepCompute *c, const PcPrefetchItem *item, PcImageResult *res) {
    pc_result_reset(res, env->layout, item->index);
    if (!item->ok) {
        snprintf(res->status, sizeof res->status, "%s", item->error);
        return;
    }
    PcExplanation e;
    memset(&e, 0, sizeof e);
    if (step_class(env, c, item, res, &e)) return;
    PcMethodCtx mctx = {.be = c->be, .bn = c->bn, .net = env->net, .set = env->mset, .x = item->x,
                        .size = env->layout->size, .cls = res->cls, .image = (uint32_t)env->ds->list_index[item->index],
                        .batch = env->sopt->batch, .name = env->ds->names[item->index]};
    StepMetrics sm;
    PcError err;
    if (metrics_init(env, c, item, mctx.image, &sm, &err)) {
        snprintf(res->status, sizeof res->status, "metrics: %.480s", err.msg);
        metrics_free(&sm);
    } else {
        step_methods(env, c, item, &e, &mctx, &sm, res);
        metrics_free(&sm);
        // sensitivity-max unless a method or metric failed (a NaN map goes on: its Sens is NaN)
        if (c->sensitivity && pc_status_usable(res->status) && step_sensitivity(env, &e, &mctx, res, &err))
            snprintf(res->status, sizeof res->status, "sensitivity: %.480s", err.msg);
    }
    if (env->methods->any_polycam) pc_explanation_free(&e);
}
