// run.c: the run loop of polycam-eval (see run.h). Set-up order puts every check that can fail
// for a whole run (data, weights, layers, device, output) before the first image; then decoded
// images stream from the decode pool through pc_explain and the insertion/deletion context of
// insdel.h, and each image's results go to the store as one unit.
#define _GNU_SOURCE
#include "run.h"
#include "versions.h"

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
#include "classify.h"
#include "config_model.h"
#include "cost.h"
#include "describe.h"
#include "image_step.h"
#include "device.h"
#include "insdel.h"
#include "localisation.h"
#include "metric_store.h"
#include "overlay.h"
#include "progress.h"
#include "quant_setup.h"
#include "refclass.h"
#include "run_data.h"
#include "sanity.h"
#include "saliency.h"
#include "sensitivity.h"
#include "stop.h"
#include "journal.h"
#include "table.h"
#include "weights.h"

#define MAX_OTHERS 32
#define MAX_METHODS (PC_POLYCAM_MAX_IDS + MAX_OTHERS)

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
    PcTargets cam_tg;                   // the isolated CAMs' layers ([saliency] cam_layers, else tg)
    int n_others;                       // registry methods outside the Poly-CAM family
    const PcMethodDesc *others[MAX_OTHERS];
    char other_ids[MAX_OTHERS][PC_METHOD_ID_LEN];   // their ids as written ("ext:NAME" share one entry)
    void *other_state[MAX_OTHERS];      // their per-run state (PcMethodDesc open), NULL for most
    PcMethodSettings mset;              // their settings, layers resolved
    PcRobustness rob;                   // [robustness]: sensitivity-max
    PcPerturbOptions pert;              // [metrics] road, flip, region, adcc (metric_perturb.h)
    int n_methods;                      // the stored method ids (methods), in the table's order
    char ids[MAX_METHODS][PC_METHOD_ID_LEN];
    const PcMethodDesc *desc[MAX_METHODS];  // the registry row of each
    PcPolycamRef pcam[MAX_METHODS];     // its part of the Poly-CAM explanation (the family's rows)
    void *state[MAX_METHODS];           // its per-run state (other_state), NULL for most
    PcRunMethods methods;
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
    PcRefClasses ref;           // [data] reference_classes: per image (n_found 0 = none stored)
} Run;

// The stored method ids: the Poly-CAM family's (polycam_ids.h: the variants' maps, then per variant
// its levels, isolated CAMs and no-LNorm map), then the other registry methods in the order
// [saliency] methods names them; each with its registry row.
static void build_methods(const PcConfig *cfg, Run *r) {
    int n = pc_polycam_ids(cfg->variants, cfg->ablate_levels, cfg->ablate_cams, cfg->ablate_no_lnorm, &r->tg,
                           &r->cam_tg, r->pcam, r->ids);
    for (int m = 0; m < n; m++) r->desc[m] = pc_method_find(pc_variant_ids[r->pcam[m].variant]);
    for (int i = 0; i < r->n_others; i++, n++) {
        r->desc[n] = r->others[i];
        r->state[n] = r->other_state[i];
        snprintf(r->ids[n], PC_METHOD_ID_LEN, "%s", r->other_ids[i]);
    }
    r->n_methods = n;
    r->methods = (PcRunMethods){.n = n, .ids = r->ids, .desc = r->desc, .pcam = r->pcam, .state = r->state};
    for (int m = 0; m < n; m++) r->methods.any_polycam |= r->desc[m]->family == PC_FAMILY_POLYCAM;
}

// The network's graph (shapes, no weights yet), its target layers, the isolated CAMs' layers and
// the other methods with their settings and layers: all that the cost of a run needs.
static int build_model(const PcConfig *cfg, Run *r, PcError *err) {
    PcArchSpec spec;
    if (pc_config_arch_spec(cfg, r->n_class_names, &spec, err)) return -1;
    if (pc_net_create(&spec, &r->net, err)) return -1;
    r->net_created = 1;
    PcError e;
    char layers[PC_MAX_TARGETS][64];
    memcpy(layers, cfg->layers, sizeof layers);
    if (pc_targets_resolve(&r->net, cfg->n_layers, layers, &r->tg, &e))
        return pc_fail(err, "[model] layers: %s", e.msg);
    r->cam_tg = r->tg;
    memcpy(layers, cfg->cam_layers, sizeof layers);
    if (cfg->n_cam_layers && pc_targets_resolve(&r->net, cfg->n_cam_layers, layers, &r->cam_tg, &e))
        return pc_fail(err, "[saliency] cam_layers: %s", e.msg);
    // the other methods: ids, settings, their layers checked against this model
    r->n_others = pc_method_config_ids_named(cfg, r->others, r->other_ids, MAX_OTHERS, err);
    if (r->n_others < 0) return -1;
    r->mset = cfg->methods;   // layers resolved below, against this net
    // per-run states (ext:NAME: its file, checked against the images)
    if (pc_method_states_open(&r->mset, r->others, r->other_ids, r->n_others, &r->ds, r->other_state, err)) return -1;
    r->rob = cfg->robustness;
    r->pert = cfg->perturb;
    // the layers of the sanity check's registry methods too: a bad [cam] layer must stop the run
    // before its first image, not after the last one
    const PcSanitySettings *ss = &cfg->sanity;
    int sanity_registry = 0;
    for (int m = 0; ss->enabled && m < ss->n_methods; m++) {
        const PcMethodDesc *d = pc_method_find(ss->ids[m]);
        sanity_registry |= d && d->native;
    }
    if ((r->n_others > 0 || sanity_registry) && pc_method_settings_resolve(&r->mset, &r->net, err)) return -1;
    build_methods(cfg, r);
    return 0;
}

// The weights into the graph of build_model.
static int load_weights(const PcConfig *cfg, Run *r, PcError *err) {
    if (!cfg->weights)
        return pc_fail(err, "%s: [model] weights is not set (add it, or --set model.weights=FILE)", cfg->path);
    PcError e;
    if (pc_weights_open(cfg->weights, &r->sd, &e))
        return pc_fail(err, "model weights: %s%s", e.msg,
                       access(cfg->weights, F_OK) ? "; set [model] weights to the checkpoint file, or --set "
                                                    "model.weights=FILE (README.md: Reproducing the paper)"
                                                  : "");
    r->sd_open = 1;
    if (pc_net_load(&r->net, &r->sd, &e))
        return pc_fail(err, "model weights %s do not fit arch %s: %s", cfg->weights, r->net.spec.arch, e.msg);
    pc_state_dict_free(&r->sd);     // the net holds its own (folded) copy
    r->sd_open = 0;
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
    pc_method_states_close(r->others, r->n_others, r->other_state);
    pc_refclasses_free(&r->ref);
    if (r->sd_open) pc_state_dict_free(&r->sd);
    if (r->net_created) pc_net_free(&r->net);
    for (int i = 0; i < r->n_class_names; i++) free(r->class_names[i]);
    free(r->class_names);
    pc_dataset_free(&r->ds);
}

// The shape of the stored results.
static PcStoreLayout run_layout(const PcConfig *cfg, Run *r) {
    PcStoreLayout l = {.n_images = r->ds.n, .size = cfg->size, .steps = cfg->insdel.steps,
                       .n_methods = r->n_methods, .method_ids = r->ids, .maps = cfg->maps,
                       .insertion = cfg->insertion, .deletion = cfg->deletion,
                       .sensitivity = r->rob.sensitivity, .localisation = r->ds.mask_paths != NULL,
                       .sensitivity_avg = r->rob.sensitivity, .loc_more = r->ds.mask_paths != NULL,
                       .pointing_tol = cfg->pointing_tol};
    l.n_extra = pc_metric_sets(&r->pert, cfg->size, l.extra);
    return l;
}

// ---- one image --------------------------------------------------------------------------------

// What every image of the run is computed with (image_step.h).
static PcStepEnv step_env(const PcConfig *cfg, const Run *r, const PcSaliencyOptions *sopt) {
    return (PcStepEnv){.net = &r->net, .tg = &r->tg, .sopt = sopt, .mset = &r->mset, .methods = &r->methods,
                       .ds = &r->ds, .class_label = cfg->class_source == PC_CLASS_LABEL, .insertion = cfg->insertion,
                       .deletion = cfg->deletion, .insdel = &r->insdel, .pert = &r->pert, .rob = &r->rob,
                       .layout = &r->layout};
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
    pc_refagreement_print_file(stdout, h5_path);   // [data] reference_classes: the class agreement
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

static void announce_cost(const PcConfig *cfg, Run *r, int n_left);

// The descriptions of the run's methods, curves and inputs (describe.h), into d.
static void describe_run(const PcConfig *cfg, const Run *r, PcDescription *d) {
    pc_describe_init(d, cfg, r->n_methods);
    PcDescribeLayers lists = {
        .names = {r->tg.names, r->cam_tg.names, r->mset.cam.names, r->mset.layercam.names, r->mset.zoomcam.names},
        .n = {r->tg.n_targets, r->cam_tg.n_targets, r->mset.cam.n, r->mset.layercam.n, r->mset.zoomcam.n}};
    pc_describe_methods(d, (char (*)[PC_METHOD_ID_LEN])r->ids, cfg, &lists);
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
    if (build_model(cfg, r, err)) return -1;
    if (opt->check_only) announce_cost(cfg, r, r->ds.n);   // first: what the run will take, weights or not
    if (load_weights(cfg, r, err)) return -1;
    if (cfg->reference_classes &&
        pc_refclasses_load_run(cfg->reference_classes, r->ds.names, r->ds.n, stderr, &r->ref, err))
        return -1;
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
    r->layout = run_layout(cfg, r);
    if (pc_precision_is_8bit(cfg->precision)) {   // [precision] keep against this net, also for --check
        int bad = pc_quant_plan(&r->net, cfg->precision, &cfg->precision_settings, &r->quant, err);
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
    PcStepEnv env;
    const Run *r;
} GuardUser;

// One image on backend be / net bn (the guard's fp32 reference, or the run's own), without
// sensitivity-max: the guard compares the curves. The run's own keeps its curves' net (apply =
// maps): the guard measures the drift the run will have; the reference computes all in fp32.
static void guard_image(void *user, PcBackend *be, PcBackendNet *bn, const PcPrefetchItem *item, PcImageResult *res) {
    const GuardUser *u = user;
    const PcStepCompute c = {.be = be, .bn = bn, .bn_curves = be == u->r->be ? u->r->bn_curves : NULL};
    pc_image_step(&u->env, &c, item, res);
}

static int prepare_compute(const PcConfig *cfg, Run *r, PcSaliencyOptions *sopt, PcError *err);

// fp8 / int8: the net prepared, its scales (stored or calibrated) set, then the accuracy guard,
// all before the output is opened: a guard that fails leaves nothing behind. The output's writer
// lock comes first: a second run on the same output is refused at once, not after its minutes of
// calibration and guard, and the stored scales cannot change while this run reads them.
static int quant_prepare(const PcConfig *cfg, const PcRunOptions *opt, Run *r, PcSaliencyOptions *sopt, PcError *err) {
    const PcPrecisionSettings *ps = &cfg->precision_settings;
    if (pc_store_lock(&r->lock, cfg->output, err) || prepare_compute(cfg, r, sopt, err))
        return -1;
    char *key = config_with_switches(pc_config_canonical(cfg, 1), &r->bopt);
    GuardUser u = {step_env(cfg, r, sopt), r};
    PcQuantEnv env = {.list = {.list = cfg->list, .root = cfg->root, .offset = cfg->offset, .limit = cfg->limit},
                      .resize = cfg->resize, .size = cfg->size, .decoders = cfg->decoders, .output = cfg->output,
                      .device = cfg->device, .precision = cfg->precision, .ps = ps, .ds = &r->ds, .net = &r->net, .be = r->be, .bn = r->bn,
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
// The configuration text followed by the 8-bit scales' [quant] section (quant_plan.h) in fp8 / int8.
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
                            .n_class_names = r->n_class_names, .class_names = r->class_names,
                            .reference_classes = r->ref.n_found ? r->ref.cls : NULL, .reference_file = r->ref.path};
    PcDescription desc;
    describe_run(cfg, r, &desc);
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
                        .write_extra = r->quantised ? pc_quant_write_h5 : NULL, .extra = &r->quant,
                        .describe = &desc};
    int rc = pc_store_open_held(&r->store, &r->lock, cfg->output, &layout, &images, &meta, opt->mode, err);
    pc_describe_free(&desc);
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
    r->pert.batch = r->insdel.batch;   // the perturbation metrics' inputs per pass, as the curves'
    r->pert.seed = r->mset.seed;
    const int maps_only = pc_precision_is_8bit(cfg->precision) && cfg->precision_settings.apply_maps;
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
    sopt->cam_targets = &r->cam_tg;
    return 0;
}

// The run's cost per image in forward-pass equivalents (cost.h), and on the CPU its projected time
// from one timed forward batch: a paper-sized run on the CPU takes days, and the user should know
// that before it starts. On a GPU one cold batch says little (plans, autotuning), so no projection.
static void announce_cost(const PcConfig *cfg, Run *r, int n_left) {
    PcRunCost c;
    const PcSanitySettings *ss = &cfg->sanity;
    pc_run_cost(cfg, &r->net, &r->tg, cfg->ablate_cams ? &r->cam_tg : NULL, r->others, r->n_others, &r->mset,
                r->n_methods, &r->rob, ss, &c);
    fprintf(stderr, "cost: about %.0f forward passes per image (Poly-CAM %.0f, other methods %.0f, curves %.0f",
            c.total, c.polycam, c.others, c.curves);
    if (r->rob.sensitivity) fprintf(stderr, ", sensitivity-max %.0f", c.sensitivity);
    fprintf(stderr, ")");
    // the sanity check explains its first images once more at every step, after the run
    const int n_sanity = ss->enabled ? (ss->images < r->ds.n ? ss->images : r->ds.n) : 0;
    if (n_sanity) fprintf(stderr, "; sanity check about %.0f", c.sanity * n_sanity);
    char h100[512];   // --check: what the run would take on the GPU the project measured
    if (!r->bn && pc_h100_projection(&r->net, c.total * n_left + c.sanity * n_sanity, n_left, h100, sizeof h100))
        fprintf(stderr, "\n%s", h100);
    if (!r->bn || strcmp(r->be->name, "cpu") || n_left <= 0) {
        fprintf(stderr, "\n");
        return;
    }
    PcBackend *be = r->be;
    const int n = r->insdel.batch < 8 ? r->insdel.batch : 8;
    const double passes = c.total * n_left + c.sanity * n_sanity;
    const size_t bytes = (size_t)n * 3 * cfg->size * cfg->size * sizeof(float);
    float *d_x = be->alloc(be, bytes), *d_logits = be->alloc(be, (size_t)n * r->net.n_classes * sizeof(float));
    PcError e;
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
    const PcStepEnv env = step_env(cfg, r, sopt);
    const PcStepCompute c = {.be = r->be, .bn = r->bn, .bn_curves = r->bn_curves, .sensitivity = r->rob.sensitivity};
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
        pc_image_step(&env, &c, item, &res);
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
    int n_nan = list_status(r, 1, "NaN maps, or maps an external file lacks (recorded in /images/status; the image "
                                  "leaves only those methods' rows):");
    if (n_nan) fprintf(stderr, "%d of %d images with a NaN map (or none in an external file) of some method\n", n_nan,
                       r->ds.n);
    int n_skipped = list_status(r, 0, "skipped images (recorded in /images/status):");
    if (n_skipped) fprintf(stderr, "skipped %d of %d images\n", n_skipped, r->ds.n);
    if (n_skipped == r->ds.n)
        return pc_fail(err, "%s: no image could be read (all %d skipped, see above); no table", cfg->output, r->ds.n);
    return 0;
}

// [sanity] enabled (--sanity): the cascading-randomisation check on the finished output. It
// overwrites the net's weights, so it comes last.
static int run_sanity(const PcConfig *cfg, Run *r, PcSaliencyOptions *sopt, PcError *err) {
    const PcSanitySettings *ss = &cfg->sanity;
    if (!ss->enabled) return 0;
    if (!r->bn && prepare_compute(cfg, r, sopt, err)) return -1;   // the methods' layers: load_model
    PcSanityEnv env = {.be = r->be, .bn = &r->bn, .max_batch = sopt->batch > r->insdel.batch ? sopt->batch : r->insdel.batch,
                       .net = &r->net, .tg = &r->tg, .sopt = sopt, .mset = &r->mset, .ds = &r->ds,
                       .resize = cfg->resize, .size = cfg->size, .maps = cfg->maps};
    return pc_sanity_run(&env, ss, cfg->output, err);
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
