// merge_sanity.c: /sanity in --merge (see merge_sanity.h; the layout is docs/measures.md "Sanity check").
// The per-image datasets (images, class, score, maps/<id>, similarity/<measure>/<id>: image axis
// first) are gathered row by row in their stored type; the rest (steps, methods, layer_index,
// the attributes) is shard 0's, copied as it is.
#define _GNU_SOURCE
#include "merge_sanity.h"

#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5shape.h"
#include "h5util.h"
#include "safe_text.h"
#include "sanity_file.h"

static char **strings_of(hid_t f, const char *name, size_t *n) {
    hid_t d = pc_h5_open_if(f, name);
    char **v = d >= 0 ? pc_h5_read_strings(d, 0, n) : NULL;
    if (d >= 0) H5Dclose(d);
    if (!v) *n = 0;
    return v;
}

// 1 when the string datasets `name` of a and b hold the same strings.
static int same_strings(hid_t a, hid_t b, const char *name) {
    size_t na = 0, nb = 0;
    char **va = strings_of(a, name, &na), **vb = strings_of(b, name, &nb);
    int same = va && vb && na == nb;
    for (size_t i = 0; same && i < na; i++) same = !strcmp(va[i], vb[i]);
    if (va) pc_h5_free_strings(va, na);
    if (vb) pc_h5_free_strings(vb, nb);
    return same;
}

static int64_t attr_of(hid_t f, const char *name) {
    hid_t g = H5Gopen2(f, "sanity", H5P_DEFAULT);
    int64_t s = g >= 0 ? pc_h5_read_i64_attr(g, name, -1) : -1;
    if (g >= 0) H5Gclose(g);
    return s;
}

// 1 when the shards' checks randomised the same way (randomisation attribute; none = cascading).
static int same_randomisation(hid_t a, hid_t b) {
    hid_t ga = H5Gopen2(a, "sanity", H5P_DEFAULT), gb = H5Gopen2(b, "sanity", H5P_DEFAULT);
    char *ka = ga >= 0 ? pc_h5_read_root_attr(ga, "randomisation") : NULL;
    char *kb = gb >= 0 ? pc_h5_read_root_attr(gb, "randomisation") : NULL;
    int same = !strcmp(ka ? ka : "cascading", kb ? kb : "cascading");
    free(ka), free(kb);
    if (ga >= 0) H5Gclose(ga);
    if (gb >= 0) H5Gclose(gb);
    return same;
}

// ---- checks before anything is read or written (h5shape.h) -----------------------------------

// /sanity/images of shard k: rows of its /images, *count of them.
static int check_images(const PcResultFile *rf, hsize_t *count, PcError *err) {
    PcH5Want w = {.file = rf->path, .kind = PC_H5_INT, .rank = 1, .dims = {PC_DIM_ANY}};
    size_t n = 0;
    long long *rows = pc_h5_read_checked(rf->f, "/sanity/images", &w, H5T_NATIVE_LLONG, sizeof(long long), &n, err);
    int rc = rows ? 0 : -1;
    for (size_t i = 0; rows && i < n && !rc; i++)
        if (rows[i] < 0 || rows[i] >= rf->n)
            rc = pc_fail(err, "%s: /sanity/images row %zu is %lld, expected a row of /images (0..%d)", rf->path, i,
                         rows[i], rf->n - 1);
    free(rows);
    *count = n;
    return rc;
}

// The names of /sanity/methods (method id rule) and /sanity/steps of one shard in the allowed set
// (safe_text.h).
static int check_names(const PcResultFile *rf, const char *name, int method_ids, PcError *err) {
    PcH5Want w = {.file = rf->path, .rank = 1, .dims = {PC_DIM_ANY}};
    size_t n = 0;
    char **v = pc_h5_read_strings_checked(rf->f, name, &w, &n, err);
    int rc = v ? 0 : -1;
    for (size_t i = 0; v && i < n && !rc; i++) {
        const char *why = pc_name_problem(v[i], method_ids);
        char shown[160];
        if (why)
            rc = pc_fail(err, "%s: %s entry '%s' %s (allowed: docs/hostile-inputs.md)", rf->path, name,
                         pc_printable(shown, sizeof shown, v[i]), why);
    }
    if (v) pc_h5_free_strings(v, n);
    return rc;
}

// A dataset that gather() copies row by row: in every shard, shard 0's element type and trailing
// axes with as many rows as that shard's /sanity/images, and one row within the memory bound.
static int check_gathered(const PcResultFile *const *sh, int n, const hsize_t *count, const char *name, PcError *err) {
    hid_t d0 = pc_h5_open_if(sh[0]->f, name);
    if (d0 < 0) return 0;   // shard 0 has none: nothing is gathered
    PcH5Want w = {.file = sh[0]->path, .rank = 0};
    hsize_t dims[PC_H5_MAX_RANK] = {0};
    w.rank = pc_h5_shape(d0, dims);
    memcpy(w.dims, dims, sizeof dims);
    char why[1200];
    snprintf(why, sizeof why, "rows of its /sanity/images, the other axes as in %s", sh[0]->path);
    w.why = why;
    hid_t t0 = H5Dget_type(d0);
    double row = (double)H5Tget_size(t0);
    for (int r = 1; r < w.rank; r++) row *= (double)dims[r];
    int rc = w.rank < 1 ? pc_fail(err, "%s: %s is not an array of 1..%d axes", sh[0]->path, name, PC_H5_MAX_RANK)
                        : pc_h5_budget(d0, sh[0]->path, name, row, err);
    for (int k = 0; k < n && !rc; k++) {
        w.file = sh[k]->path;
        w.dims[0] = count[k];
        hid_t d = pc_h5_open_checked(sh[k]->f, name, &w, err);
        hid_t t = d >= 0 ? H5Dget_type(d) : -1;
        if (d < 0) rc = -1;
        else if (H5Tequal(t, t0) <= 0)
            rc = pc_fail(err, "%s: %s has another element type than in %s", sh[k]->path, name, sh[0]->path);
        if (t >= 0) H5Tclose(t);
        if (d >= 0) H5Dclose(d);
    }
    H5Tclose(t0);
    H5Dclose(d0);
    return rc;
}

// Every per-image dataset of every shard's /sanity as gather() and checked_images() will read it.
static int check_shapes(const PcResultFile *const *sh, int n, PcError *err) {
    hsize_t *count = xcalloc((size_t)n, sizeof(hsize_t));
    int rc = check_names(sh[0], "/sanity/methods", 1, err) || check_names(sh[0], "/sanity/steps", 0, err) ? -1 : 0;
    for (int k = 0; k < n && !rc; k++) rc = check_images(sh[k], &count[k], err);
    size_t n_meth = 0;
    char **ids = rc ? NULL : strings_of(sh[0]->f, "/sanity/methods", &n_meth);
    if (!rc) rc = check_gathered(sh, n, count, "/sanity/class", err) || check_gathered(sh, n, count, "/sanity/score", err);
    for (size_t m = 0; m < n_meth && !rc; m++) {
        char name[512];
        snprintf(name, sizeof name, "/sanity/maps/%s", ids[m]);
        rc = check_gathered(sh, n, count, name, err);
        for (int k = 0; k < PC_SIM_COUNT && !rc; k++) {
            snprintf(name, sizeof name, "/sanity/similarity/%s/%s", pc_sim_names[k], ids[m]);
            rc = check_gathered(sh, n, count, name, err);
        }
    }
    if (ids) pc_h5_free_strings(ids, n_meth);
    free(count);
    return rc ? -1 : 0;
}

int pc_merge_sanity_check(const PcResultFile *const *sh, int *images, int n, PcError *err) {
    int first_with = -1, first_without = -1;
    for (int k = 0; k < n; k++) {
        int has = H5Lexists(sh[k]->f, "sanity", H5P_DEFAULT) > 0;
        if (has && first_with < 0) first_with = k;
        if (!has && first_without < 0) first_without = k;
    }
    if (first_with < 0) return 0;
    if (first_without >= 0)
        return pc_fail(err, "%s has a sanity check (/sanity) and %s has none: the merged check needs every shard's "
                       "(rerun that shard's command with --sanity: a finished shard only gains /sanity)",
                       sh[first_with]->path, sh[first_without]->path);
    for (int k = 0; k < n; k++) {   // the check's own record of [sanity] images (the config may be older)
        int64_t want = attr_of(sh[k]->f, "images_requested");
        if (want >= 0) images[k] = (int)want;
    }
    for (int k = 1; k < n; k++) {
        const char *what = !same_strings(sh[0]->f, sh[k]->f, "/sanity/methods") ? "methods"
                           : !same_strings(sh[0]->f, sh[k]->f, "/sanity/steps") ? "steps"
                           : attr_of(sh[0]->f, "seed") != attr_of(sh[k]->f, "seed") ? "seed"
                           : !same_randomisation(sh[0]->f, sh[k]->f)               ? "[sanity] order"
                           : images[0] != images[k]                                ? "[sanity] images"
                                                                                   : NULL;
        if (what)
            return pc_fail(err, "%s and %s: their sanity checks (/sanity) differ in %s; rerun the shards' commands "
                           "with the same [sanity] settings and --sanity", sh[0]->path, sh[k]->path, what);
    }
    return check_shapes(sh, n, err) ? -1 : 1;
}

// ---- gathering rows ----------------------------------------------------------------------------

typedef struct {
    int list_index, shard, row;     // the image's list entry, its shard, its row in that /sanity
} Checked;

static int cmp_checked(const void *a, const void *b) {
    const Checked *x = a, *y = b;
    return (x->list_index > y->list_index) - (x->list_index < y->list_index);
}

// Row `row` (first dimension) of dataset src into row `at` of dst, in the stored type.
static int copy_row(hid_t src, hsize_t row, hid_t dst, hsize_t at, void *buf) {
    hid_t sp = H5Dget_space(src), dp = H5Dget_space(dst), t = H5Dget_type(src);
    int rank = H5Sget_simple_extent_ndims(sp), ok = rank >= 1 && rank <= 4;
    hsize_t dims[4] = {0}, off[4] = {0}, cnt[4] = {1, 1, 1, 1};
    if (ok) H5Sget_simple_extent_dims(sp, dims, NULL);
    for (int r = 1; ok && r < rank; r++) cnt[r] = dims[r];
    hid_t mem = ok ? H5Screate_simple(rank, cnt, NULL) : -1;
    off[0] = row;
    ok = ok && row < dims[0] && H5Sselect_hyperslab(sp, H5S_SELECT_SET, off, NULL, cnt, NULL) >= 0 &&
         H5Dread(src, t, mem, sp, H5P_DEFAULT, buf) >= 0;
    off[0] = at;
    ok = ok && H5Sselect_hyperslab(dp, H5S_SELECT_SET, off, NULL, cnt, NULL) >= 0 &&
         H5Dwrite(dst, t, mem, dp, H5P_DEFAULT, buf) >= 0;
    if (mem >= 0) H5Sclose(mem);
    H5Sclose(sp), H5Sclose(dp), H5Tclose(t);
    return ok ? 0 : -1;
}

// Dataset `name` (image axis first) of the output from the shards' rows c[0..n_out). Absent in
// shard 0: nothing to do.
static int gather(hid_t out, const char *name, const PcResultFile *const *sh, const Checked *c, int n_out) {
    hid_t d0 = pc_h5_open_if(sh[0]->f, name);
    if (d0 < 0) return 0;
    hid_t sp = H5Dget_space(d0), t = H5Dget_type(d0), pl = H5Dget_create_plist(d0);
    int rank = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[4] = {0};
    int rc = rank >= 1 && rank <= 4 ? 0 : -1;
    if (rc == 0) H5Sget_simple_extent_dims(sp, dims, NULL);
    size_t row_bytes = H5Tget_size(t);
    for (int r = 1; r < rank; r++) row_bytes *= dims[r];
    dims[0] = (hsize_t)n_out;
    hid_t osp = rc == 0 ? H5Screate_simple(rank, dims, NULL) : -1;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t od = rc == 0 ? H5Dcreate2(out, name, t, osp, lcpl, pl, H5P_DEFAULT) : -1;
    void *buf = xmalloc(row_bytes + 1);
    rc = od < 0 ? -1 : 0;
    for (int i = 0; rc == 0 && i < n_out; i++) {
        hid_t s = pc_h5_open_if(sh[c[i].shard]->f, name);
        rc = s < 0 || copy_row(s, (hsize_t)c[i].row, od, (hsize_t)i, buf) ? -1 : 0;
        if (s >= 0) H5Dclose(s);
    }
    free(buf);
    if (pc_h5_close_written(od)) rc = -1;   // the chunks still cached are written here
    if (osp >= 0) H5Sclose(osp);
    H5Pclose(lcpl), H5Pclose(pl), H5Tclose(t), H5Sclose(sp), H5Dclose(d0);
    return rc;
}

// Every checked image of every shard, in list order; *n_out the count.
static Checked *checked_images(const PcResultFile *const *sh, int n, int *n_out) {
    int total = 0, got = 0;
    int64_t **rows = xcalloc((size_t)n, sizeof(int64_t *));
    hsize_t *count = xcalloc((size_t)n, sizeof(hsize_t));
    for (int k = 0; k < n; k++) {
        hsize_t last = 0;
        if (pc_h5_dims(sh[k]->f, "/sanity/images", &count[k], &last) < 0) count[k] = 0;
        rows[k] = xcalloc((size_t)count[k] + 1, sizeof(int64_t));
        hid_t d = pc_h5_open_if(sh[k]->f, "/sanity/images");
        if (d < 0 || H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows[k]) < 0) count[k] = 0;
        if (d >= 0) H5Dclose(d);
        total += (int)count[k];
    }
    Checked *c = xcalloc((size_t)total + 1, sizeof(Checked));
    for (int k = 0; k < n; k++)
        for (hsize_t j = 0; j < count[k]; j++)
            if (rows[k][j] >= 0 && rows[k][j] < sh[k]->n)
                c[got++] = (Checked){sh[k]->index[rows[k][j]], k, (int)j};
    qsort(c, (size_t)got, sizeof(Checked), cmp_checked);
    for (int k = 0; k < n; k++) free(rows[k]);
    free(rows), free(count);
    *n_out = got;
    return c;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

// The group with shard 0's attributes and small datasets, the per-image datasets gathered.
static int write_group(hid_t out, const PcResultFile *const *sh, const Checked *c, int n_out, const int *out_index,
                       int total) {
    hid_t cp = H5Pcreate(H5P_OBJECT_COPY);
    H5Pset_copy_object(cp, H5O_COPY_SHALLOW_HIERARCHY_FLAG);   // members, not maps/ and similarity/ contents
    int rc = H5Ocopy(sh[0]->f, "sanity", out, "sanity", cp, H5P_DEFAULT) < 0 ? -1 : 0;
    H5Pclose(cp);
    static const char *const per_image[] = {"/sanity/images", "/sanity/class", "/sanity/score"};
    for (int i = 0; rc == 0 && i < 3; i++)
        if (H5Lexists(out, per_image[i], H5P_DEFAULT) > 0) rc = H5Ldelete(out, per_image[i], H5P_DEFAULT) < 0 ? -1 : 0;
    if (rc == 0) rc = gather(out, "/sanity/class", sh, c, n_out) || gather(out, "/sanity/score", sh, c, n_out) ? -1 : 0;
    size_t n_meth = 0;
    char **ids = strings_of(sh[0]->f, "/sanity/methods", &n_meth);
    for (size_t m = 0; rc == 0 && m < n_meth; m++) {
        char name[512];
        snprintf(name, sizeof name, "/sanity/maps/%s", ids[m]);
        rc = gather(out, name, sh, c, n_out);
        for (int k = 0; rc == 0 && k < PC_SIM_COUNT; k++) {
            snprintf(name, sizeof name, "/sanity/similarity/%s/%s", pc_sim_names[k], ids[m]);
            rc = gather(out, name, sh, c, n_out);
        }
    }
    if (ids) pc_h5_free_strings(ids, n_meth);
    // images: rows of the output's /images
    int64_t *rows = xcalloc((size_t)n_out + 1, sizeof(int64_t));
    for (int i = 0; i < n_out; i++) {
        const int *at = bsearch(&c[i].list_index, out_index, (size_t)total, sizeof(int), cmp_int);
        rows[i] = at ? at - out_index : -1;
    }
    hsize_t d = (hsize_t)n_out;
    hid_t ds = rc == 0 ? pc_h5_create_dataset(out, "/sanity/images", H5T_STD_I64LE, 1, &d, NULL, NULL) : -1;
    if (rc == 0) rc = ds < 0 || H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0 ? -1 : 0;
    if (pc_h5_close_written(ds)) rc = -1;
    free(rows);
    return rc;
}

int pc_merge_sanity_write(const char *out_path, const PcResultFile *const *sh, int n, int want,
                          const int *out_index, int total, PcError *err) {
    int n_out = 0;
    Checked *c = checked_images(sh, n, &n_out);
    if (want >= 0 && n_out > want) n_out = want;
    hid_t out = pc_h5_open_read(out_path);
    int present = out >= 0 && H5Lexists(out, "sanity", H5P_DEFAULT) > 0;
    if (out >= 0) H5Fclose(out);
    if (present) {
        free(c);
        return 0;
    }
    // into a copy renamed over the output when complete (h5util.h): a kill leaves the output whole
    char *tmp = pc_h5_update_begin(out_path, err);
    out = tmp ? H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT) : -1;
    int rc = out < 0 ? -1 : write_group(out, sh, c, n_out, out_index, total);
    char why[256];
    snprintf(why, sizeof why, "%s", rc ? pc_h5_why() : "");   // before the close clears the error stack
    // the copy's cached metadata is written at close: a failed close is an incomplete copy
    if (out >= 0 && H5Fclose(out) < 0 && rc == 0) rc = -1, snprintf(why, sizeof why, "%s", pc_h5_why());
    free(c);
    if (!tmp) return -1;
    if (rc) pc_fail(err, "%s: cannot write the merged /sanity%s; the file is left as it was", out_path, why);
    if (pc_h5_update_end(out_path, tmp, rc == 0, rc ? NULL : err) || rc) return -1;
    fprintf(stderr, "merged the shards' sanity checks: %d images\n", n_out);
    return 0;
}
