// run_data.c: run-level datasets of a result file (run_data.h), e.g. RISE's masks: the
// same for every image and every shard, written once when the file is created (or rebuilt on a
// resume), read back by the shard merge, which requires them identical in every shard.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5shape.h"
#include "h5util.h"
#include "run_data.h"

static hid_t file_type(PcRunDataType t) {
    return t == PC_RUN_U8 ? H5T_STD_U8LE : t == PC_RUN_I32 ? H5T_STD_I32LE : H5T_IEEE_F32LE;
}

static hid_t mem_type(PcRunDataType t) {
    return t == PC_RUN_U8 ? H5T_NATIVE_UCHAR : t == PC_RUN_I32 ? H5T_NATIVE_INT : H5T_NATIVE_FLOAT;
}

size_t pc_run_data_bytes(const PcRunData *d) {
    size_t n = d->type == PC_RUN_U8 ? 1 : 4;
    for (int i = 0; i < d->rank; i++) n *= (size_t)d->dims[i];
    return n;
}

// /methods/<method>/<name> with its groups, attributes scope = "run", description and the numbers.
static int write_one(hid_t file, const PcRunData *d) {
    char path[PC_METHOD_ID_LEN + 160];
    snprintf(path, sizeof path, "/methods/%s/%s", d->method, d->name);
    hsize_t dims[4], chunk[4];
    for (int i = 0; i < d->rank; i++) dims[i] = chunk[i] = (hsize_t)d->dims[i];
    if (d->rank > 0 && dims[0] > 64) chunk[0] = 64;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), sp = H5Screate_simple(d->rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    H5Pset_chunk(dcpl, d->rank, chunk);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 4);
    hid_t ds = H5Dcreate2(file, path, file_type(d->type), sp, lcpl, dcpl, H5P_DEFAULT);
    int ok = ds >= 0 && H5Dwrite(ds, mem_type(d->type), H5S_ALL, H5S_ALL, H5P_DEFAULT, d->data) >= 0 &&
             !pc_h5_set_str_attr(ds, "scope", "run") && !pc_h5_set_str_attr(ds, "description", d->description);
    for (int a = 0; ok && a < d->n_attrs; a++) {
        hid_t asp = H5Screate(H5S_SCALAR);
        hid_t at = H5Acreate2(ds, d->attr_names[a], H5T_IEEE_F64LE, asp, H5P_DEFAULT, H5P_DEFAULT);
        ok = at >= 0 && H5Awrite(at, H5T_NATIVE_DOUBLE, &d->attr_values[a]) >= 0;
        ok = !pc_h5_close_written(at) && ok;
        H5Sclose(asp);
    }
    ok = !pc_h5_close_written(ds) && ok;   // the chunks still cached are written here
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(sp);
    return ok ? 0 : -1;
}

int pc_run_data_write(hid_t file, const char *path, const PcRunData *d, int n, PcError *err) {
    for (int i = 0; i < n; i++)
        if (write_one(file, &d[i]))
            return pc_fail(err, "%s: cannot write /methods/%s/%s%s", path, d[i].method, d[i].name, pc_h5_why());
    return 0;
}

// ---- reading ----------------------------------------------------------------------------------

typedef struct {
    const char *method, *path;
    PcRunData *list;
    int n, cap;
    hid_t group;
    PcError *err;
    int failed;
} Visit;

static int is_run_scoped(hid_t ds) {
    if (H5Aexists(ds, "scope") <= 0) return 0;
    char *v = pc_h5_read_root_attr(ds, "scope");
    int yes = v && !strcmp(v, "run");
    free(v);
    return yes;
}

static void read_attrs(hid_t ds, PcRunData *d) {
    char *desc = pc_h5_read_root_attr(ds, "description");
    snprintf(d->description, sizeof d->description, "%s", desc ? desc : "");
    free(desc);
    H5O_info_t info;
    if (H5Oget_info2(ds, &info, H5O_INFO_NUM_ATTRS) < 0) return;
    for (hsize_t a = 0; a < info.num_attrs && d->n_attrs < PC_RUN_DATA_ATTRS; a++) {
        hid_t at = H5Aopen_by_idx(ds, ".", H5_INDEX_NAME, H5_ITER_INC, a, H5P_DEFAULT, H5P_DEFAULT);
        if (at < 0) continue;
        hid_t t = H5Aget_type(at);
        if (H5Tget_class(t) == H5T_FLOAT) {
            H5Aget_name(at, sizeof d->attr_names[0], d->attr_names[d->n_attrs]);
            if (H5Aread(at, H5T_NATIVE_DOUBLE, &d->attr_values[d->n_attrs]) >= 0) d->n_attrs++;
        }
        H5Tclose(t);
        H5Aclose(at);
    }
}

static herr_t visit_cb(hid_t g, const char *name, const H5O_info_t *info, void *arg) {
    Visit *v = arg;
    if (info->type != H5O_TYPE_DATASET) return 0;
    hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
    if (ds < 0) return 0;
    if (is_run_scoped(ds)) {
        hid_t t = H5Dget_type(ds), sp = H5Dget_space(ds);
        PcRunData d;
        memset(&d, 0, sizeof d);
        snprintf(d.method, sizeof d.method, "%s", v->method);
        snprintf(d.name, sizeof d.name, "%s", name);
        d.type = H5Tget_class(t) == H5T_FLOAT ? PC_RUN_F32 : H5Tget_size(t) == 1 ? PC_RUN_U8 : PC_RUN_I32;
        const int rank = H5Sget_simple_extent_ndims(sp);
        char full[PC_METHOD_ID_LEN + 160];
        snprintf(full, sizeof full, "/methods/%s/%s", v->method, name);
        // numbers of 1..4 axes, held to what the file can hold (h5shape.h), before the allocation
        PcH5Want w = {.file = v->path, .kind = d.type == PC_RUN_F32 ? PC_H5_FLOAT : PC_H5_INT,
                      .rank = rank >= 1 && rank <= 4 ? rank : 1, .dims = {PC_DIM_ANY, PC_DIM_ANY, PC_DIM_ANY, PC_DIM_ANY}};
        hsize_t dims[4] = {0};
        v->failed = pc_h5_check(ds, full, &w, v->err) != 0;
        if (!v->failed) {
            H5Sget_simple_extent_dims(sp, dims, NULL);
            d.rank = rank;
            for (int i = 0; i < d.rank; i++) d.dims[i] = (long long)dims[i];
            v->failed = pc_h5_budget(ds, v->path, full, (double)pc_run_data_bytes(&d), v->err) != 0;
        }
        if (!v->failed) {
            d.data = xmalloc(pc_run_data_bytes(&d) + 1);
            if (H5Dread(ds, mem_type(d.type), H5S_ALL, H5S_ALL, H5P_DEFAULT, d.data) >= 0) {
                read_attrs(ds, &d);
                if (v->n == v->cap) { v->cap = 2 * v->cap + 4; v->list = realloc(v->list, (size_t)v->cap * sizeof d); }
                v->list[v->n++] = d;
            } else {
                free(d.data);
                v->failed = 1;
                pc_fail(v->err, "%s: cannot read %s", v->path, full);
            }
        }
        H5Tclose(t);
        H5Sclose(sp);
    }
    H5Dclose(ds);
    return v->failed;   // a positive value stops the visit
}

int pc_run_data_read(hid_t file, const char *path, char (*method_ids)[PC_METHOD_ID_LEN], int n_methods,
                     PcRunData **out, PcError *err) {
    Visit v = {.path = path, .err = err};
    for (int m = 0; m < n_methods; m++) {
        char path[PC_METHOD_ID_LEN + 16];
        snprintf(path, sizeof path, "/methods/%s", method_ids[m]);
        if (H5Lexists(file, path, H5P_DEFAULT) <= 0) continue;
        hid_t g = H5Gopen2(file, path, H5P_DEFAULT);
        if (g < 0) continue;
        v.method = method_ids[m];
        H5Ovisit2(g, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &v, H5O_INFO_BASIC);
        H5Gclose(g);
        if (v.failed) break;
    }
    if (v.failed) {
        pc_run_data_free(v.list, v.n);
        *out = NULL;
        return -1;
    }
    *out = v.list;
    return v.n;
}

void pc_run_data_free(PcRunData *d, int n) {
    for (int i = 0; d && i < n; i++) free(d[i].data);
    free(d);
}

int pc_run_data_equal(const PcRunData *a, const PcRunData *b) {
    if (strcmp(a->method, b->method) || strcmp(a->name, b->name) || a->type != b->type || a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return !memcmp(a->data, b->data, pc_run_data_bytes(a));
}
