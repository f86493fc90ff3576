// external.c: the source of maps made elsewhere of external.h, over the .npz reader (npz.h) or
// the result-file reader (layout.h).
#define _GNU_SOURCE
#include "external.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>

#include "layout.h"
#include "npz.h"

typedef struct {
    const char *name;   // /images/name of the result file
    int row;
} Row;

struct PcExternal {
    char *path;
    char kind[160];
    PcNpz *npz;                 // an .npz, or
    PcResultFile rf;            // a result file: method m, rows with a map sorted by name
    int rf_open, m, n_rows;
    Row *rows;
    int n_missing;
    int *missing;               // run image indices without a map
};

static int row_cmp(const void *a, const void *b) { return strcmp(((const Row *)a)->name, ((const Row *)b)->name); }

int pc_external_check_finite(const char *file, const char *key, const float *m, int h, int w, PcError *err) {
    size_t bad = 0, first = 0, n = (size_t)h * (size_t)w;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(m[i]) && bad++ == 0) first = i;
    if (!bad) return 0;
    char more[64] = "";
    if (bad > 1) snprintf(more, sizeof more, " (%zu non-finite values in all)", bad);
    return pc_fail(err, "%s: key '%s': %s at (row %zu, column %zu) of its %dx%d map%s", file, key,
                   isnan(m[first]) ? "NaN" : m[first] > 0 ? "Inf" : "-Inf", first / (size_t)w, first % (size_t)w, h,
                   w, more);
}

void pc_external_close(PcExternal *x) {
    if (!x) return;
    pc_npz_close(x->npz);
    if (x->rf_open) pc_results_close(&x->rf);
    free(x->rows);
    free(x->missing);
    free(x->path);
    free(x);
}

int pc_external_missing(const PcExternal *x) { return x->n_missing; }
int pc_external_missing_at(const PcExternal *x, int k) { return k >= 0 && k < x->n_missing ? x->missing[k] : -1; }
const char *pc_external_kind(const PcExternal *x) { return x->kind; }

// ---- a polycam-eval result file --------------------------------------------------------------

// The method of the file: method, or NAME when the file has it, or its only one.
static int pick_method(PcExternal *x, const char *name, const char *method, PcError *err) {
    const PcResultFile *rf = &x->rf;
    const char *want = method[0] ? method : name;
    for (int m = 0; m < rf->layout.n_methods; m++)
        if (!strcmp(rf->ids[m], want)) return x->m = m, 0;
    if (!method[0] && rf->layout.n_methods == 1) return x->m = 0, 0;
    char ids[1024] = "";
    for (int m = 0, used = 0; m < rf->layout.n_methods && used < (int)sizeof ids - 100; m++)
        used += snprintf(ids + used, sizeof ids - (size_t)used, "%s%s", m ? ", " : "", rf->ids[m]);
    return pc_fail(err, "%s: no method '%s' among its maps (%s); set [external %s] method to one of them", x->path,
                   want, ids[0] ? ids : "none", name);
}

// The map of row `row` (S x S); 1 when it is all NaN (the source's NaN map: no map), -1 on error.
static int h5_row_map(PcExternal *x, int row, float **map, PcError *err) {
    const int S = x->rf.layout.size;
    float *m = xmalloc((size_t)S * S * sizeof(float));
    if (pc_results_map(&x->rf, x->m, row, m)) {
        free(m);
        return pc_fail(err, "%s: cannot read /methods/%s/map row %d (%s)", x->path, x->rf.ids[x->m], row,
                       x->rf.names[row]);
    }
    int all_nan = 1;
    for (size_t i = 0; i < (size_t)S * S && all_nan; i++) all_nan = isnan(m[i]) != 0;
    if (all_nan) {
        free(m);
        return 1;
    }
    *map = m;
    return 0;
}

static int open_results(PcExternal *x, const char *name, const char *method, PcError *err) {
    PcError e;
    x->rf_open = 1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);   // failures are reported as one line
    if (pc_results_open(&x->rf, x->path, &e)) return pc_fail(err, "%s (not a readable polycam-eval result file)", e.msg);
    if (pick_method(x, name, method, err)) return -1;
    if (x->rf.layout.maps == PC_MAPS_NONE || x->rf.layout.size < 1)
        return pc_fail(err, "%s: no maps stored (its run had [output] maps = none); rerun it with maps = float32",
                       x->path);
    snprintf(x->kind, sizeof x->kind, "polycam-eval result file, method %s", x->rf.ids[x->m]);
    x->rows = xcalloc((size_t)x->rf.n + 1, sizeof *x->rows);
    for (int i = 0; i < x->rf.n; i++)
        if (x->rf.done[i] == 1 && pc_status_usable(x->rf.status[i])) x->rows[x->n_rows++] = (Row){x->rf.names[i], i};
    qsort(x->rows, (size_t)x->n_rows, sizeof *x->rows, row_cmp);
    return 0;
}

// ---- either kind ------------------------------------------------------------------------------

int pc_external_map(PcExternal *x, const char *name, float **map, int *h, int *w, PcError *err) {
    *map = NULL;
    int rc;
    if (x->npz) {
        const int i = pc_npz_find(x->npz, name);
        if (i < 0) return 1;
        rc = pc_npz_read_map(x->npz, i, map, h, w, err);
    } else {
        const Row key = {name, 0}, *r = bsearch(&key, x->rows, (size_t)x->n_rows, sizeof key, row_cmp);
        if (!r) return 1;
        rc = h5_row_map(x, r->row, map, err);
        *h = *w = x->rf.layout.size;
    }
    if (rc) return rc;
    if (pc_external_check_finite(x->path, name, *map, *h, *w, err)) {
        free(*map);
        *map = NULL;
        return -1;
    }
    return 0;
}

// "; the file's keys are 'a', 'b', ... (N in all)": a hint when no name matched.
static void some_keys(const PcExternal *x, char *out, size_t cap) {
    const int n = x->npz ? pc_npz_count(x->npz) : x->n_rows;
    size_t used = (size_t)snprintf(out, cap, n ? "; its keys are" : "; it holds no map at all");
    for (int i = 0; i < n && i < 3 && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s '%.80s'", i ? "," : "",
                                 x->npz ? pc_npz_key(x->npz, i) : x->rows[i].name);
    if (n > 3 && used < cap) snprintf(out + used, cap - used, " ... (%d in all)", n);
}

// Reads and checks the map of every run image once; counts those without one.
static int check_all(PcExternal *x, char *const *names, int n, PcError *err) {
    x->missing = xcalloc((size_t)n + 1, sizeof(int));
    for (int i = 0; i < n; i++) {
        float *m;
        int h, w, rc = pc_external_map(x, names[i], &m, &h, &w, err);
        if (rc < 0) return -1;
        if (rc > 0) x->missing[x->n_missing++] = i;
        free(m);
    }
    if (x->n_missing < n) return 0;
    char keys[512];
    some_keys(x, keys, sizeof keys);
    return pc_fail(err, "%s: no map for any of the run's %d images (keys are the image list's names as written, "
                   "extension included, e.g. '%.80s'%s)", x->path, n, n ? names[0] : "", keys);
}

PcExternal *pc_external_open(const char *path, const char *name, const char *method, char *const *names, int n,
                             PcError *err) {
    PcExternal *x = xcalloc(1, sizeof *x);
    x->path = strdup(path);
    unsigned char head[8] = {0};
    FILE *f = fopen(path, "rb");
    struct stat sb;
    int rc = 0;
    if (!f || fstat(fileno(f), &sb) != 0) rc = pc_fail(err, "%s: cannot open (%s)", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode)) rc = pc_fail(err, "%s: not a regular file", path);
    size_t got = rc == 0 ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    if (rc == 0 && got >= 4 && !memcmp(head, "PK", 2)) {
        x->npz = pc_npz_open(path, err);
        rc = x->npz ? 0 : -1;
        snprintf(x->kind, sizeof x->kind, "NumPy .npz");
    } else if (rc == 0 && got == 8 && !memcmp(head, "\x89HDF\r\n\x1a\n", 8)) {
        rc = open_results(x, name, method, err);
    } else if (rc == 0 && got >= 6 && !memcmp(head, "\x93NUMPY", 6)) {
        rc = pc_fail(err, "%s: a single .npy array; maps keyed by image name go in an .npz: "
                     "np.savez(FILE, **{image_name: map, ...})", path);
    } else if (rc == 0) {
        rc = pc_fail(err, "%s: neither a NumPy .npz archive nor a polycam-eval result file (HDF5)%s", path,
                     got == 0 ? ": an empty file" : "");
    }
    if (rc == 0) rc = check_all(x, names, n, err);
    if (rc) {
        pc_external_close(x);
        return NULL;
    }
    return x;
}
