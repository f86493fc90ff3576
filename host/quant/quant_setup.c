// quant_setup.c: the 8-bit precisions in a run (quant_setup.h): the scales (stored or calibrated)
// handed to the backend, and the accuracy guard against an fp32 reference.
#define _GNU_SOURCE
#include "quant_setup.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "stop.h"
#include "store.h"

// ---- scales -----------------------------------------------------------------------------------

// A stop signal (stop.h) before the output is touched: 1 with err saying so, else 0.
static int stopped(const char *stage, PcError *err) {
    int sig = pc_stop_requested();
    if (!sig) return 0;
    pc_fail(err, "interrupted by %s during the 8-bit %s; nothing was written; rerun the same command to start again",
            pc_stop_signal_name(sig), stage);
    return 1;
}

// The first calibration_images readable images of the list (after offset and limit, before the
// shard: every shard calibrates on the same images) through the unquantised net. *first / *last:
// their list positions.
static int calibrate(const PcQuantEnv *env, PcQuantPlan *plan, int *first, int *last, PcError *err) {
    PcDatasetSpec spec = env->list;
    spec.shard_index = 0;
    spec.shard_count = 1;
    PcDataset all;
    memset(&all, 0, sizeof all);
    if (pc_dataset_load(&spec, NULL, &all, err)) return -1;
    int *order = xmalloc((size_t)all.n * sizeof(int));
    for (int i = 0; i < all.n; i++) order[i] = i;
    const int want = env->ps->calibration_images < all.n ? env->ps->calibration_images : all.n;
    PcPrefetcher *pf = pc_prefetch_start(&all, order, all.n, env->resize, env->size, env->decoders, 2 * env->decoders + 2);
    PcBackend *be = env->be;
    const size_t xs = (size_t)3 * env->size * env->size * sizeof(float);
    float *d_x = be->alloc(be, xs);
    int used = 0, rc = d_x ? 0 : pc_fail(err, "calibration: no memory for an image");
    PcPrefetchItem *item;
    while (rc == 0 && used < want && (item = pc_prefetch_next(pf)) != NULL) {
        rc = stopped("calibration", err);
        if (rc == 0 && item->ok) {
            be->upload(be, d_x, item->x, xs);
            rc = pc_quant_observe(plan, be, env->bn, env->net, d_x, 1, err);
            if (used == 0) *first = all.list_index[item->index];
            *last = all.list_index[item->index];
            used++;
        } else if (rc == 0) {   // named: the scales then come from the next readable image
            fprintf(stderr, "8-bit calibration: skipped %s; the next readable image is taken\n", item->error);
        }
        pc_prefetch_release(pf, item);
    }
    pc_prefetch_stop(pf);
    if (d_x) be->release(be, d_x);
    if (rc == 0 && used == 0)
        rc = pc_fail(err, "[precision] calibration: none of the first images of %s could be read", env->list.list);
    if (rc == 0) rc = stopped("calibration", err);
    if (rc == 0) pc_quant_calibrated(plan, used);
    // a scale whose reciprocal overflows float32 (a tiny clip) would turn every 0 input into NaN
    for (int i = 0; rc == 0 && i < plan->n; i++)
        if (!pc_quant_scale_ok(plan->in_scale[i]))
            rc = pc_fail(err, "[precision] clip = %g: the input scale of %s (clip x amax / QMAX = %g x %g / %g = %g) is "
                         "too small for float32 (its reciprocal overflows); raise clip", plan->clip, plan->layer[i],
                         plan->clip, (double)plan->amax[i], (double)pc_q_max(plan->format), (double)plan->in_scale[i]);
    free(order);
    pc_dataset_free(&all);
    return rc;
}

// The scales of the output's earlier run (journal or finished file) when it had this very
// configuration (its key up to [quant] equals env->key): 1 when taken. An earlier run of another
// configuration is refused here, as the store would refuse it, before the calibration and the guard
// spend their time: -1 with err.
static int reuse_stored(const PcQuantEnv *env, PcQuantPlan *plan, int *finished, PcError *err) {
    char *stored = env->mode == PC_STORE_FORCE ? NULL : pc_quant_stored_key(env->output, finished);
    if (!stored) return 0;
    char *part = pc_store_key_config_part(stored);
    char *q = strstr(part, "\n[quant]\n");
    int ok = 0;
    if (q) *q = 0;
    if (strcmp(part, env->key)) {
        char diff[600], what[1200];
        pc_store_key_difference(part, env->key, diff, sizeof diff);
        if (*finished) snprintf(what, sizeof what, "%s", env->output);
        else snprintf(what, sizeof what, "the unfinished run in %s.journal", env->output);
        ok = pc_fail(err, "%s was made with a different configuration: %s; use --force to start over or set another "
                     "[output] file", what, diff);
    } else if (q) {
        ok = pc_quant_from_key(plan, stored);
    }
    free(part);
    free(stored);
    return ok;
}

int pc_quant_setup(const PcQuantEnv *env, PcQuantPlan *plan, int *finished, PcError *err) {
    *finished = 0;
    if (pc_quant_plan(env->net, env->precision, env->ps, plan, err)) return -1;
    if (!env->be->net_set_quant)
        return pc_fail(err, "[run] precision = %s: the %s backend has no 8-bit path", pc_quant_format_name(plan->format),
                       env->be->name);
    int first = 0, last = 0, n_conv = 0;
    for (int i = 0; i < env->net->n_nodes; i++) n_conv += env->net->nodes[i].op == PC_NODE_CONV;
    char how[300];
    int reused = reuse_stored(env, plan, finished, err);
    if (reused < 0) return -1;
    if (reused) {
        snprintf(how, sizeof how, "input scales read back from %s's earlier run (calibrated on %d image%s)",
                 env->output, plan->calibration_images, plan->calibration_images == 1 ? "" : "s");
    } else {
        int rc = calibrate(env, plan, &first, &last, err);
        if (rc) return rc;
        snprintf(how, sizeof how, "input scales calibrated on %d image%s (list entries %d..%d), clip %g",
                 plan->calibration_images, plan->calibration_images == 1 ? "" : "s", first, last, plan->clip);
    }
    if (env->be->net_set_quant(env->be, env->bn, &plan->q, err)) return -1;
    const char *wide = strcmp(env->be->name, "cpu") ? "fp16" : "fp32";
    fprintf(stderr, "8-bit: %s in %d of %d convs (the rest, the first conv and the linear layers in %s); %s%s%s%s\n",
            pc_quant_format_name(plan->format), plan->n, n_conv, wide, how,
            env->ps->apply_maps ? "; apply = maps: the class and the insertion/deletion curves on the unquantised net (" : "",
            env->ps->apply_maps ? wide : "", env->ps->apply_maps ? ")" : "");
    return 0;
}

// ---- the accuracy guard -----------------------------------------------------------------------

// argmax of the logits of one image x (backend memory); -1 on an error, -2 when a logit is not
// finite (no class: never agrees with the reference).
static int top1(PcBackend *be, PcBackendNet *bn, const PcNet *net, const float *d_x) {
    const int K = net->n_classes;
    float *d_l = be->alloc(be, (size_t)K * sizeof(float)), *l = xmalloc((size_t)K * sizeof(float));
    PcError e;
    int cls = -1;
    if (d_l && be->forward(be, bn, d_x, 1, d_l, 0, NULL, NULL, &e) == 0) {
        be->download(be, l, d_l, (size_t)K * sizeof(float));
        cls = 0;
        for (int k = 1; k < K; k++)
            if (l[k] > l[cls]) cls = k;
        for (int k = 0; k < K; k++)
            if (!isfinite(l[k])) cls = -2;
    }
    if (d_l) be->release(be, d_l);
    free(l);
    return cls;
}

typedef struct {
    int images, agree, pairs;
    double sum, max;
    char worst[160];        // the method and curve of the largest |dAUC|
    int nan_pairs;          // AUCs NaN in 8 bits but not in fp32 (fails the guard)
    char first_nan[160];    // the first of those
} GuardSums;

// a: the 8-bit AUC, b: the fp32 one.
static void add_pair(GuardSums *g, double a, double b, const char *id, const char *curve) {
    if (!isfinite(b)) return;   // a NaN map in fp32 (constant, as the library): no curve to compare
    if (!isfinite(a)) {         // NaN from the 8-bit path alone: never a pass
        if (g->nan_pairs++ == 0) snprintf(g->first_nan, sizeof g->first_nan, "%s %s", id, curve);
        return;
    }
    double d = fabs(a - b);
    g->sum += d;
    g->pairs++;
    if (d > g->max || g->pairs == 1) {
        g->max = d;
        snprintf(g->worst, sizeof g->worst, "%s %s", id, curve);
    }
}

static void compare(const PcStoreLayout *l, const PcImageResult *q, const PcImageResult *f, GuardSums *g) {
    for (int m = 0; m < l->n_methods; m++) {
        if (l->insertion) add_pair(g, q->ins_auc[m], f->ins_auc[m], l->method_ids[m], "insertion");
        if (l->deletion) add_pair(g, q->del_auc[m], f->del_auc[m], l->method_ids[m], "deletion");
    }
}

// The guard's images through both backends into g.
static int guard_images(const PcQuantEnv *env, PcBackend *ref, PcBackendNet *rbn, int n, GuardSums *g,
                        PcError *err) {
    int *order = xmalloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) order[i] = i;
    PcPrefetcher *pf = pc_prefetch_start(env->ds, order, n, env->resize, env->size, env->decoders, 2 * env->decoders + 2);
    PcImageResult rq, rf;
    pc_result_init(&rq, env->layout);
    pc_result_init(&rf, env->layout);
    const size_t xs = (size_t)3 * env->size * env->size * sizeof(float);
    float *dq = env->be->alloc(env->be, xs), *df = ref->alloc(ref, xs);
    int rc = dq && df ? 0 : pc_fail(err, "8-bit guard: no memory for an image");
    PcPrefetchItem *item;
    while (rc == 0 && (item = pc_prefetch_next(pf)) != NULL) {
        rc = stopped("accuracy guard", err);
        if (rc == 0 && item->ok) {
            env->be->upload(env->be, dq, item->x, xs);
            ref->upload(ref, df, item->x, xs);
            int cq = top1(env->be, env->bn_class ? env->bn_class : env->bn, env->net, dq), cf = top1(ref, rbn, env->net, df);
            if (cq == -1 || cf == -1) rc = pc_fail(err, "8-bit guard: a forward pass failed");
            g->agree += cq == cf && cq >= 0;   // non-finite logits on both sides (-2) keep no class
            env->image(env->user, env->be, env->bn, item, &rq);
            env->image(env->user, ref, rbn, item, &rf);
            compare(env->layout, &rq, &rf, g);
            g->images++;
        }
        pc_prefetch_release(pf, item);
    }
    pc_prefetch_stop(pf);
    if (dq) env->be->release(env->be, dq);
    if (df) ref->release(ref, df);
    pc_result_free(&rq);
    pc_result_free(&rf);
    free(order);
    return rc;
}

// After the guard's 8-bit images: the 8-bit convs the device ran in 16 bits (every batch size the
// run uses has been through the net by then), into plan and, when there are any, one warning line.
static void note_fallbacks(const PcQuantEnv *env, PcQuantPlan *plan) {
    int nodes[256];
    int n = env->be->net_quant_fallbacks ? env->be->net_quant_fallbacks(env->be, env->bn, nodes, 256) : 0;
    plan->fallback_convs = n;
    plan->fallback_layers[0] = 0;
    size_t len = 0;
    for (int k = 0; k < n && k < 256; k++) {
        const char *name = "?";
        for (int i = 0; i < plan->n; i++)
            if (plan->node[i] == nodes[k]) name = plan->layer[i];
        int w = snprintf(plan->fallback_layers + len, sizeof plan->fallback_layers - len, "%s%s", k ? ", " : "", name);
        if (w < 0 || (size_t)w >= sizeof plan->fallback_layers - len) break;   // the count stays exact
        len += (size_t)w;
    }
    if (n > 0)
        fprintf(stderr, "warning: 8-bit: %d of %d 8-bit convs ran in 16 bits on this device (no 8-bit kernel took them; "
                "the CPU emulation differs there): %s\n", n, plan->n, plan->fallback_layers);
}

int pc_quant_guard(const PcQuantEnv *env, PcQuantPlan *plan, PcError *err) {
    const PcPrecisionSettings *ps = env->ps;
    plan->guard_limit_dauc = ps->guard_max_dauc;
    plan->guard_limit_agreement = ps->guard_min_agreement;
    const int n = ps->guard_images < env->ds->n ? ps->guard_images : env->ds->n;
    if (n <= 0) return 0;
    PcBackendOptions o = *env->bopt;
    o.precision = PC_PREC_FP32;
    PcBackend *ref = pc_backend_create(strcmp(env->be->name, "cpu") ? env->device : "cpu", &o, err);
    if (!ref) return -1;
    PcBackendNet *rbn = ref->net_prepare(ref, env->net, env->max_batch, err);
    GuardSums g = {0};
    int rc = rbn ? guard_images(env, ref, rbn, n, &g, err) : -1;
    if (rbn) ref->net_release(ref, rbn);
    ref->destroy(ref);
    if (rc) return rc;
    if (g.images == 0) {
        fprintf(stderr, "warning: 8-bit guard: none of the first %d images could be read; no guard\n", n);
        return 0;
    }
    note_fallbacks(env, plan);
    plan->guard_images = g.images;
    plan->guard_pairs = g.pairs;
    plan->guard_agreement = (double)g.agree / g.images;
    plan->guard_mean_dauc = g.pairs ? g.sum / g.pairs : 0.0;
    plan->guard_max_dauc = g.max;
    char figures[800], nan[240] = "";
    if (g.nan_pairs)
        snprintf(nan, sizeof nan, ", %d curve%s NaN in 8 bits but not in fp32 (first: %s)", g.nan_pairs,
                 g.nan_pairs == 1 ? "" : "s", g.first_nan);
    snprintf(figures, sizeof figures, "%d image%s against fp32: predicted class kept on %d/%d (limit %g), |dAUC| mean "
             "%.4f over %d curves (limit %g), max %.4f (%s)%s", g.images, g.images == 1 ? "" : "s", g.agree, g.images,
             ps->guard_min_agreement, plan->guard_mean_dauc, g.pairs, ps->guard_max_dauc, g.max,
             g.pairs ? g.worst : "no curves", nan);
    if (plan->guard_mean_dauc > ps->guard_max_dauc || plan->guard_agreement < ps->guard_min_agreement || g.nan_pairs)
        return pc_fail(err, "8-bit accuracy guard failed: %s; nothing was written. Keep the worst layers in 16 bits "
                       "([precision] keep), raise [precision] clip toward 1, or use [run] precision = fp16 (limits: "
                       "[precision] guard_max_dauc, guard_min_agreement)", figures);
    fprintf(stderr, "8-bit guard passed: %s\n", figures);
    return 0;
}
