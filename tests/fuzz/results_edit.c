// results_edit.c: edits of a result file driven by fuzz bytes (results_edit.h). Each edit is four
// bytes: op, k (which dataset or attribute), v and w (the new shape, type or value, from the
// tables below: values a reader must not trust, such as 0, negative counts, 2^31 - 1 and sizes
// that would need gigabytes).
#include "results_edit.h"

#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SETS 64

typedef struct {
    char *names[MAX_SETS];
    int n;
} Sets;

static herr_t collect(hid_t o, const char *name, const H5O_info_t *info, void *op) {
    (void)o;
    Sets *s = op;
    if (info->type == H5O_TYPE_DATASET && s->n < MAX_SETS) {
        s->names[s->n] = malloc(strlen(name) + 2);
        s->names[s->n][0] = '/';
        strcpy(s->names[s->n] + 1, name);
        s->n++;
    }
    return 0;
}

static const hsize_t DIMS[8] = {0, 1, 2, 3, 4, 5, 33, 100000};
static const int64_t INTS[16] = {-5, -1, 0, 1, 2, 3, 4, 5, 16, 32, 224, 100000, 2147483647, 4294967296LL,
                                 INT64_MAX, INT64_MIN};
static const double REALS[8] = {NAN, INFINITY, -INFINITY, 1e308, -5, 2147483647.0, 0.5, 0};
static const char *const STRS[12] = {"", "pcampm", "ixg", "../../images", "a|b\n<img src=x onerror=alert(1)>",
                                     "=HYPERLINK(\"http://x\")", "pcampm/map", "ok", "%s%n%x",
                                     "gradcam: NaN map (constant before min-max, as the library)",
                                     "/dev/null", "\xff\xfe not utf-8"};
static const char *const INT_ATTRS[6] = {"map_side", "steps", "n_done", "complete", "shard", "n_images"};
static const char *const STR_ATTRS[6] = {"method_ids", "config_key", "config", "device", "weights_checksum",
                                         "config_source"};

// The memory type of TYPES[i] (caller closes it).
static hid_t type_of(int i) {
    switch (i % 8) {
    case 0: return H5Tcopy(H5T_NATIVE_INT8);
    case 1: return H5Tcopy(H5T_NATIVE_INT32);
    case 2: return H5Tcopy(H5T_NATIVE_INT64);
    case 3: return H5Tcopy(H5T_NATIVE_FLOAT);
    case 4: return H5Tcopy(H5T_NATIVE_DOUBLE);
    case 5: {   // float16, as maps = float16 stores it
        hid_t t = H5Tcopy(H5T_IEEE_F32LE);
        H5Tset_fields(t, 15, 10, 5, 0, 10);
        H5Tset_size(t, 2);
        H5Tset_ebias(t, 15);
        return t;
    }
    case 6: {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        return t;
    }
    default: {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, 3);
        return t;
    }
    }
}

// Replaces dataset name by one of the given type (or its own when type < 0) and shape.
static void recreate(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return;
    hid_t t = type >= 0 ? H5Tcopy(type) : H5Dget_type(d);
    hsize_t own[8];
    if (rank < 0) {
        hid_t sp = H5Dget_space(d);
        rank = H5Sget_simple_extent_dims(sp, own, NULL);
        H5Sclose(sp);
        dims = own;
    }
    H5Dclose(d);
    H5Ldelete(f, name, H5P_DEFAULT);
    hid_t sp = rank > 0 ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t nd = H5Dcreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);   // late allocation: no bytes
    if (nd >= 0) H5Dclose(nd);
    H5Sclose(sp);
    H5Tclose(t);
}

// Every element of a dataset of at most 2^20 elements (2^12 strings) set to one value (strings for
// string sets). Strings are few: HDF5 1.10 rewrites a variable-length dataset through its global
// heap in time quadratic in the count (H5HG_remove), so a reshaped /images/name of 2^20 entries
// would spend the fuzzer's whole timeout in the harness, not in the readers.
static void fill(hid_t f, const char *name, int v) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return;
    hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    if (n > 0 && n <= (H5Tget_class(t) == H5T_STRING ? 1 << 12 : 1 << 20)) {
        if (H5Tget_class(t) == H5T_STRING) {
            const char **s = malloc((size_t)n * sizeof *s);
            for (hssize_t i = 0; i < n; i++) s[i] = STRS[(v + i) % 12];
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            if (H5Tis_variable_str(t) > 0) H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, s);
            H5Tclose(mt);
            free(s);
        } else {
            double *x = malloc((size_t)n * sizeof *x);
            for (hssize_t i = 0; i < n; i++) x[i] = v & 8 ? (double)INTS[(v + i) % 16] : REALS[v % 8];
            H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
            free(x);
        }
    }
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(d);
}

static void set_int_attr(hid_t f, int k, int v, int w) {
    const char *name = INT_ATTRS[k % 6];
    if (H5Aexists(f, name) > 0) H5Adelete(f, name);
    int64_t val[2] = {INTS[v % 16], INTS[w % 16]};
    hsize_t n = !strcmp(name, "shard") || (w & 0x80) ? 2 : 1;
    hid_t sp = w & 0x40 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
    hid_t type = w & 0x20 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64;
    double dv[2] = {(double)val[0], (double)val[1]};
    hid_t a = H5Acreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        H5Awrite(a, type, w & 0x20 ? (void *)dv : (void *)val);
        H5Aclose(a);
    }
    H5Sclose(sp);
}

static void set_str_attr(hid_t f, int k, int v, int w) {
    const char *name = STR_ATTRS[k % 6];
    if (H5Aexists(f, name) > 0) H5Adelete(f, name);
    hsize_t n = 1 + (hsize_t)(w % 3);   // method_ids: 1..3 strings; the others are scalar in the files
    const char *s[3] = {STRS[v % 12], STRS[(v + w) % 12], STRS[(v + 2 * w + 1) % 12]};
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = k % 6 == 0 || (w & 0x80) ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        H5Awrite(a, t, s);
        H5Aclose(a);
    }
    H5Sclose(sp);
    H5Tclose(t);
}

static void edit(hid_t f, const Sets *s, const uint8_t *e) {
    const int op = e[0] % 7, k = e[1], v = e[2], w = e[3];
    const char *set = s->n ? s->names[k % s->n] : NULL;
    hsize_t dims[3];
    switch (op) {
    case 0:   // reshape: rank 1..3, each side from DIMS
        for (int i = 0; i < 3; i++) dims[i] = DIMS[(w >> (3 * i)) & 7];
        if (set) recreate(f, set, -1, 1 + v % 3, dims);
        break;
    case 1: {   // retype, same shape
        hid_t t = type_of(v);
        if (set) recreate(f, set, t, -1, NULL);
        H5Tclose(t);
        break;
    }
    case 2: if (set) fill(f, set, v); break;
    case 3: set_int_attr(f, k, v, w); break;
    case 4: set_str_attr(f, k, v, w); break;
    case 5:   // delete a dataset or a root attribute
        if (w & 1) {
            const char *a = v & 1 ? INT_ATTRS[k % 6] : STR_ATTRS[k % 6];
            if (H5Aexists(f, a) > 0) H5Adelete(f, a);
        } else if (set) {
            H5Ldelete(f, set, H5P_DEFAULT);
        }
        break;
    default:   // a group where a dataset was
        if (set && H5Ldelete(f, set, H5P_DEFAULT) >= 0) {
            hid_t g = H5Gcreate2(f, set, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            if (g >= 0) H5Gclose(g);
        }
        break;
    }
}

int results_edit(const char *path, const uint8_t *data, size_t size) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) return -1;
    Sets s = {.n = 0};
    H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, collect, &s);
    for (size_t i = 0; i + 4 <= size && i < 64; i += 4) edit(f, &s, data + i);
    for (int i = 0; i < s.n; i++) free(s.names[i]);
    return H5Fclose(f) < 0 ? -1 : 0;
}
