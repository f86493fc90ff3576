// run.c: the run loop of polycam-eval (see run.h). Set-up order puts every check that can fail
// for a whole run (data, weights, layers, device, output) before the first image; then decoded
// images stream from the decode pool through pc_explain and the insertion/deletion context of
// metrics.h, and each image's results go to the store as one unit.
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset.h"
#include "mask.h"
#include "method_config.h"
#include "cost.h"
#include "metrics.h"
#include "overlay.h"
#include "progress.h"
#include "quant_run.h"
#include "sanity.h"
#include "saliency.h"
#include "sensitivity.h"
#include "stop.h"
#include "journal.h"
#include "table.h"
#include "weights.h"

// ---- method ids -------------------------------------------------------------------------------

// M_OTHER: a registry method with its own compute function (methods.h); layer = its index in
// Run.others.
typedef enum { M_MAIN = 0, M_LEVEL, M_CAM, M_NO_LNORM, M_OTHER } MethodKind;

typedef struct {
    int variant;
    MethodKind kind;
    int layer;
} MethodRef;

#define MAX_OTHERS 32

// pcamp, pcamm, pcampm first (the paper's Table 1), then per variant its levels, isolated CAMs and
// the no-LNorm map (Tables 2 and 3), layers earliest first; then the other registry methods in the
// order [saliency] methods names them.
static int build_methods(const PcConfig *cfg, const PcTargets *tg, const PcMethodDesc *const *others, int n_others,
                         MethodRef *refs, char (*ids)[PC_METHOD_ID_LEN]) {
    int n = 0;
    for (int v = 0; v < PC_N_VARIANTS; v++) {
        if (!cfg->variants[v]) continue;
        refs[n] = (MethodRef){v, M_MAIN, 0};
        snprintf(ids[n++], PC_METHOD_ID_LEN, "%s", pc_variant_ids[v]);
    }
    for (int v = 0; v < PC_N_VARIANTS; v++) {
        if (!cfg->variants[v]) continue;
        for (int l = 0; cfg->ablate_levels && l < tg->n_targets; l++) {
            refs[n] = (MethodRef){v, M_LEVEL, l};
            snprintf(ids[n++], PC_METHOD_ID_LEN, "%s.level.%s", pc_variant_ids[v], tg->names[l]);
        }
        for (int l = 0; cfg->ablate_cams && l < tg->n_targets; l++) {
            refs[n] = (MethodRef){v, M_CAM, l};
            snprintf(ids[n++], PC_METHOD_ID_LEN, "%s.cam.%s", pc_variant_ids[v], tg->names[l]);
        }
        if (cfg->ablate_no_lnorm) {
            refs[n] = (MethodRef){v, M_NO_LNORM, 0};
            snprintf(ids[n++], PC_METHOD_ID_LEN, "%s.no_lnorm", pc_variant_ids[v]);
        }
    }
    for (int i = 0; i < n_others; i++) {
        refs[n] = (MethodRef){0, M_OTHER, i};
        snprintf(ids[n++], PC_METHOD_ID_LEN, "%s", others[i]->id);
    }
    return n;
}

#define MAX_METHODS (PC_N_VARIANTS * (2 + 2 * PC_MAX_TARGETS) + MAX_OTHERS)

// ---- set-up -----------------------------------------------------------------------------------

typedef struct {
    PcDataset ds;
    char **class_names;
    int n_class_names;
    PcStateDict sd;
    int sd_open;
    PcNet net;
    int net_created;
    PcTargets tg;
    int n_others;                       // registry methods outside the Poly-CAM family
    const PcMethodDesc *others[MAX_OTHERS];
    PcMethodSettings mset;              // their settings, layers resolved
    PcRobustness rob;                   // [robustness]: sensitivity-max
    int any_polycam;                    // a Poly-CAM variant is requested: pc_explain runs
    int n_methods;
    MethodRef refs[MAX_METHODS];
    char ids[MAX_METHODS][PC_METHOD_ID_LEN];
    PcBackend *be;
    PcBackendNet *bn;
    PcBackendNet *bn_curves;    // apply = maps: the unquantised net of the class and the curves; NULL = bn
    PcInsDelOptions insdel;     // cfg->insdel with batch = auto resolved
    PcStore *store;
    PcLock lock;                // fp8 / int8: the output's writer lock, from before the calibration
    PcBackendOptions bopt;      // precision, threads and the environment's switches
    int quantised;              // fp8 / int8: quant holds the 8-bit convs and their scales
    PcQuantPlan quant;
    PcStoreLayout layout;       // the stored results' shape (set_up)
} Run;

static int load_model(const PcConfig *cfg, Run *r, PcError *err) {
    PcArchSpec spec;
    if (pc_config_arch_spec(cfg, r->n_class_names, &spec, err)) return -1;
    if (pc_net_create(&spec, &r->net, err)) return -1;
    r->net_created = 1;
    PcError e;
    if (pc_weights_open(cfg->weights, &r->sd, &e))
        return pc_fail(err, "model weights: %s%s", e.msg,
                       access(cfg->weights, F_OK) ? "; set [model] weights to the checkpoint file, or --set "
                                                    "model.weights=FILE (README: Reproducing the paper's tables)"
                                                  : "");
    r->sd_open = 1;
    if (pc_net_load(&r->net, &r->sd, &e))
        return pc_fail(err, "model weights %s do not fit arch %s: %s", cfg->weights, spec.arch, e.msg);
    pc_state_dict_free(&r->sd);     // the net holds its own (folded) copy
    r->sd_open = 0;
    char layers[PC_MAX_TARGETS][64];
    memcpy(layers, cfg->layers, sizeof layers);
    if (pc_targets_resolve(&r->net, cfg->n_layers, layers, &r->tg, &e))
        return pc_fail(err, "[model] layers: %s", e.msg);
    // the other methods: ids, settings, their layers checked against this model
    r->n_others = pc_method_config_ids(cfg, r->others, MAX_OTHERS, err);
    if (r->n_others < 0) return -1;
    if (pc_method_settings_from_config(cfg, &r->mset, err)) return -1;
    if (pc_robustness_from_config(cfg, &r->rob, err)) return -1;
    // the layers of the sanity check's registry methods too: a bad [cam] layer must stop the run
    // before its first image, not after the last one
    PcSanitySettings ss;
    if (pc_sanity_settings_from_config(cfg, &ss, err)) return -1;
    int sanity_registry = 0;
    for (int m = 0; ss.enabled && m < ss.n_methods; m++) {
        const PcMethodDesc *d = pc_method_find(ss.ids[m]);
        sanity_registry |= d && d->native;
    }
    if ((r->n_others > 0 || sanity_registry) && pc_method_settings_resolve(&r->mset, &r->net, err)) return -1;
    for (int v = 0; v < PC_N_VARIANTS; v++) r->any_polycam |= cfg->variants[v];
    return 0;
}

static void run_free(Run *r) {
    if (r->be) {
        if (r->bn) r->be->net_release(r->be, r->bn);
        if (r->bn_curves) r->be->net_release(r->be, r->bn_curves);
        r->be->destroy(r->be);
    }
    pc_store_close(r->store);
    pc_lock_release(&r->lock);  // when no store took it over (a failed calibration or guard)
    pc_quant_plan_free(&r->quant);
    if (r->sd_open) pc_state_dict_free(&r->sd);
    if (r->net_created) pc_net_free(&r->net);
    for (int i = 0; i < r->n_class_names; i++) free(r->class_names[i]);
    free(r->class_names);
    pc_dataset_free(&r->ds);
}

// The shape of the stored results.
static PcStoreLayout run_layout(const PcConfig *cfg, Run *r) {
    return (PcStoreLayout){.n_images = r->ds.n, .size = cfg->size, .steps = cfg->insdel.steps,
                           .n_methods = r->n_methods, .method_ids = r->ids, .maps = cfg->maps,
                           .insertion = cfg->insertion, .deletion = cfg->deletion,
                           .sensitivity = r->rob.sensitivity, .localisation = r->ds.mask_paths != NULL};
}

// ---- one image --------------------------------------------------------------------------------

// The S x S map of method m (the engine hands back every map at the input size).
static const float *method_map(const Run *r, const PcExplanation *e, int m) {
    const MethodRef *ref = &r->refs[m];
    switch (ref->kind) {
    case M_MAIN: return e->map[ref->variant];
    case M_LEVEL: return e->levels[ref->variant] + (size_t)ref->layer * e->size * e->size;
    case M_NO_LNORM: return e->map_no_lnorm[ref->variant];
    case M_OTHER: return NULL;   // computed by its registry entry (process_image)
    case M_CAM: return e->cams[ref->variant][ref->layer];
    }
    return NULL;
}

// Class and score on net bn without the Poly-CAM engine: one forward pass (runs without a Poly-CAM
// id, and apply = maps, whose class comes from the curves' unquantised net).
static int classify(Run *r, PcBackendNet *bn, const float *x, int cls, int size, int *cls_out, float *score,
                    PcError *err) {
    PcBackend *be = r->be;
    const int K = r->net.n_classes;
    const size_t xs = (size_t)3 * size * size * sizeof(float);
    float *d_x = be->alloc(be, xs), *d_l = be->alloc(be, (size_t)K * sizeof(float)), *d_s = be->alloc(be, sizeof(float));
    float *logits = xmalloc((size_t)K * sizeof(float));
    be->upload(be, d_x, x, xs);
    int rc = be->forward(be, bn, d_x, 1, d_l, 0, NULL, NULL, err);
    if (rc == 0) {
        be->download(be, logits, d_l, (size_t)K * sizeof(float));
        if (cls < 0) {
            cls = 0;
            for (int i = 1; i < K; i++)
                if (logits[i] > logits[cls]) cls = i;   // first maximum, as pc_explain
        }
        be->softmax_gather(be, d_l, 1, K, cls, d_s);
        be->download(be, score, d_s, sizeof(float));
        *cls_out = cls;
    }
    free(logits);
    be->release(be, d_x);
    be->release(be, d_l);
    be->release(be, d_s);
    return rc;
}

// The map of method m into dst (S x S); 1 when it is NaN (the library's constant-map case), -1 on
// error with err.
static int compute_map(Run *r, const PcExplanation *e, int m, const PcMethodCtx *mctx, float *dst, PcError *err) {
    const size_t ss = (size_t)mctx->size * mctx->size;
    if (r->refs[m].kind == M_OTHER) {
        if (pc_method_compute(r->others[r->refs[m].layer], mctx, dst, err)) return -1;
    } else {
        memcpy(dst, method_map(r, e, m), ss * sizeof(float));
    }
    for (size_t i = 0; i < ss; i++)
        if (isnan(dst[i])) return 1;
    return 0;
}

// Sensitivity-max of every method of the image (sensitivity.h) into res->sens: the Poly-CAM ids
// from one pc_explain per perturbation, each registry method on its own. 0, or -1 with err.
static const float *pick_polycam(const void *user, const PcExplanation *e, int k) {
    const void *const *u = user;   // {Run, method indices}
    return method_map(u[0], e, ((const int *)u[1])[k]);
}

static int image_sensitivity(Run *r, const PcExplanation *e, const PcMethodCtx *mctx, const PcSaliencyOptions *sopt,
                             PcImageResult *res, PcError *err) {
    const PcRobustness *rob = &r->rob;
    int poly[MAX_METHODS], K = 0, rc = 0;
    double sens[MAX_METHODS];
    for (int m = 0; m < r->n_methods; m++)
        if (r->refs[m].kind != M_OTHER) poly[K++] = m;
    const void *u[2] = {r, poly};
    if (K > 0)
        rc = pc_sensitivity_polycam(mctx, &r->tg, sopt, e, K, pick_polycam, u, rob->samples, rob->radius, sens, err);
    for (int k = 0; rc == 0 && k < K; k++) res->sens[poly[k]] = sens[k];
    for (int m = 0; rc == 0 && m < r->n_methods; m++) {
        if (r->refs[m].kind != M_OTHER) continue;
        rc = pc_sensitivity_method(r->others[r->refs[m].layer], mctx, rob->samples, rob->radius, &res->sens[m], err);
        if (rc) snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg), " (%s)", r->ids[m]);
    }
    return rc;
}

static void process_image(const PcConfig *cfg, Run *r, const PcPrefetchItem *item, const PcSaliencyOptions *sopt,
                          PcImageResult *res) {
    const PcStoreLayout *l = &r->layout;
    pc_result_reset(res, l, item->index);
    if (!item->ok) {
        snprintf(res->status, sizeof res->status, "%s", item->error);
        return;
    }
    int cls = -1;
    if (cfg->class_source == PC_CLASS_LABEL && r->ds.labels[item->index] >= 0) cls = r->ds.labels[item->index];
    PcExplanation e;
    memset(&e, 0, sizeof e);
    PcError err;
    // apply = maps: the unquantised net predicts the class (and its score), the 8-bit maps explain
    // that class and the curves measure it on the same unquantised net
    if (r->bn_curves) {
        if (classify(r, r->bn_curves, item->x, cls, l->size, &res->cls, &res->score, &err)) {
            snprintf(res->status, sizeof res->status, "saliency: %.480s", err.msg);
            return;
        }
        cls = res->cls;
    }
    if (r->any_polycam) {
        if (pc_explain(r->be, r->bn, &r->net, &r->tg, item->x, cls, sopt, &e, &err)) {
            snprintf(res->status, sizeof res->status, "saliency: %.480s", err.msg);
            return;
        }
        if (!r->bn_curves) res->cls = e.cls, res->score = e.score;
    } else if (!r->bn_curves && classify(r, r->bn, item->x, cls, l->size, &res->cls, &res->score, &err)) {
        snprintf(res->status, sizeof res->status, "saliency: %.480s", err.msg);
        return;
    }
    const size_t ss = (size_t)l->size * l->size;
    PcMethodCtx mctx = {.be = r->be, .bn = r->bn, .net = &r->net, .set = &r->mset, .x = item->x, .size = l->size,
                        .cls = res->cls, .image = (uint32_t)r->ds.list_index[item->index], .batch = sopt->batch};
    PcInsDelContext ctx;
    int want_metrics = cfg->insertion || cfg->deletion;
    if (want_metrics && pc_insdel_context_init(r->be, &r->net, item->x, &r->insdel, &ctx, &err)) {
        snprintf(res->status, sizeof res->status, "metrics: %.480s", err.msg);
        pc_explanation_free(&e);
        return;
    }
    const char *nan_ids[MAX_METHODS];
    int n_nan = 0;
    for (int m = 0; m < r->n_methods; m++) {
        float *dst = res->maps + (size_t)m * ss;
        int rc = compute_map(r, &e, m, &mctx, dst, &err);
        if (rc < 0) {
            snprintf(res->status, sizeof res->status, "%.96s: %.380s", r->ids[m], err.msg);
            break;
        }
        if (rc > 0) {
            // as torchcam: a constant map min-max normalises to NaN; the map is stored as it is,
            // its curves stay NaN, the status names it and the other methods go on
            nan_ids[n_nan++] = r->ids[m];
            continue;
        }
        if (item->has_mask) pc_localise(dst, item->mask, (int)ss, &res->energy[m], &res->pointing[m]);
        if (!want_metrics) continue;
        if (pc_insdel_context_eval(&ctx, r->bn_curves ? r->bn_curves : r->bn, dst, l->size, l->size, res->cls,
                                   cfg->insertion ? res->ins_scores + (size_t)m * l->steps : NULL,
                                   cfg->insertion ? &res->ins_auc[m] : NULL,
                                   cfg->deletion ? res->del_scores + (size_t)m * l->steps : NULL,
                                   cfg->deletion ? &res->del_auc[m] : NULL, NULL, &err)) {
            // keep the image but mark it: its table row would be incomplete
            snprintf(res->status, sizeof res->status, "metrics (%.96s): %.380s", r->ids[m], err.msg);
            break;
        }
    }
    if (want_metrics) pc_insdel_context_free(&ctx);
    // every method's NaN map named (layout.h); a method or metric that failed wins: the image is skipped
    if (n_nan && !strcmp(res->status, "ok")) pc_status_nan_maps(res->status, sizeof res->status, nan_ids, n_nan);
    // sensitivity-max unless a method or metric failed (a NaN map goes on: its Sens is NaN)
    if (r->rob.sensitivity && pc_status_usable(res->status) && image_sensitivity(r, &e, &mctx, sopt, res, &err))
        snprintf(res->status, sizeof res->status, "sensitivity: %.480s", err.msg);
    if (r->any_polycam) pc_explanation_free(&e);
}

static int map_has_nan(const float *map, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (isnan(map[i])) return 1;
    return 0;
}

static void write_overlays(const PcConfig *cfg, Run *r, const PcPrefetchItem *item, const PcImageResult *res,
                           PcProgress *prog) {
    const size_t ss = (size_t)cfg->size * cfg->size;
    size_t n = strlen(cfg->output) + 16;
    char *dir = xmalloc(n);
    snprintf(dir, n, "%s_overlays", cfg->output);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        char msg[1200];
        snprintf(msg, sizeof msg, "warning: %s: cannot create (%s); no overlays", dir, strerror(errno));
        pc_progress_note(prog, msg);
        free(dir);
        return;
    }
    // "sub/a.jpg" -> "sub_a"
    char stem[512];
    snprintf(stem, sizeof stem, "%s", r->ds.names[item->index]);
    // the extension of the file name, not a dot of a folder ("v1.2/img" keeps its name)
    char *base = strrchr(stem, '/');
    base = base ? base + 1 : stem;
    char *dot = strrchr(base, '.');
    if (dot && dot != base) *dot = 0;
    for (char *p = stem; *p; p++)
        if (*p == '/') *p = '_';
    for (int m = 0; m < r->n_methods; m++) {
        if (map_has_nan(res->maps + (size_t)m * ss, ss)) continue;   // a NaN map (status says so): no overlay
        size_t pn = strlen(dir) + strlen(stem) + strlen(r->ids[m]) + 8;
        char *path = xmalloc(pn);
        snprintf(path, pn, "%s/%s_%s.png", dir, stem, r->ids[m]);
        PcError err;
        if (pc_overlay_write_png(path, item->x, res->maps + (size_t)m * ss, cfg->size, &err)) {
            char msg[1200];
            snprintf(msg, sizeof msg, "warning: overlay: %s", err.msg);
            pc_progress_note(prog, msg);
            free(path);
            break;
        }
        free(path);
    }
    free(dir);
}

// ---- tables -----------------------------------------------------------------------------------

int pc_print_table(const char *h5_path, PcError *err) {
    PcTable t;
    if (pc_table_from_file(h5_path, &t, err)) return -1;
    char nan[96] = "";
    if (t.n_nan_map)
        snprintf(nan, sizeof nan, " (%d with a NaN map of some method, left out of those rows)", t.n_nan_map);
    char running[96] = " (run not finished)";
    if (t.n_journal)
        snprintf(running, sizeof running, " (run not finished; %d of the done images read from its journal)", t.n_journal);
    printf("\n%s: %d images, %d done, %d ok%s%s\n\n", h5_path, t.n_images, t.n_done, t.n_ok, nan,
           t.complete ? "" : running);
    pc_table_print_markdown(stdout, &t);
    errno = 0;
    int rc = fflush(stdout) != 0 || ferror(stdout) ? -1 : 0;   // often a file: a full disk is an error
    if (rc) pc_fail(err, "standard output: cannot write (%s)", strerror(errno ? errno : EIO));
    if (rc == 0 && t.complete) {   // a running file's numbers change: no CSV that would go stale beside it
        char *csv = pc_table_csv_path(h5_path);
        rc = pc_table_write_csv(csv, &t, err);
        if (rc == 0) fprintf(stderr, "table written to %s\n", csv);
        free(csv);
    }
    pc_table_free(&t);
    return rc;
}

// ---- the run ----------------------------------------------------------------------------------

// The configuration text (malloc'd, taken over) followed by an [environment] section with the
// backend switches that are on ("PC_NO_DIRECT_CONV = 1", ...: they can change the results' last
// bits, so they belong to the key; their own section, so a mismatch names it).
static char *config_with_switches(char *text, const PcBackendOptions *bopt) {
    char sw[256] = "\n[environment]\n";
    const size_t head = strlen(sw);
    pc_backend_options_key(bopt, sw + head, sizeof sw - head);   // the header even when none is on
    size_t a = strlen(text), b = strlen(sw);
    char *out = xmalloc(a + b + 1);
    memcpy(out, text, a);
    memcpy(out + a, sw, b + 1);
    free(text);
    return out;
}

// Everything that can fail for the whole run before the output is touched: list, class names,
// model and weights, labels against the classifier, method ids, backend (not for --check).
static int set_up(const PcConfig *cfg, const PcRunOptions *opt, Run *r, PcError *err) {
    PcDatasetSpec data = {.list = cfg->list, .root = cfg->root, .labels = cfg->labels, .masks = cfg->masks,
                          .offset = cfg->offset,
                          .limit = cfg->limit, .shard_index = cfg->shard_index, .shard_count = cfg->shard_count};
    if (pc_dataset_load(&data, stderr, &r->ds, err)) return -1;
    if (cfg->classes_file) {
        int n = pc_read_class_names(cfg->classes_file, &r->class_names, err);
        if (n < 0) return -1;
        r->n_class_names = n;
    }
    if (load_model(cfg, r, err)) return -1;
    // class = label with a label the classifier does not have would skip every such image: refuse
    // before any work instead
    for (int i = 0; cfg->class_source == PC_CLASS_LABEL && i < r->ds.n; i++) {
        if (r->ds.labels[i] >= r->net.n_classes)
            return pc_fail(err, "labels %s: %s has class %d, but the model has %d classes ([saliency] class = label)",
                           cfg->labels, r->ds.names[i], r->ds.labels[i], r->net.n_classes);
    }
    if (cfg->class_source == PC_CLASS_LABEL && r->ds.n_labelled < r->ds.n)
        fprintf(stderr, "warning: [saliency] class = label, but %d of %d images have no label%s%s; they explain the "
                "predicted class\n", r->ds.n - r->ds.n_labelled, r->ds.n, cfg->labels ? " in " : " (no [data] labels)",
                cfg->labels ? cfg->labels : "");
    r->n_methods = build_methods(cfg, &r->tg, r->others, r->n_others, r->refs, r->ids);
    r->layout = run_layout(cfg, r);
    if (pc_precision_is_8bit(cfg->precision)) {   // [precision] keep against this net, also for --check
        PcPrecisionSettings ps;
        int bad = pc_precision_settings_from_config(cfg, &ps, err) || pc_quant_plan(&r->net, cfg->precision, &ps, &r->quant, err);
        pc_quant_plan_free(&r->quant);
        if (bad) return -1;
    }
    if (opt->check_only) return pc_dataset_check_files(&r->ds, cfg->root, stderr, err);   // no device, no output
    r->bopt = (PcBackendOptions){.precision = cfg->precision, .threads = cfg->threads, .device = 0};
    pc_backend_options_from_env(&r->bopt);   // the one place the environment reaches the backends
    r->be = pc_backend_create(cfg->device, &r->bopt, err);
    if (!r->be) return -1;
    // device = cpu with a reduced precision is refused by config.c; auto may land on the CPU (which
    // emulates the 8-bit precisions)
    if (cfg->precision != PC_PREC_FP32 && !pc_precision_is_8bit(cfg->precision) && !strcmp(r->be->name, "cpu"))
        fprintf(stderr, "warning: no CUDA device: the CPU computes in fp32; [run] precision = %s applies to CUDA "
                "only (the file records it)\n", pc_config_get(cfg, "run", "precision"));
    if (pc_precision_is_8bit(cfg->precision) && !strcmp(r->be->name, "cpu") && !strcmp(cfg->device, "auto"))
        fprintf(stderr, "warning: no CUDA device: [run] precision = %s runs as the CPU's emulation of the 8-bit "
                "convolutions (exact in value, for checking; slower than fp32)\n", pc_config_get(cfg, "run", "precision"));
    return 0;
}

// ---- the 8-bit precisions ---------------------------------------------------------------------

typedef struct {
    const PcConfig *cfg;
    Run *r;
    const PcSaliencyOptions *sopt;
} GuardUser;

// process_image on backend be / net bn (the guard's fp32 reference, or the run's own), without
// sensitivity-max: the guard compares the curves. The run's own keeps its curves' net (apply =
// maps): the guard measures the drift the run will have; the reference computes all in fp32.
static void guard_image(void *user, PcBackend *be, PcBackendNet *bn, const PcPrefetchItem *item, PcImageResult *res) {
    GuardUser *u = user;
    Run *r = u->r;
    PcBackend *be0 = r->be;
    PcBackendNet *bn0 = r->bn, *bc0 = r->bn_curves;
    const int sens = r->rob.sensitivity;
    if (be != be0) r->bn_curves = NULL;
    r->be = be, r->bn = bn, r->rob.sensitivity = 0;
    process_image(u->cfg, r, item, u->sopt, res);
    r->be = be0, r->bn = bn0, r->bn_curves = bc0, r->rob.sensitivity = sens;
}

static int prepare_compute(const PcConfig *cfg, Run *r, PcSaliencyOptions *sopt, PcError *err);

// fp8 / int8: the net prepared, its scales (stored or calibrated) set, then the accuracy guard,
// all before the output is opened: a guard that fails leaves nothing behind. The output's writer
// lock comes first: a second run on the same output is refused at once, not after its minutes of
// calibration and guard, and the stored scales cannot change while this run reads them.
static int quant_prepare(const PcConfig *cfg, const PcRunOptions *opt, Run *r, PcSaliencyOptions *sopt, PcError *err) {
    PcPrecisionSettings ps;
    if (pc_precision_settings_from_config(cfg, &ps, err) || pc_store_lock(&r->lock, cfg->output, err) ||
        prepare_compute(cfg, r, sopt, err))
        return -1;
    char *key = config_with_switches(pc_config_canonical(cfg, 1), &r->bopt);
    GuardUser u = {cfg, r, sopt};
    PcQuantEnv env = {.cfg = cfg, .ps = &ps, .ds = &r->ds, .net = &r->net, .be = r->be, .bn = r->bn,
                      .bn_class = r->bn_curves ? r->bn_curves : r->bn, .bopt = &r->bopt,
                      .max_batch = sopt->batch > r->insdel.batch ? sopt->batch : r->insdel.batch,
                      .layout = &r->layout, .image = guard_image, .user = &u, .mode = opt->mode, .key = key};
    int finished = 0, rc = pc_quant_setup(&env, &r->quant, &finished, err);
    r->quantised = rc == 0;
    if (rc == 0 && !finished) rc = pc_quant_guard(&env, &r->quant, err);
    free(key);
    return rc;
}

// --force: the PNG overlays of the previous run (regular files ending in .png with the PNG
// signature, in <file>_overlays/) go with its results; anything else there stays.
static void remove_old_overlays(const char *output) {
    size_t n = strlen(output) + 16;
    char *dir = xmalloc(n);
    snprintf(dir, n, "%s_overlays", output);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".png")) continue;
        char *p = pc_join_path(dir, e->d_name);
        struct stat sb;
        unsigned char sig[8] = {0};
        FILE *f = lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) ? fopen(p, "rb") : NULL;
        if (f && fread(sig, 1, 8, f) == 8 && !memcmp(sig, "\x89PNG\r\n\x1a\n", 8)) unlink(p);
        if (f) fclose(f);
        free(p);
    }
    if (d) closedir(d);
    rmdir(dir);     // only when nothing else is left in it
    free(dir);
}

// Opens (or resumes) the output. The fingerprint holds the weights' content (a checksum of the
// file), not only their path.
// The configuration text followed by the 8-bit scales' [quant] section (quant_run.h) in fp8 / int8.
static char *config_with_quant(char *text, const Run *r) {
    if (!r->quantised) return text;
    char *q = pc_quant_key_text(&r->quant);
    char *out = xmalloc(strlen(text) + strlen(q) + 1);
    strcpy(out, text);
    strcat(out, q);
    free(text);
    free(q);
    return out;
}

static int open_output(const PcConfig *cfg, const PcRunOptions *opt, Run *r, PcError *err) {
    uint64_t wsum;
    if (pc_hash_file(cfg->weights, &wsum, err)) return -1;
    char weights[32], libs[1024], device[256];
    snprintf(weights, sizeof weights, "%016llx", (unsigned long long)wsum);
    pc_library_versions(opt->inih_version, libs, sizeof libs);
    snprintf(device, sizeof device, "%s: %s", r->be->name, r->be->device_name);
    PcStoreLayout layout = run_layout(cfg, r);
    PcStoreImages images = {.names = r->ds.names, .labels = r->ds.labels, .list_index = r->ds.list_index,
                            .n_class_names = r->n_class_names, .class_names = r->class_names};
    char *config_all = config_with_quant(config_with_switches(pc_config_canonical(cfg, 0), &r->bopt), r);
    char *config_key = config_with_quant(config_with_switches(pc_config_canonical(cfg, 1), &r->bopt), r);
    // run-level datasets of the methods (RISE's masks): the same in every shard and on a resume
    PcRunData *run_data = xcalloc(MAX_OTHERS * PC_METHOD_RUN_DATA, sizeof *run_data);
    int n_run_data = 0;
    for (int i = 0; i < r->n_others; i++)
        if (r->others[i]->run_data) n_run_data += r->others[i]->run_data(&r->mset, cfg->size, run_data + n_run_data);
    PcStoreMeta meta = {.config = config_all, .config_key = config_key, .config_source = cfg->source,
                        .version = PC_VERSION, .git_commit = opt->git_commit, .libraries = libs, .device = device,
                        .weights_checksum = weights, .shard_index = cfg->shard_index, .shard_count = cfg->shard_count,
                        .n_run_data = n_run_data, .run_data = run_data,
                        .write_extra = r->quantised ? pc_quant_write_h5 : NULL, .extra = &r->quant};
    int rc = pc_store_open_held(&r->store, &r->lock, cfg->output, &layout, &images, &meta, opt->mode, err);
    pc_run_data_free(run_data, n_run_data);
    free(config_all);
    free(config_key);
    if (rc == 0 && opt->mode == PC_STORE_FORCE) remove_old_overlays(cfg->output);
    return rc;
}

// Batch sizes (auto = the backend's preference), the prepared network(s) and the saliency options.
// apply = maps: the 8-bit net sized for the maps' batch, the unquantised one (class, curves) for the
// curves'; each halves its own batch when a pass runs out of memory.
static int prepare_compute(const PcConfig *cfg, Run *r, PcSaliencyOptions *sopt, PcError *err) {
    const int auto_batch = r->be->preferred_batch > 0 ? r->be->preferred_batch : 32;
    const int sal_batch = cfg->saliency_batch > 0 ? cfg->saliency_batch : auto_batch;
    r->insdel = cfg->insdel;
    if (r->insdel.batch <= 0) r->insdel.batch = auto_batch;
    PcPrecisionSettings ps;
    const int maps_only = pc_precision_is_8bit(cfg->precision) && !pc_precision_settings_from_config(cfg, &ps, err) &&
                          ps.apply_maps;
    int max_batch = sal_batch > r->insdel.batch || maps_only ? sal_batch : r->insdel.batch;
    r->bn = r->be->net_prepare(r->be, &r->net, max_batch, err);
    if (!r->bn) return -1;
    if (maps_only && !(r->bn_curves = r->be->net_prepare(r->be, &r->net, r->insdel.batch, err))) return -1;
    pc_saliency_default_options(sopt);
    sopt->batch = sal_batch;
    sopt->lnorm = cfg->lnorm;
    sopt->norm = cfg->norm;
    sopt->want_levels = cfg->ablate_levels;
    sopt->want_cams = cfg->ablate_cams;
    sopt->want_no_lnorm = cfg->ablate_no_lnorm;
    return 0;
}

// The run's cost per image in forward-pass equivalents (cost.h), and on the CPU its projected time
// from one timed forward batch: a paper-sized run on the CPU takes days, and the user should know
// that before it starts. On a GPU one cold batch says little (plans, autotuning), so no projection.
static void announce_cost(const PcConfig *cfg, Run *r, int n_left) {
    PcRunCost c;
    PcSanitySettings ss;
    PcError e;
    if (pc_sanity_settings_from_config(cfg, &ss, &e)) ss.enabled = 0;   // checked at load
    pc_run_cost(cfg, &r->net, &r->tg, r->others, r->n_others, &r->mset, r->n_methods, &r->rob, &ss, &c);
    fprintf(stderr, "cost: about %.0f forward passes per image (Poly-CAM %.0f, other methods %.0f, curves %.0f",
            c.total, c.polycam, c.others, c.curves);
    if (r->rob.sensitivity) fprintf(stderr, ", sensitivity-max %.0f", c.sensitivity);
    fprintf(stderr, ")");
    // the sanity check explains its first images once more at every step, after the run
    const int n_sanity = ss.enabled ? (ss.images < r->ds.n ? ss.images : r->ds.n) : 0;
    if (n_sanity) fprintf(stderr, "; sanity check about %.0f", c.sanity * n_sanity);
    if (!r->bn || strcmp(r->be->name, "cpu") || n_left <= 0) {
        fprintf(stderr, "\n");
        return;
    }
    PcBackend *be = r->be;
    const int n = r->insdel.batch < 8 ? r->insdel.batch : 8;
    const double passes = c.total * n_left + c.sanity * n_sanity;
    const size_t bytes = (size_t)n * 3 * cfg->size * cfg->size * sizeof(float);
    float *d_x = be->alloc(be, bytes), *d_logits = be->alloc(be, (size_t)n * r->net.n_classes * sizeof(float));
    double t0 = pc_now();
    int rc = d_x && d_logits ? be->forward(be, r->bn, d_x, n, d_logits, 0, NULL, NULL, &e) : -1;
    be->synchronize(be);
    double per_pass = (pc_now() - t0) / n;
    if (d_x) be->release(be, d_x);
    if (d_logits) be->release(be, d_logits);
    char when[64];
    pc_format_duration(per_pass * passes, when, sizeof when);
    if (rc == 0) fprintf(stderr, "; on this CPU %.4f s per pass: projected %s for %d image%s%s\n",
                         per_pass, when, n_left, n_left == 1 ? "" : "s", n_sanity ? " and the sanity check" : "");
    else fprintf(stderr, "\n");
}

// Streams the images the output lacks through the engine and stores each one's results. Returns 0,
// -1 on error, or 1 when a stop signal (stop.h) ended it between two images.
static int compute(const PcConfig *cfg, Run *r, const PcSaliencyOptions *sopt, PcError *err) {
    PcStore *st = r->store;
    int *pending = xmalloc((size_t)r->ds.n * sizeof(int)), n_pending = 0, rc = 0;
    for (int i = 0; i < r->ds.n; i++)
        if (!pc_store_is_done(st, i)) pending[n_pending++] = i;
    PcImageResult res;
    pc_result_init(&res, pc_store_layout(st));
    PcProgress prog;
    pc_progress_init(&prog, stderr, r->ds.n, pc_store_n_done(st));
    PcPrefetcher *pf = pc_prefetch_start(&r->ds, pending, n_pending, cfg->resize, cfg->size, cfg->decoders,
                                         2 * cfg->decoders + 2);
    PcPrefetchItem *item;
    while (rc == 0 && (item = pc_prefetch_next(pf)) != NULL) {
        int sig = pc_stop_requested();     // SIGTERM / SIGINT / SIGUSR1: stop between images (stop.h)
        if (sig) {
            pc_prefetch_release(pf, item);
            pc_progress_stop(&prog);
            pc_fail(err, "interrupted by %s; rerun the same command to continue (%d/%d images done)",
                    pc_stop_signal_name(sig), pc_store_n_done(st), r->ds.n);
            rc = 1;
            break;
        }
        process_image(cfg, r, item, sopt, &res);
        int ok = pc_status_usable(res.status);   // a NaN map of some methods: not skipped
        if (ok && item->index < cfg->overlays) write_overlays(cfg, r, item, &res, &prog);
        pc_prefetch_release(pf, item);
        rc = pc_store_write(st, &res, err);
        if (rc == 0) pc_progress_step(&prog, ok, r->ds.names[res.index]);
    }
    pc_prefetch_stop(pf);
    if (rc == 0) pc_progress_finish(&prog);
    pc_result_free(&res);
    free(pending);
    return rc;
}

// The images of the whole run (also those stored before an interruption) with a status other
// than "ok": skipped ones (usable = 0), or those with NaN maps of some methods (usable = 1). Count.
static int list_status(const Run *r, int usable, const char *title) {
    int k = 0;
    for (int i = 0; i < r->ds.n; i++) {
        const char *status = pc_store_status(r->store, i);
        if (!status || !strcmp(status, "ok") || pc_status_usable(status) != usable) continue;
        if (k == 0) fprintf(stderr, "%s\n", title);
        if (k < 20) fprintf(stderr, "  %s: %s\n", r->ds.names[i], status);
        k++;
    }
    if (k > 20) fprintf(stderr, "  ... and %d more\n", k - 20);
    return k;
}

// The skipped images and the NaN maps of the whole run; an error when no image at all could be used.
static int report_skipped(const PcConfig *cfg, const Run *r, PcError *err) {
    int n_nan = list_status(r, 1, "NaN maps (recorded in /images/status; the image leaves only those methods' rows):");
    if (n_nan) fprintf(stderr, "%d of %d images with a NaN map\n", n_nan, r->ds.n);
    int n_skipped = list_status(r, 0, "skipped images (recorded in /images/status):");
    if (n_skipped) fprintf(stderr, "skipped %d of %d images\n", n_skipped, r->ds.n);
    if (n_skipped == r->ds.n)
        return pc_fail(err, "%s: no image could be read (all %d skipped, see above); no table", cfg->output, r->ds.n);
    return 0;
}

// [sanity] enabled (--sanity): the cascading-randomisation check on the finished output. It
// overwrites the net's weights, so it comes last.
static int run_sanity(const PcConfig *cfg, Run *r, PcSaliencyOptions *sopt, PcError *err) {
    PcSanitySettings ss;
    if (pc_sanity_settings_from_config(cfg, &ss, err)) return -1;
    if (!ss.enabled) return 0;
    if (!r->bn && prepare_compute(cfg, r, sopt, err)) return -1;   // the methods' layers: load_model
    PcSanityEnv env = {.be = r->be, .bn = &r->bn, .max_batch = sopt->batch > r->insdel.batch ? sopt->batch : r->insdel.batch,
                       .net = &r->net, .tg = &r->tg, .sopt = sopt, .mset = &r->mset, .ds = &r->ds,
                       .resize = cfg->resize, .size = cfg->size, .maps = cfg->maps};
    return pc_sanity_run(&env, &ss, cfg->output, err);
}

int pc_run(const PcConfig *cfg, const PcRunOptions *opt, PcError *err) {
    Run *r = xcalloc(1, sizeof *r);
    r->lock.fd = -1;
    PcSaliencyOptions sopt;
    int rc = set_up(cfg, opt, r, err);
    if (rc == 0 && opt->check_only) {
        fprintf(stderr, "%s: ok: %d images (list entries %d..%d, shard %d/%d), %s, %d target layers, %d method ids\n",
                cfg->path, r->ds.n, r->ds.list_index[0], r->ds.list_index[r->ds.n - 1], cfg->shard_index,
                cfg->shard_count, r->net.spec.arch, r->tg.n_targets, r->n_methods);
        announce_cost(cfg, r, r->ds.n);
        run_free(r);
        free(r);
        return 0;
    }
    if (rc == 0 && pc_precision_is_8bit(cfg->precision)) rc = quant_prepare(cfg, opt, r, &sopt, err);
    if (rc == 0) rc = open_output(cfg, opt, r, err);
    if (rc == 0 && pc_store_complete(r->store)) {
        fprintf(stderr, "%s is complete (%d images, same configuration): nothing to compute; --force recomputes it\n",
                cfg->output, pc_store_n_done(r->store));
        rc = pc_print_table(cfg->output, err);
    } else if (rc == 0) {
        fprintf(stderr, "polycam-eval %s: %d images, %s (%d target layers), %d method ids, device %s: %s\n", PC_VERSION,
                r->ds.n, r->net.spec.arch, r->tg.n_targets, r->n_methods, r->be->name, r->be->device_name);
        rc = r->bn ? 0 : prepare_compute(cfg, r, &sopt, err);
        if (rc == 0) announce_cost(cfg, r, r->ds.n - pc_store_n_done(r->store));
        // "resuming" last: the images start right after it (cli_interrupt signals on it)
        if (rc == 0 && (pc_store_n_replayed(r->store) || pc_store_dropped_bytes(r->store)))
            fprintf(stderr, "resuming %s: %d images already done (rebuilt from %s%s)\n", cfg->output,
                    pc_store_n_done(r->store), pc_store_journal_path(r->store),
                    pc_store_dropped_bytes(r->store) ? ", torn last record dropped" : "");
        if (rc == 0) rc = compute(cfg, r, &sopt, err);
        if (rc == 0) rc = pc_store_finish(r->store, err) || report_skipped(cfg, r, err) ? -1 : 0;
        if (rc == 0) fprintf(stderr, "results written to %s\n", cfg->output);
        if (rc == 0) rc = pc_print_table(cfg->output, err);
    }
    // the sanity check randomises the weights, which the calibrated scales do not fit: unquantised
    if (rc == 0 && r->quantised && r->bn) rc = r->be->net_set_quant(r->be, r->bn, NULL, err);
    if (r->bn_curves) r->be->net_release(r->be, r->bn_curves);   // the sanity check runs on bn alone
    r->bn_curves = NULL;
    if (rc == 0 && !opt->check_only) rc = run_sanity(cfg, r, &sopt, err);
    run_free(r);
    free(r);
    return rc;
}
