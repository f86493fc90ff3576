// method_fixture.c: the method-versus-fixture table (method_fixture.h).
#include "method_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "insdel.h"
#include "testutil.h"

#define MF_SIZE 224

// ---- helpers -----------------------------------------------------------------------------------

int mf_net_open(PcBackend *be, const char *model, int batch, MfNet *n) {
    PcError err = {{0}};
    memset(n, 0, sizeof *n);
    n->be = be;
    n->model = model;
    if (fixture_net_load(model, &n->net, &err) != 0) {
        CHECK(0, "%s: %s", model, err.msg);
        n->be = NULL;
        return -1;
    }
    if (batch > 0 && mf_net_prepare(n, batch)) {
        mf_net_close(n);
        return -1;
    }
    return 0;
}

int mf_net_prepare(MfNet *n, int batch) {
    PcError err = {{0}};
    n->bn = n->be->net_prepare(n->be, &n->net, batch, &err);
    CHECK(n->bn != NULL, "%s: net_prepare: %s", n->model, err.msg);
    return n->bn ? 0 : -1;
}

void mf_net_close(MfNet *n) {
    if (!n->be) return;
    if (n->bn) n->be->net_release(n->be, n->bn);
    pc_net_free(&n->net);
    memset(n, 0, sizeof *n);
}

float *mf_read_image(const char *file, const char *input, const char *attrs, const char *grp, int *cls,
                     uint32_t *image_index) {
    size_t n = 0;
    float *x = h5_read_f32(file, input, &n, NULL, NULL);
    double c = -1, pos = 0;
    int ok = x && n == 3 * MF_SIZE * MF_SIZE && h5_attr_f64(attrs, grp, "class", &c) == 0 && c >= 0 &&
             (!image_index || h5_attr_f64(attrs, grp, "image_index", &pos) == 0);
    CHECK(ok, "%s: input, class%s missing", grp, image_index ? " or image_index" : "");
    if (!ok) {
        free(x);
        return NULL;
    }
    *cls = (int)c;
    if (image_index) *image_index = (uint32_t)pos;
    return x;
}

// ---- comparisons -------------------------------------------------------------------------------

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// The differences of a map (method_fixture.h, MfMethod): max, 99th percentile, NaN positions.
typedef struct {
    double max, p99;
    int nan_mismatch;
} MfDiff;

static MfDiff map_diff(const MfMethod *m, const float *a, const float *ref, size_t n) {
    MfDiff r = {0, 0, 0};
    double scale = 1;
    if (m->rel) {
        scale = 0;
        for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(ref[i]));
        if (scale == 0) scale = 1;
    }
    double *all = xmalloc((n ? n : 1) * sizeof(double));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(ref[i])) {
            r.nan_mismatch |= isnan(a[i]) != isnan(ref[i]);
            continue;
        }
        all[k++] = fabs((double)a[i] - (double)ref[i]) / scale;
        r.max = fmax(r.max, all[k - 1]);
    }
    qsort(all, k, sizeof(double), cmp_double);
    r.p99 = k ? all[(size_t)(0.99 * (double)(k - 1))] : 0;
    free(all);
    return r;
}

// The worst differences of one row, per method.
typedef struct {
    double native, native_p99, map, map_p99, auc;
} MfWorst;

// map (h, w) against the fixture's dataset path (shape, values, NaN positions); the differences
// into *worst and *worst_p99.
static void check_map(const MfRow *row, const MfMethod *m, const char *path, const float *map, int h, int w,
                      double *worst, double *worst_p99) {
    size_t n = 0;
    int64_t dims[8];
    int nd = 0;
    float *ref = h5_read_f32(row->fixture, path, &n, dims, &nd);
    const int ok = ref && nd == 2 && dims[0] == h && dims[1] == w;
    CHECK(ok, "%s: shape %dx%d, fixture %lldx%lld", path, h, w, ref && nd == 2 ? (long long)dims[0] : -1LL,
          ref && nd == 2 ? (long long)dims[1] : -1LL);
    if (ok) {
        MfDiff d = map_diff(m, map, ref, n);
        CHECK(d.max <= m->tol && (m->p99_tol <= 0 || d.p99 <= m->p99_tol) && !d.nan_mismatch,
              "%s: max diff %.3g, 99th percentile %.3g (tolerance %.0e%s; NaN positions %s)", path, d.max, d.p99,
              m->tol, m->p99_tol > 0 ? ", 99 % within the 99th-percentile bound" : "",
              d.nan_mismatch ? "differ" : "agree");
        *worst = fmax(*worst, d.max);
        *worst_p99 = fmax(*worst_p99, d.p99);
    }
    free(ref);
}

// The AUCs of the S x S map against the group's ins_auc / del_auc attributes, when both exist.
static void check_auc(const MfRow *row, const PcMethodCtx *ctx, PcInsDelContext *insdel, const char *grp,
                      const float *map, double *worst) {
    double ins_ref, del_ref;
    if (!insdel || h5_attr_f64(row->fixture, grp, "ins_auc", &ins_ref) ||
        h5_attr_f64(row->fixture, grp, "del_auc", &del_ref))
        return;
    PcError err = {{0}};
    double ins = 0, del = 0;
    int rc = pc_insdel_context_eval(insdel, ctx->bn, map, ctx->size, ctx->size, ctx->cls, NULL, &ins, NULL, &del,
                                    NULL, &err);
    CHECK(rc == 0, "%s: insertion/deletion: %s", grp, err.msg);
    CHECK(fabs(ins - ins_ref) <= row->auc_tol, "%s: insertion AUC %.5f, library %.5f", grp, ins, ins_ref);
    CHECK(fabs(del - del_ref) <= row->auc_tol, "%s: deletion AUC %.5f, library %.5f", grp, del, del_ref);
    *worst = fmax(*worst, fmax(fabs(ins - ins_ref), fabs(del - del_ref)));
}

// Our S x S map against the library run on its own random draws: within its run-to-run spread.
static void check_own_draws(const MfRow *row, const char *grp, const float *map, size_t ss) {
    char path[600];
    snprintf(path, sizeof path, "%s/library_own_draws", grp);
    if (!h5_exists(row->fixture, path)) return;
    size_t n = 0;
    float *own = h5_read_f32(row->fixture, path, &n, NULL, NULL);
    double spread = NAN, d = 0;
    h5_attr_f64(row->fixture, grp, "library_spread_max_abs", &spread);
    CHECK(own && n == ss && spread >= 0, "%s or its library_spread_max_abs unreadable", path);
    if (own && n == ss && spread >= 0) {
        for (size_t i = 0; i < ss; i++) d = fmax(d, fabs((double)map[i] - own[i]));
        printf("%s own draws vs the library's own: max abs %.3g, its run-to-run spread %.3g\n", grp, d, spread);
        CHECK(d <= spread, "%s: our draws differ from the library's by %.3g, more than its own spread %.3g", grp, d,
              spread);
    }
    free(own);
}

// ---- one method on one image -------------------------------------------------------------------

static void check_method(const MfRow *row, int k, const PcMethodCtx *ctx, const char *img, PcInsDelContext *insdel,
                         MfWorst *w) {
    const MfMethod *m = &row->methods[k];
    const int S = ctx->size;
    const size_t ss = (size_t)S * S;
    const PcMethodDesc *d = pc_method_find(m->id);
    CHECK(d && d->native && (row->family < 0 || (int)d->family == row->family),
          "%s in the registry with a compute function%s", m->id, row->family < 0 ? "" : " (its family)");
    if (!d || !d->native) return;
    char grp[512], path[600];
    snprintf(grp, sizeof grp, "%s/%s/%s", row->model, img, m->id);
    float *native = xmalloc(ss * sizeof(float)), *map = xmalloc(ss * sizeof(float));
    PcError err = {{0}};
    int h = 0, wd = 0, rc;
    double t0 = pc_now();
    if (row->native) {
        rc = d->native(ctx, native, &h, &wd, &err);
        CHECK(rc == 0, "%s: %s", grp, err.msg);
        if (rc == 0) {
            snprintf(path, sizeof path, "%s/map_native", grp);
            check_map(row, m, path, native, h, wd, &w->native, &w->native_p99);
            // the S x S map: up() of the native map on the backend, as pc_method_compute does
            if (h == S && wd == S) memcpy(map, native, ss * sizeof(float));
            else pc_method_up(ctx, native, h, wd, S, S, map);
        }
    } else {
        rc = pc_method_compute(d, ctx, map, &err);
        CHECK(rc == 0, "%s: %s", grp, err.msg);
    }
    const double secs = pc_now() - t0;
    // that S x S map is what pc_method_compute gives (checked on the first method, a cheap one)
    if (rc == 0 && row->native && k == 0) {
        rc = pc_method_compute(d, ctx, native, &err);
        CHECK(rc == 0 && !memcmp(native, map, ss * sizeof(float)), "%s: compute: %s", grp,
              rc ? err.msg : "differs from up(native)");
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/map", grp);
        if (!h5_exists(row->fixture, path)) snprintf(path, sizeof path, "%s/map_native", grp);   // = map
        double dmap = 0;
        check_map(row, m, path, map, S, S, &dmap, &w->map_p99);
        w->map = fmax(w->map, dmap);
        check_auc(row, ctx, insdel, grp, map, &w->auc);
        check_own_draws(row, grp, map, ss);
        double spread = -1;
        h5_attr_f64(row->fixture, grp, "library_spread_max_abs", &spread);
        printf("%s %s %-16s ", row->model, img, m->id);
        if (row->native) printf("native %3dx%-3d ", h, wd);
        printf("map diff %.2e  %.2f s", dmap, secs);
        if (spread >= 0) printf("  (library's own run-to-run spread: %.3g)", spread);
        printf("\n");
    }
    free(native);
    free(map);
}

// ---- one row -----------------------------------------------------------------------------------

// The resolved default layer lists against the model group's attributes (the reference's choice).
static void check_layers(const MfRow *row, const PcMethodSettings *s) {
    static const char *const keys[3] = {"cam_layer", "layercam_layers", "zoomcam_layers"};
    const PcLayerList *lists[3] = {&s->cam, &s->layercam, &s->zoomcam};
    for (int a = 0; row->layer_attrs && row->layer_attrs[a]; a++) {
        int k = 0;
        while (k < 3 && strcmp(keys[k], row->layer_attrs[a])) k++;
        CHECK(k < 3, "%s: no layer list is called %s", row->model, row->layer_attrs[a]);
        if (k == 3) continue;
        size_t n = 0;
        char **v = h5_attr_strings(row->fixture, row->model, keys[k], &n);
        char ours[2048] = "";
        for (int i = 0; i < lists[k]->n; i++) {
            size_t u = strlen(ours);
            snprintf(ours + u, sizeof ours - u, "%s%s", i ? "," : "", lists[k]->names[i]);
        }
        CHECK(v && n == 1 && !strcmp(v[0], ours), "%s %s: ours '%s', fixture '%s'", row->model, keys[k], ours,
              v && n ? v[0] : "(missing)");
        for (size_t i = 0; v && i < n; i++) free(v[i]);
        free(v);
    }
}

// One image of a row: its input, the method context, the curves' context, every method.
static void check_image(const MfRow *row, MfNet *mn, const PcMethodSettings *set, int i, MfWorst *worst) {
    const char *img = row->images[i];
    char grp[512], path[600];
    snprintf(grp, sizeof grp, "%s/%s", row->model, img);
    snprintf(path, sizeof path, "%s/input", grp);
    int cls = -1;
    uint32_t pos = 0;
    float *x = mf_read_image(row->input_fixture, path, row->fixture, grp, &cls, &pos);
    if (!x) return;
    PcMethodCtx ctx = {.be = mn->be, .bn = mn->bn, .net = &mn->net, .set = set, .x = x, .size = MF_SIZE,
                       .cls = cls, .image = pos, .batch = row->batch};
    // the fixture's curves use its own step count (attribute auc_steps; SPEC §8: 224)
    PcInsDelOptions iopt;
    pc_insdel_default_options(&iopt);
    double steps = 0;
    snprintf(path, sizeof path, "%s/%s", grp, row->methods[0].id);
    PcInsDelContext insdel;
    PcError err = {{0}};
    int have = 0;
    if (h5_attr_f64(row->fixture, path, "auc_steps", &steps) == 0 && steps >= 1) {
        iopt.steps = (int)steps;
        have = pc_insdel_context_init(mn->be, &mn->net, x, &iopt, &insdel, &err) == 0;
        CHECK(have, "%s: insertion/deletion context: %s", grp, err.msg);
    }
    for (int k = 0; k < row->n_methods; k++) check_method(row, k, &ctx, img, have ? &insdel : NULL, &worst[k]);
    if (have) pc_insdel_context_free(&insdel);
    free(x);
}

static void run_row(PcBackend *be, const MfRow *row) {
    PcError err = {{0}};
    MfNet mn;
    if (mf_net_open(be, row->model, 0, &mn)) return;
    PcMethodSettings set = row->settings;
    if (row->model_settings)
        CHECK(row->model_settings(row->fixture, row->model, &set) == 0, "%s: settings attributes missing in %s",
              row->model, row->fixture);
    CHECK(pc_method_settings_resolve(&set, &mn.net, &err) == 0, "%s: layers: %s", row->model, err.msg);
    check_layers(row, &set);
    PcInsDelOptions iopt;
    pc_insdel_default_options(&iopt);
    MfWorst *worst = xcalloc((size_t)row->n_methods, sizeof *worst);
    if (mf_net_prepare(&mn, row->batch > iopt.batch ? row->batch : iopt.batch) == 0)
        for (int i = 0; i < row->n_images; i++) check_image(row, &mn, &set, i, worst);
    for (int k = 0; k < row->n_methods; k++) {
        const MfWorst *w = &worst[k];
        printf("%s %-16s worst", row->model, row->methods[k].id);
        if (row->native) printf(" native diff %.2e (99th percentile %.2e),", w->native, w->native_p99);
        printf(" map diff %.2e (99th percentile %.2e), AUC diff %.2e\n", w->map, w->map_p99, w->auc);
    }
    free(worst);
    mf_net_close(&mn);
}

void mf_run(PcBackend *be, const MfRow *rows, int n_rows) {
    for (int r = 0; r < n_rows; r++) {
        char fix[1024], in[1024];   // fixture_path's buffer lasts until its next call
        MfRow row = rows[r];
        snprintf(fix, sizeof fix, "%s", fixture_path(row.fixture));
        snprintf(in, sizeof in, "%s", fixture_path(row.input_fixture ? row.input_fixture : row.fixture));
        row.fixture = fix, row.input_fixture = in;
        run_row(be, &row);
    }
}
