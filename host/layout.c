// layout.c: the result file layout of layout.h: results in memory and in the journal, the HDF5
// writer (every call checked, failures name the file, the dataset and the system's reason) and
// the reader used by merge.c and table.c.
#define _GNU_SOURCE
#include "layout.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "h5util.h"
#include "results_journal.h"

#define STATUS_BYTES 512
enum { SET_MAP, SET_INS_AUC, SET_INS_SCORES, SET_DEL_AUC, SET_DEL_SCORES, SET_SENS, SET_ENERGY, SET_POINTING, N_SETS };
static const char *const set_suffix[N_SETS] = {"map", "insertion/auc", "insertion/scores", "deletion/auc",
                                               "deletion/scores", "sensitivity", "localisation/energy",
                                               "localisation/pointing"};

// ---- results ----------------------------------------------------------------------------------

void pc_result_init(PcImageResult *r, const PcStoreLayout *l) {
    memset(r, 0, sizeof *r);
    size_t m = (size_t)l->n_methods;
    r->maps = xcalloc(m * (size_t)l->size * (size_t)l->size, sizeof(float));
    r->ins_auc = xcalloc(m, sizeof(double));
    r->del_auc = xcalloc(m, sizeof(double));
    r->ins_scores = xcalloc(m * (size_t)l->steps, sizeof(float));
    r->del_scores = xcalloc(m * (size_t)l->steps, sizeof(float));
    r->sens = xcalloc(m, sizeof(double));
    r->energy = xcalloc(m, sizeof(double));
    r->pointing = xcalloc(m, sizeof(int));
}

void pc_result_reset(PcImageResult *r, const PcStoreLayout *l, int index) {
    size_t m = (size_t)l->n_methods, t = m * (size_t)l->steps;
    r->index = index;
    snprintf(r->status, sizeof r->status, "ok");
    r->cls = -1;
    r->score = NAN;
    memset(r->maps, 0, m * (size_t)l->size * (size_t)l->size * sizeof(float));
    for (size_t i = 0; i < m; i++) r->ins_auc[i] = r->del_auc[i] = r->sens[i] = r->energy[i] = NAN;
    for (size_t i = 0; i < m; i++) r->pointing[i] = -1;
    for (size_t i = 0; i < t; i++) r->ins_scores[i] = r->del_scores[i] = NAN;
}

int pc_status_is_nan_map(const char *status) {
    size_t n = strlen(status), k = strlen(PC_STATUS_NAN_MAP);
    return n > k && !strcmp(status + n - k, PC_STATUS_NAN_MAP);
}

int pc_status_usable(const char *status) { return !strcmp(status, "ok") || pc_status_is_nan_map(status); }

void pc_status_nan_maps(char *buf, size_t cap, const char *const *ids, int n) {
    const size_t tail = strlen(PC_STATUS_NAN_MAP) + 24;   // room for " and N more" and the suffix
    size_t len = 0;
    int k = 0;
    buf[0] = 0;
    for (; k < n && len + strlen(ids[k]) + 2 + tail < cap; k++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", k ? ", " : "", ids[k]);
    if (k < n) len += (size_t)snprintf(buf + len, cap - len, " and %d more", n - k);
    snprintf(buf + len, cap - len, "%s", PC_STATUS_NAN_MAP);
}

void pc_result_free(PcImageResult *r) {
    free(r->maps);
    free(r->ins_auc);
    free(r->del_auc);
    free(r->ins_scores);
    free(r->del_scores);
    free(r->sens);
    free(r->energy);
    free(r->pointing);
    memset(r, 0, sizeof *r);
}

static size_t map_elem_bytes(const PcStoreLayout *l) {
    return l->maps == PC_MAPS_F16 ? 2 : l->maps == PC_MAPS_F32 ? 4 : 0;
}

size_t pc_result_bytes(const PcStoreLayout *l) {
    size_t per_method = (size_t)l->size * (size_t)l->size * map_elem_bytes(l) + 2 * sizeof(double) +
                        (size_t)(l->insertion + l->deletion) * (size_t)l->steps * sizeof(float) +
                        (l->sensitivity ? sizeof(double) : 0) +
                        (l->localisation ? sizeof(double) + sizeof(int32_t) : 0);
    return sizeof(int32_t) + sizeof(float) + STATUS_BYTES + (size_t)l->n_methods * per_method;
}

// Record: i32 class, f32 score, status[512], then per method: map (S*S in the stored precision),
// f64 ins AUC, f64 del AUC, ins scores (T f32, when computed), del scores (same), f64 sensitivity
// (when computed), with localisation f64 energy and i32 pointing.
void pc_result_pack(const PcStoreLayout *l, const PcImageResult *r, unsigned char *out) {
    size_t ss = (size_t)l->size * (size_t)l->size, t = (size_t)l->steps;
    int32_t cls = r->cls;
    memcpy(out, &cls, 4), out += 4;
    memcpy(out, &r->score, 4), out += 4;
    memset(out, 0, STATUS_BYTES);
    snprintf((char *)out, STATUS_BYTES, "%s", r->status);
    out += STATUS_BYTES;
    for (int m = 0; m < l->n_methods; m++) {
        const float *map = r->maps + (size_t)m * ss;
        if (l->maps == PC_MAPS_F16) {
            for (size_t k = 0; k < ss; k++) {
                uint16_t h = pc_f32_to_f16(map[k]);
                memcpy(out + 2 * k, &h, 2);
            }
        } else if (l->maps == PC_MAPS_F32) {
            memcpy(out, map, ss * 4);
        }
        out += ss * map_elem_bytes(l);
        memcpy(out, &r->ins_auc[m], 8), out += 8;
        memcpy(out, &r->del_auc[m], 8), out += 8;
        if (l->insertion) memcpy(out, r->ins_scores + (size_t)m * t, t * 4), out += t * 4;
        if (l->deletion) memcpy(out, r->del_scores + (size_t)m * t, t * 4), out += t * 4;
        if (l->sensitivity) memcpy(out, &r->sens[m], 8), out += 8;
        if (l->localisation) {
            int32_t hit = r->pointing[m];
            memcpy(out, &r->energy[m], 8), out += 8;
            memcpy(out, &hit, 4), out += 4;
        }
    }
}

void pc_result_unpack(const PcStoreLayout *l, const unsigned char *in, PcImageResult *r) {
    size_t ss = (size_t)l->size * (size_t)l->size, t = (size_t)l->steps;
    int32_t cls;
    memcpy(&cls, in, 4), in += 4;
    r->cls = cls;
    memcpy(&r->score, in, 4), in += 4;
    memcpy(r->status, in, STATUS_BYTES);
    r->status[STATUS_BYTES - 1] = 0;
    in += STATUS_BYTES;
    for (int m = 0; m < l->n_methods; m++) {
        float *map = r->maps + (size_t)m * ss;
        if (l->maps == PC_MAPS_F16) {
            for (size_t k = 0; k < ss; k++) {
                uint16_t h;
                memcpy(&h, in + 2 * k, 2);
                map[k] = pc_f16_to_f32(h);
            }
        } else if (l->maps == PC_MAPS_F32) {
            memcpy(map, in, ss * 4);
        }
        in += ss * map_elem_bytes(l);
        memcpy(&r->ins_auc[m], in, 8), in += 8;
        memcpy(&r->del_auc[m], in, 8), in += 8;
        if (l->insertion) memcpy(r->ins_scores + (size_t)m * t, in, t * 4), in += t * 4;
        if (l->deletion) memcpy(r->del_scores + (size_t)m * t, in, t * 4), in += t * 4;
        if (l->sensitivity) memcpy(&r->sens[m], in, 8), in += 8;
        if (l->localisation) {
            int32_t hit;
            memcpy(&r->energy[m], in, 8), in += 8;
            memcpy(&hit, in, 4), in += 4;
            r->pointing[m] = hit;
        }
    }
}

// ---- writing ----------------------------------------------------------------------------------

struct PcLayoutWriter {
    char *path;
    PcStoreLayout l;
    hid_t file, half_type, str_type;
    hid_t d_class, d_score, d_status, d_done;
    hid_t *sets;            // (N_SETS, n_methods)
    uint16_t *half_buf;     // (S, S)
};

static void iso_time_now(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

// Closes a written dataset: 0, or -1 when the close failed (it has then dropped its cached chunks).
static int close_set(hid_t *d) {
    int rc = pc_h5_close_written(*d);
    *d = -1;
    return rc;
}

// Closes every handle but the file and frees w; returns the file handle (or -1). *bad (when not
// NULL) is set when a dataset's close failed.
static hid_t writer_release(PcLayoutWriter *w, int *bad) {
    int rc = close_set(&w->d_class) | close_set(&w->d_score) | close_set(&w->d_status) | close_set(&w->d_done);
    for (int i = 0; w->sets && i < N_SETS * w->l.n_methods; i++) rc |= close_set(&w->sets[i]);
    if (rc && bad) *bad = 1;
    if (w->half_type >= 0) H5Tclose(w->half_type);
    if (w->str_type >= 0) H5Tclose(w->str_type);
    hid_t f = w->file;
    free(w->sets);
    free(w->half_buf);
    free(w->path);
    free(w);
    return f;
}

void pc_layout_close(PcLayoutWriter *w) {
    if (!w) return;
    hid_t f = writer_release(w, NULL);   // an unfinished file: the journal holds its results
    if (f >= 0) H5Fclose(f);
}

// Array of strings cleaned to UTF-8 (see h5util.h); free with pc_h5_free_strings.
static char **clean_strings(char *const *s, int n) {
    char **out = xmalloc((size_t)(n > 0 ? n : 1) * sizeof(char *));
    for (int i = 0; i < n; i++) out[i] = pc_utf8_clean(s[i]);
    return out;
}

static int write_strings(hid_t loc, const char *name, hid_t str_t, char *const *s, int n) {
    hsize_t k = (hsize_t)n;
    char **clean = clean_strings(s, n);
    hid_t d = pc_h5_create_dataset(loc, name, str_t, 1, &k, NULL, NULL);
    int ok = d >= 0 && H5Dwrite(d, str_t, H5S_ALL, H5S_ALL, H5P_DEFAULT, clean) >= 0;
    ok = !pc_h5_close_written(d) && ok;
    pc_h5_free_strings(clean, (size_t)n);
    return ok ? 0 : -1;
}

static int write_ints(hid_t loc, const char *name, const int *v, hsize_t n) {
    int minus_one = -1;
    hid_t d = pc_h5_create_dataset(loc, name, H5T_STD_I32LE, 1, &n, NULL, &minus_one);
    int ok = d >= 0 && H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
    ok = !pc_h5_close_written(d) && ok;
    return ok ? 0 : -1;
}

// /images (what is known before the run, and the per-image results at their fill values) and
// /classes.
static int create_images(PcLayoutWriter *w, const PcStoreImages *im, PcError *err) {
    hsize_t n = (hsize_t)w->l.n_images;
    hid_t gi = H5Gcreate2(w->file, "images", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int minus_one = -1;
    float nanf_ = NAN;
    unsigned char zero_u8 = 0;
    int ok = gi >= 0 && write_strings(gi, "name", w->str_type, im->names, w->l.n_images) == 0 &&
             write_ints(gi, "index", im->list_index, n) == 0 && write_ints(gi, "label", im->labels, n) == 0;
    if (ok) {
        w->d_class = pc_h5_create_dataset(gi, "class", H5T_STD_I32LE, 1, &n, NULL, &minus_one);
        w->d_score = pc_h5_create_dataset(gi, "score", H5T_IEEE_F32LE, 1, &n, NULL, &nanf_);
        w->d_status = pc_h5_create_dataset(gi, "status", w->str_type, 1, &n, NULL, NULL);
        w->d_done = pc_h5_create_dataset(gi, "done", H5T_STD_U8LE, 1, &n, NULL, &zero_u8);
        ok = w->d_class >= 0 && w->d_score >= 0 && w->d_status >= 0 && w->d_done >= 0;
    }
    if (ok && im->n_class_names > 0)
        ok = write_strings(w->file, "classes", w->str_type, im->class_names, im->n_class_names) == 0;
    const char *why = ok ? "" : pc_h5_why();
    if (gi >= 0) H5Gclose(gi);
    return ok ? 0 : pc_fail(err, "%s: cannot create or write the /images datasets%s", w->path, why);
}

// /methods/<id>/{map, insertion/{auc,scores}, deletion/{auc,scores}, sensitivity} of one method.
static int create_method(PcLayoutWriter *w, hid_t gm, int m) {
    const PcStoreLayout *l = &w->l;
    hsize_t n = (hsize_t)l->n_images, s = (hsize_t)l->size;
    hsize_t map_dims[3] = {n, s, s}, map_chunk[3] = {1, s, s}, sc_dims[2] = {n, (hsize_t)l->steps};
    float zero_f = 0, nanf_ = NAN;
    double nand = NAN;
    uint16_t zero_h = 0;
    hid_t *sets = w->sets + (size_t)m * N_SETS;
    hid_t g = H5Gcreate2(gm, l->method_ids[m], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = g >= 0;
    if (ok && l->maps != PC_MAPS_NONE) {
        int half = l->maps == PC_MAPS_F16;
        sets[SET_MAP] = pc_h5_create_dataset(g, "map", half ? w->half_type : H5T_IEEE_F32LE, 3, map_dims, map_chunk,
                                             half ? (const void *)&zero_h : (const void *)&zero_f);
        ok = sets[SET_MAP] >= 0;
    }
    for (int c = 0; c < 2 && ok; c++) {
        if (c == 0 ? !l->insertion : !l->deletion) continue;
        hid_t gc = H5Gcreate2(g, c == 0 ? "insertion" : "deletion", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        hid_t *auc = &sets[c == 0 ? SET_INS_AUC : SET_DEL_AUC], *sc = &sets[c == 0 ? SET_INS_SCORES : SET_DEL_SCORES];
        *auc = gc >= 0 ? pc_h5_create_dataset(gc, "auc", H5T_IEEE_F64LE, 1, &n, NULL, &nand) : -1;
        *sc = gc >= 0 ? pc_h5_create_dataset(gc, "scores", H5T_IEEE_F32LE, 2, sc_dims, NULL, &nanf_) : -1;
        if (gc >= 0) H5Gclose(gc);
        ok = *auc >= 0 && *sc >= 0;
    }
    if (ok && l->sensitivity) {
        sets[SET_SENS] = pc_h5_create_dataset(g, "sensitivity", H5T_IEEE_F64LE, 1, &n, NULL, &nand);
        ok = sets[SET_SENS] >= 0;
    }
    if (ok && l->localisation) {
        signed char minus_one = -1;
        hid_t gl = H5Gcreate2(g, "localisation", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        sets[SET_ENERGY] = gl >= 0 ? pc_h5_create_dataset(gl, "energy", H5T_IEEE_F64LE, 1, &n, NULL, &nand) : -1;
        sets[SET_POINTING] = gl >= 0 ? pc_h5_create_dataset(gl, "pointing", H5T_STD_I8LE, 1, &n, NULL, &minus_one) : -1;
        if (gl >= 0) H5Gclose(gl);
        ok = sets[SET_ENERGY] >= 0 && sets[SET_POINTING] >= 0;
    }
    if (g >= 0) H5Gclose(g);
    return ok ? 0 : -1;
}

static int create_methods(PcLayoutWriter *w, PcError *err) {
    hid_t gm = H5Gcreate2(w->file, "methods", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (gm < 0) return pc_fail(err, "%s: cannot create group /methods%s", w->path, pc_h5_why());
    for (int m = 0; m < w->l.n_methods; m++) {
        if (create_method(w, gm, m)) {
            const char *why = pc_h5_why();
            H5Gclose(gm);
            return pc_fail(err, "%s: cannot create the datasets of /methods/%s%s", w->path, w->l.method_ids[m], why);
        }
    }
    H5Gclose(gm);
    return 0;
}

static int write_root_attrs(PcLayoutWriter *w, const PcStoreMeta *meta, const char *key, const char *start_time,
                            PcError *err) {
    const PcStoreLayout *l = &w->l;
    hsize_t k = (hsize_t)l->n_methods;
    const char **ids = xmalloc((size_t)(k ? k : 1) * sizeof(char *));
    for (int m = 0; m < l->n_methods; m++) ids[m] = l->method_ids[m];
    hid_t sp = H5Screate_simple(1, &k, NULL);
    hid_t a = H5Acreate2(w->file, "method_ids", w->str_type, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, w->str_type, ids) >= 0;
    ok = !pc_h5_close_written(a) && ok;
    H5Sclose(sp);
    free(ids);
    int64_t shard[2] = {meta->shard_count > 0 ? meta->shard_index : 0, meta->shard_count > 0 ? meta->shard_count : 1};
    const char *text[][2] = {{"config", meta->config}, {"config_source", meta->config_source}, {"config_key", key},
                             {"weights_checksum", meta->weights_checksum}, {"version", meta->version},
                             {"git_commit", meta->git_commit ? meta->git_commit : "unknown"},
                             {"libraries", meta->libraries}, {"device", meta->device}, {"start_time", start_time},
                             {"end_time", ""}};
    for (size_t i = 0; ok && i < sizeof text / sizeof text[0]; i++)
        ok = !pc_h5_set_str_attr(w->file, text[i][0], text[i][1] ? text[i][1] : "");
    ok = ok && !pc_h5_set_i64_attr(w->file, "map_side", l->size) && !pc_h5_set_i64_attr(w->file, "steps", l->steps) &&
         !pc_h5_set_i64s_attr(w->file, "shard", shard, 2) && !pc_h5_set_i64_attr(w->file, "n_images", l->n_images) &&
         !pc_h5_set_i64_attr(w->file, "n_done", 0) && !pc_h5_set_i64_attr(w->file, "complete", 0);
    return ok ? 0 : pc_fail(err, "%s: cannot write the root attributes%s", w->path, pc_h5_why());
}

PcLayoutWriter *pc_layout_create(const char *path, const PcStoreLayout *l, const PcStoreImages *im,
                                 const PcStoreMeta *meta, const char *key, const char *start_time, PcError *err) {
    PcLayoutWriter *w = xcalloc(1, sizeof *w);
    w->path = strdup(path);
    w->l = *l;
    w->file = w->half_type = w->str_type = w->d_class = w->d_score = w->d_status = w->d_done = -1;
    w->sets = xmalloc((size_t)N_SETS * (size_t)(l->n_methods > 0 ? l->n_methods : 1) * sizeof(hid_t));
    for (int i = 0; i < N_SETS * l->n_methods; i++) w->sets[i] = -1;
    w->half_buf = xmalloc((size_t)l->size * (size_t)l->size * sizeof(uint16_t));
    w->half_type = pc_h5_half_type();
    w->str_type = pc_h5_str_type(H5T_CSET_UTF8);
    w->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    int rc = w->file < 0 ? pc_fail(err, "%s: cannot create the HDF5 file%s", path, pc_h5_why()) : 0;
    if (!rc) rc = create_images(w, im, err);
    if (!rc) rc = create_methods(w, err);
    if (!rc) rc = pc_run_data_write(w->file, path, meta->run_data, meta->n_run_data, err);
    PcError e;
    if (!rc && meta->write_extra && meta->write_extra(w->file, meta->extra, &e))
        rc = pc_fail(err, "%s: %s", path, e.msg);   // the extra's message names the data, not the file
    if (!rc) rc = write_root_attrs(w, meta, key, start_time, err);
    if (!rc) rc = pc_layout_flush(w, err);
    if (rc) {
        pc_layout_close(w);
        return NULL;
    }
    return w;
}

int pc_layout_write(PcLayoutWriter *w, const PcImageResult *r, int n_done, PcError *err) {
    const PcStoreLayout *l = &w->l;
    hsize_t i = (hsize_t)r->index;
    char *status = pc_utf8_clean(r->status);
    int ok = pc_h5_write_row(w->d_class, i, H5T_NATIVE_INT, &r->cls) == 0 &&
             pc_h5_write_row(w->d_score, i, H5T_NATIVE_FLOAT, &r->score) == 0 &&
             pc_h5_write_row(w->d_status, i, w->str_type, &status) == 0;
    free(status);
    if (!ok) return pc_fail(err, "%s: cannot write /images of image %d%s", w->path, r->index, pc_h5_why());
    size_t ss = (size_t)l->size * (size_t)l->size, t = (size_t)l->steps;
    for (int m = 0; m < l->n_methods; m++) {
        const hid_t *sets = w->sets + (size_t)m * N_SETS;
        const float *map = r->maps + (size_t)m * ss;
        if (l->maps == PC_MAPS_F16) {
            for (size_t k = 0; k < ss; k++) w->half_buf[k] = pc_f32_to_f16(map[k]);
            ok = pc_h5_write_row(sets[SET_MAP], i, w->half_type, w->half_buf) == 0;
        } else if (l->maps == PC_MAPS_F32) {
            ok = pc_h5_write_row(sets[SET_MAP], i, H5T_NATIVE_FLOAT, map) == 0;
        }
        if (ok && l->insertion)
            ok = pc_h5_write_row(sets[SET_INS_AUC], i, H5T_NATIVE_DOUBLE, &r->ins_auc[m]) == 0 &&
                 pc_h5_write_row(sets[SET_INS_SCORES], i, H5T_NATIVE_FLOAT, r->ins_scores + m * t) == 0;
        if (ok && l->deletion)
            ok = pc_h5_write_row(sets[SET_DEL_AUC], i, H5T_NATIVE_DOUBLE, &r->del_auc[m]) == 0 &&
                 pc_h5_write_row(sets[SET_DEL_SCORES], i, H5T_NATIVE_FLOAT, r->del_scores + m * t) == 0;
        if (ok && l->sensitivity) ok = pc_h5_write_row(sets[SET_SENS], i, H5T_NATIVE_DOUBLE, &r->sens[m]) == 0;
        if (ok && l->localisation)
            ok = pc_h5_write_row(sets[SET_ENERGY], i, H5T_NATIVE_DOUBLE, &r->energy[m]) == 0 &&
                 pc_h5_write_row(sets[SET_POINTING], i, H5T_NATIVE_INT, &r->pointing[m]) == 0;
        if (!ok)
            return pc_fail(err, "%s: cannot write /methods/%s of image %d%s", w->path, l->method_ids[m], r->index,
                           pc_h5_why());
    }
    unsigned char one = 1;
    if (pc_h5_write_row(w->d_done, i, H5T_NATIVE_UCHAR, &one))
        return pc_fail(err, "%s: cannot write /images/done%s", w->path, pc_h5_why());
    if (pc_h5_set_i64_attr(w->file, "n_done", n_done))
        return pc_fail(err, "%s: cannot update n_done%s", w->path, pc_h5_why());
    return 0;
}

int pc_layout_flush(PcLayoutWriter *w, PcError *err) {
    if (H5Fflush(w->file, H5F_SCOPE_LOCAL) < 0) return pc_fail(err, "%s: cannot flush%s", w->path, pc_h5_why());
    return 0;
}

int pc_layout_finish(PcLayoutWriter *w, PcError *err) {
    char end_time[64];
    iso_time_now(end_time, sizeof end_time);
    int rc = 0;
    if (pc_h5_set_str_attr(w->file, "end_time", end_time) || pc_h5_set_i64_attr(w->file, "complete", 1))
        rc = pc_fail(err, "%s: cannot write the closing attributes%s", w->path, pc_h5_why());
    if (!rc) rc = pc_layout_flush(w, err);
    char *path = strdup(w->path);
    int bad = 0;
    hid_t f = writer_release(w, &bad);
    if (bad && !rc) rc = pc_fail(err, "%s: cannot close a dataset%s", path, pc_h5_why());
    // the file's cached metadata is written here: a failed close is an incomplete file
    if (H5Fclose(f) < 0 && !rc) rc = pc_fail(err, "%s: cannot close%s", path, pc_h5_why());
    free(path);
    return rc;
}

// ---- reading ----------------------------------------------------------------------------------

// Method ids, map format and curves (from the datasets of the first method), map side and steps
// (attributes; older files: the datasets' shapes).
static int read_layout(PcResultFile *rf, PcError *err) {
    PcStoreLayout *l = &rf->layout;
    hid_t a = H5Aexists(rf->f, "method_ids") > 0 ? H5Aopen(rf->f, "method_ids", H5P_DEFAULT) : -1;
    if (a < 0) return pc_fail(err, "%s: not a polycam-eval result file (no method_ids attribute)", rf->path);
    size_t n_ids = 0;
    char **tmp = pc_h5_read_strings(a, 1, &n_ids);
    H5Aclose(a);
    int n = (int)n_ids;
    rf->ids = xcalloc((size_t)(n > 0 ? n : 1), PC_METHOD_ID_LEN);
    for (int m = 0; tmp && m < n; m++) snprintf(rf->ids[m], PC_METHOD_ID_LEN, "%s", tmp[m]);
    pc_h5_free_strings(tmp, n_ids);
    if (!tmp || n < 1) return pc_fail(err, "%s: cannot read method_ids", rf->path);
    l->n_methods = n;
    l->method_ids = rf->ids;
    l->n_images = rf->n;
    char name[256];
    hsize_t first, last;
    snprintf(name, sizeof name, "/methods/%s/map", rf->ids[0]);
    hid_t d = pc_h5_open_if(rf->f, name);
    if (d >= 0) {
        hid_t dt = H5Dget_type(d);
        l->maps = H5Tget_size(dt) == 2 ? PC_MAPS_F16 : PC_MAPS_F32;
        H5Tclose(dt);
        H5Dclose(d);
    }
    l->size = (int)pc_h5_read_i64_attr(rf->f, "map_side", 0);
    if (!l->size && pc_h5_dims(rf->f, name, &first, &last) == 0) l->size = (int)last;
    l->steps = (int)pc_h5_read_i64_attr(rf->f, "steps", 0);
    for (int c = 0; c < 2; c++) {
        const char *curve = c ? "deletion" : "insertion";
        snprintf(name, sizeof name, "/methods/%s/%s", rf->ids[0], curve);
        *(c ? &l->deletion : &l->insertion) = H5Lexists(rf->f, name, H5P_DEFAULT) > 0;
        snprintf(name, sizeof name, "/methods/%s/%s/scores", rf->ids[0], curve);
        if (!l->steps && pc_h5_dims(rf->f, name, &first, &last) == 0) l->steps = (int)last;
    }
    snprintf(name, sizeof name, "/methods/%s/sensitivity", rf->ids[0]);
    l->sensitivity = H5Lexists(rf->f, name, H5P_DEFAULT) > 0;
    snprintf(name, sizeof name, "/methods/%s/localisation", rf->ids[0]);
    l->localisation = H5Lexists(rf->f, name, H5P_DEFAULT) > 0;
    return 0;
}

// /images/name, index, label, done, status.
static int read_images(PcResultFile *rf, PcError *err) {
    size_t n = 0, n_status = 0;
    hid_t d = pc_h5_open_if(rf->f, "/images/name");
    if (d >= 0) {
        rf->names = pc_h5_read_strings(d, 0, &n);
        H5Dclose(d);
    }
    rf->n = (int)n;
    if (!rf->names) return pc_fail(err, "%s: cannot read /images/name", rf->path);
    d = pc_h5_open_if(rf->f, "/images/status");
    if (d >= 0) {
        rf->status = pc_h5_read_strings(d, 0, &n_status);
        H5Dclose(d);
    }
    rf->index = pc_h5_read_ints(rf->f, "/images/index", n);
    rf->label = pc_h5_read_ints(rf->f, "/images/label", n);
    rf->done = pc_h5_read_ints(rf->f, "/images/done", n);
    if (!rf->status || n_status != n || !rf->index || !rf->label || !rf->done)
        return pc_fail(err, "%s: cannot read /images/status, index, label or done", rf->path);
    for (size_t i = 0; i < n; i++) rf->n_done += rf->done[i] == 1;
    rf->d_class = pc_h5_open_if(rf->f, "/images/class");
    rf->d_score = pc_h5_open_if(rf->f, "/images/score");
    if (rf->d_class < 0 || rf->d_score < 0)
        return pc_fail(err, "%s: /images datasets missing", rf->path);
    return 0;
}

static int open_sets(PcResultFile *rf, PcError *err) {
    const PcStoreLayout *l = &rf->layout;
    const int want[N_SETS] = {l->maps != PC_MAPS_NONE, l->insertion, l->insertion, l->deletion, l->deletion,
                              l->sensitivity, l->localisation, l->localisation};
    rf->sets = xmalloc((size_t)N_SETS * (size_t)l->n_methods * sizeof(hid_t));
    for (int i = 0; i < N_SETS * l->n_methods; i++) rf->sets[i] = -1;
    for (int m = 0; m < l->n_methods; m++) {
        for (int k = 0; k < N_SETS; k++) {
            if (!want[k]) continue;
            char name[256];
            snprintf(name, sizeof name, "/methods/%s/%s", l->method_ids[m], set_suffix[k]);
            if ((rf->sets[m * N_SETS + k] = pc_h5_open_if(rf->f, name)) < 0)
                return pc_fail(err, "%s: %s missing", rf->path, name);
        }
    }
    return 0;
}

int pc_results_open(PcResultFile *rf, const char *path, PcError *err) {
    memset(rf, 0, sizeof *rf);
    rf->path = strdup(path);
    rf->d_class = rf->d_score = -1;
    rf->f = pc_h5_open_read(path);
    if (rf->f < 0) return pc_fail(err, "%s: cannot open as HDF5", path);
    if (read_images(rf, err) || read_layout(rf, err) || open_sets(rf, err)) return -1;
    rf->config = pc_h5_read_root_attr(rf->f, "config");
    rf->config_key = pc_h5_read_root_attr(rf->f, "config_key");
    rf->config_source = pc_h5_read_root_attr(rf->f, "config_source");
    rf->device = pc_h5_read_root_attr(rf->f, "device");
    rf->libraries = pc_h5_read_root_attr(rf->f, "libraries");
    rf->weights_checksum = pc_h5_read_root_attr(rf->f, "weights_checksum");
    rf->complete = pc_h5_read_i64_attr(rf->f, "complete", 0) == 1;
    int64_t shard[2];
    int has_shard = pc_h5_read_i64s_attr(rf->f, "shard", shard, 2) == 0;
    rf->shard_index = has_shard ? (int)shard[0] : -1;
    rf->shard_count = has_shard ? (int)shard[1] : -1;
    if (!rf->config_key) return pc_fail(err, "%s: not a polycam-eval result file (no config_key)", path);
    return 0;
}

int pc_results_read(const PcResultFile *rf, int row, PcImageResult *r, PcError *err) {
    const int added = pc_journal_rows_read(rf->journal, row, r);
    if (added) return added > 0 ? 0 : pc_fail(err, "%s: cannot read the results of image %d (%s) back from its journal",
                                              rf->path, row, rf->names[row]);
    const PcStoreLayout *l = &rf->layout;
    hsize_t i = (hsize_t)row;
    int ok = pc_h5_read_row(rf->d_class, i, H5T_NATIVE_INT, &r->cls) == 0 &&
             pc_h5_read_row(rf->d_score, i, H5T_NATIVE_FLOAT, &r->score) == 0;
    snprintf(r->status, sizeof r->status, "%s", rf->status[row]);
    const size_t ss = (size_t)l->size * l->size, t = (size_t)l->steps;
    for (int m = 0; ok && m < l->n_methods; m++) {
        const hid_t *sets = rf->sets + (size_t)m * N_SETS;
        if (l->maps != PC_MAPS_NONE) ok = pc_h5_read_row(sets[SET_MAP], i, H5T_NATIVE_FLOAT, r->maps + m * ss) == 0;
        if (ok && l->insertion)
            ok = pc_h5_read_row(sets[SET_INS_AUC], i, H5T_NATIVE_DOUBLE, &r->ins_auc[m]) == 0 &&
                 pc_h5_read_row(sets[SET_INS_SCORES], i, H5T_NATIVE_FLOAT, r->ins_scores + m * t) == 0;
        if (ok && l->deletion)
            ok = pc_h5_read_row(sets[SET_DEL_AUC], i, H5T_NATIVE_DOUBLE, &r->del_auc[m]) == 0 &&
                 pc_h5_read_row(sets[SET_DEL_SCORES], i, H5T_NATIVE_FLOAT, r->del_scores + m * t) == 0;
        if (ok && l->sensitivity) ok = pc_h5_read_row(sets[SET_SENS], i, H5T_NATIVE_DOUBLE, &r->sens[m]) == 0;
        if (ok && l->localisation)
            ok = pc_h5_read_row(sets[SET_ENERGY], i, H5T_NATIVE_DOUBLE, &r->energy[m]) == 0 &&
                 pc_h5_read_row(sets[SET_POINTING], i, H5T_NATIVE_INT, &r->pointing[m]) == 0;
    }
    return ok ? 0 : pc_fail(err, "%s: cannot read the results of image %d (%s)", rf->path, row, rf->names[row]);
}

double *pc_results_auc(const PcResultFile *rf, int m, int deletion) {
    char name[256];
    snprintf(name, sizeof name, "/methods/%s/%s/auc", rf->ids[m], deletion ? "deletion" : "insertion");
    double *v = pc_h5_read_f64(rf->f, name, (size_t)rf->n);
    pc_journal_rows_f64(rf->journal, m, deletion ? "deletion/auc" : "insertion/auc", v);
    return v;
}

float *pc_results_scores(const PcResultFile *rf, int m, int deletion) {
    const int t = rf->layout.steps;
    hid_t d = rf->sets[(size_t)m * N_SETS + (deletion ? SET_DEL_SCORES : SET_INS_SCORES)];
    if (d < 0 || t <= 0 || rf->n <= 0) return NULL;
    float *v = xmalloc((size_t)rf->n * t * sizeof(float));
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        free(v);
        return NULL;
    }
    pc_journal_rows_scores(rf->journal, m, deletion, v);
    return v;
}

int pc_results_map(const PcResultFile *rf, int m, int row, float *out) {
    hid_t d = rf->sets[(size_t)m * N_SETS + SET_MAP];
    if (d < 0 || rf->layout.maps == PC_MAPS_NONE) return -1;
    const int added = pc_journal_rows_map(rf->journal, m, row, out);
    if (added) return added > 0 ? 0 : -1;
    return pc_h5_read_row(d, (hsize_t)row, H5T_NATIVE_FLOAT, out);
}

double *pc_results_extra(const PcResultFile *rf, int m, const char *what) {
    char name[256];
    snprintf(name, sizeof name, "/methods/%s/%s", rf->ids[m], what);
    double *v = pc_h5_read_f64(rf->f, name, (size_t)rf->n);
    pc_journal_rows_f64(rf->journal, m, what, v);
    return v;
}

int *pc_results_pointing(const PcResultFile *rf, int m) {
    hid_t d = rf->sets[(size_t)m * N_SETS + SET_POINTING];
    if (d < 0 || rf->n <= 0) return NULL;
    int *v = xmalloc((size_t)rf->n * sizeof(int));
    if (H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        free(v);
        return NULL;
    }
    pc_journal_rows_pointing(rf->journal, m, v);
    return v;
}

void pc_results_close(PcResultFile *rf) {
    pc_journal_rows_free(rf->journal);
    for (int i = 0; rf->sets && i < N_SETS * rf->layout.n_methods; i++)
        if (rf->sets[i] >= 0) H5Dclose(rf->sets[i]);
    free(rf->sets);
    hid_t h[] = {rf->d_class, rf->d_score};
    for (int i = 0; i < 2; i++)
        if (h[i] >= 0) H5Dclose(h[i]);
    pc_h5_free_strings(rf->names, (size_t)rf->n);
    pc_h5_free_strings(rf->status, rf->status ? (size_t)rf->n : 0);
    free(rf->index);
    free(rf->label);
    free(rf->done);
    free(rf->ids);
    char *s[] = {rf->config, rf->config_key, rf->config_source, rf->device, rf->libraries, rf->weights_checksum,
                 rf->path};
    for (int i = 0; i < 7; i++) free(s[i]);
    if (rf->f >= 0) H5Fclose(rf->f);
    memset(rf, 0, sizeof *rf);
    rf->f = -1;
}
