// layout.c: the result file layout of layout.h: results in memory and in the journal, the HDF5
// writer (every call checked, failures name the file, the dataset and the system's reason) and
// the reader used by merge.c and table.c.
#define _GNU_SOURCE
#include "layout.h"
#include "run_data.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "description.h"
#include "h5shape.h"
#include "h5util.h"
#include "refclass.h"
#include "safe_text.h"
#include "extra_sets.h"

#define STATUS_BYTES 512
enum { SET_MAP, SET_INS_AUC, SET_INS_SCORES, SET_DEL_AUC, SET_DEL_SCORES, SET_SENS, SET_ENERGY, SET_POINTING,
       SET_SENS_AVG, SET_POINT_TOL, SET_RANK, N_SETS };
static const char *const set_suffix[N_SETS] = {"map", "insertion/auc", "insertion/scores", "deletion/auc",
                                               "deletion/scores", "sensitivity", "localisation/energy",
                                               "localisation/pointing", "sensitivity_avg",
                                               "localisation/pointing_tol", "localisation/rank"};

// ---- results ----------------------------------------------------------------------------------

int pc_layout_extra_width(const PcStoreLayout *l) {
    int w = 0;
    for (int k = 0; k < l->n_extra; k++) w += l->extra[k].width;
    return w;
}

int pc_layout_difference(const PcStoreLayout *a, const PcStoreLayout *b, char *why, size_t cap) {
    const int ia[] = {a->size, a->steps, a->n_methods, (int)a->maps, a->insertion, a->deletion, a->sensitivity,
                      a->localisation, a->sensitivity_avg, a->loc_more, a->n_extra};
    const int ib[] = {b->size, b->steps, b->n_methods, (int)b->maps, b->insertion, b->deletion, b->sensitivity,
                      b->localisation, b->sensitivity_avg, b->loc_more, b->n_extra};
    static const char *const what[] = {"map_side", "steps", "method count", "map format", "insertion curves",
                                       "deletion curves", "sensitivity", "localisation", "sensitivity_avg",
                                       "pointing_tol and rank", "further metric sets"};
    for (size_t k = 0; k < sizeof ia / sizeof ia[0]; k++)
        if (ia[k] != ib[k]) {
            snprintf(why, cap, "%s %d there, %d here", what[k], ia[k], ib[k]);
            return 1;
        }
    for (int m = 0; m < a->n_methods; m++)
        if (strcmp(a->method_ids[m], b->method_ids[m])) {
            snprintf(why, cap, "method %d is %s there, %s here", m + 1, a->method_ids[m], b->method_ids[m]);
            return 1;
        }
    for (int k = 0; k < a->n_extra; k++)
        if (strcmp(a->extra[k].name, b->extra[k].name) || a->extra[k].width != b->extra[k].width) {
            snprintf(why, cap, "set %s (width %d) there, %s (width %d) here", a->extra[k].name, a->extra[k].width,
                     b->extra[k].name, b->extra[k].width);
            return 1;
        }
    return 0;
}

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
    r->sens_avg = xcalloc(m, sizeof(double));
    r->pointing_tol = xcalloc(m, sizeof(int));
    r->rank = xcalloc(m, sizeof(double));
    r->extra = xcalloc(m * (size_t)pc_layout_extra_width(l) + 1, sizeof(double));
}

void pc_result_reset(PcImageResult *r, const PcStoreLayout *l, int index) {
    size_t m = (size_t)l->n_methods, t = m * (size_t)l->steps;
    r->index = index;
    snprintf(r->status, sizeof r->status, "ok");
    r->cls = -1;
    r->score = NAN;
    memset(r->maps, 0, m * (size_t)l->size * (size_t)l->size * sizeof(float));
    for (size_t i = 0; i < m; i++) r->ins_auc[i] = r->del_auc[i] = r->sens[i] = r->energy[i] = NAN;
    for (size_t i = 0; i < m; i++) r->pointing[i] = r->pointing_tol[i] = -1;
    for (size_t i = 0; i < m * (size_t)pc_layout_extra_width(l); i++) r->extra[i] = NAN;
    for (size_t i = 0; i < m; i++) r->sens_avg[i] = r->rank[i] = NAN;
    for (size_t i = 0; i < t; i++) r->ins_scores[i] = r->del_scores[i] = NAN;
}

// The parts of a status ("; "-joined; method ids hold no "; "): bit 1 for each part ending with
// the NaN-map suffix, 2 the no-map one, 4 any other part.
static int status_parts(const char *status) {
    int kinds = 0;
    for (const char *p = status;;) {
        const char *e = strstr(p, "; ");
        size_t n = e ? (size_t)(e - p) : strlen(p), a = strlen(PC_STATUS_NAN_MAP), b = strlen(PC_STATUS_NO_MAP);
        if (n > a && !strncmp(p + n - a, PC_STATUS_NAN_MAP, a)) kinds |= 1;
        else if (n > b && !strncmp(p + n - b, PC_STATUS_NO_MAP, b)) kinds |= 2;
        else kinds |= 4;
        if (!e) return kinds;
        p = e + 2;
    }
}

int pc_status_is_nan_map(const char *status) { return (status_parts(status) & 5) == 1; }
int pc_status_is_no_map(const char *status) { return (status_parts(status) & 6) == 2; }

int pc_status_usable(const char *status) { return !strcmp(status, "ok") || !(status_parts(status) & 4); }

// "a, b and 3 more<suffix>" at buf + len: ids that do not fit (with room for tail) are counted.
static size_t status_part(char *buf, size_t cap, size_t len, const char *const *ids, int n, const char *suffix,
                          size_t tail) {
    int k = 0;
    for (; k < n && len + strlen(ids[k]) + 2 + tail < cap; k++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", k ? ", " : "", ids[k]);
    if (k < n) len += (size_t)snprintf(buf + len, cap - len, " and %d more", n - k);
    len += (size_t)snprintf(buf + len, cap - len, "%s", suffix);
    return len < cap ? len : cap - 1;
}

void pc_status_partial_maps(char *buf, size_t cap, const char *const *nan_ids, int n_nan,
                            const char *const *absent_ids, int n_absent) {
    // room for " and N more", the suffixes and the no-map part's first id
    const size_t tail_nan = strlen(PC_STATUS_NAN_MAP) + 24 + (n_absent ? strlen(PC_STATUS_NO_MAP) + 128 : 0);
    size_t len = 0;
    buf[0] = 0;
    if (n_nan) len = status_part(buf, cap, len, nan_ids, n_nan, PC_STATUS_NAN_MAP, tail_nan);
    if (n_nan && n_absent && len + 2 < cap) len += (size_t)snprintf(buf + len, cap - len, "; ");
    if (n_absent && len + 1 < cap) status_part(buf, cap, len, absent_ids, n_absent, PC_STATUS_NO_MAP, strlen(PC_STATUS_NO_MAP) + 24);
}

void pc_status_nan_maps(char *buf, size_t cap, const char *const *ids, int n) {
    pc_status_partial_maps(buf, cap, ids, n, NULL, 0);
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
    free(r->sens_avg);
    free(r->pointing_tol);
    free(r->rank);
    free(r->extra);
    memset(r, 0, sizeof *r);
}

void pc_result_copy(PcImageResult *dst, const PcImageResult *src, const PcStoreLayout *l) {
    const size_t m = (size_t)l->n_methods, t = m * (size_t)l->steps;
    dst->cls = src->cls;
    dst->score = src->score;
    memcpy(dst->status, src->status, sizeof dst->status);
    if (dst->maps && src->maps) memcpy(dst->maps, src->maps, m * (size_t)l->size * (size_t)l->size * sizeof(float));
    memcpy(dst->ins_auc, src->ins_auc, m * sizeof(double));
    memcpy(dst->del_auc, src->del_auc, m * sizeof(double));
    memcpy(dst->ins_scores, src->ins_scores, t * sizeof(float));
    memcpy(dst->del_scores, src->del_scores, t * sizeof(float));
    memcpy(dst->sens, src->sens, m * sizeof(double));
    memcpy(dst->energy, src->energy, m * sizeof(double));
    memcpy(dst->pointing, src->pointing, m * sizeof(int));
    memcpy(dst->sens_avg, src->sens_avg, m * sizeof(double));
    memcpy(dst->pointing_tol, src->pointing_tol, m * sizeof(int));
    memcpy(dst->rank, src->rank, m * sizeof(double));
    memcpy(dst->extra, src->extra, m * (size_t)pc_layout_extra_width(l) * sizeof(double));
}

static size_t map_elem_bytes(const PcStoreLayout *l) {
    return l->maps == PC_MAPS_F16 ? 2 : l->maps == PC_MAPS_F32 ? 4 : 0;
}

size_t pc_result_bytes(const PcStoreLayout *l) {
    size_t per_method = (size_t)l->size * (size_t)l->size * map_elem_bytes(l) + 2 * sizeof(double) +
                        (size_t)(l->insertion + l->deletion) * (size_t)l->steps * sizeof(float) +
                        (l->sensitivity ? sizeof(double) : 0) +
                        (l->localisation ? sizeof(double) + sizeof(int32_t) : 0) +
                        (l->sensitivity_avg ? sizeof(double) : 0) +
                        (l->loc_more ? sizeof(double) + sizeof(int32_t) : 0) +
                        (size_t)pc_layout_extra_width(l) * sizeof(double);
    return sizeof(int32_t) + sizeof(float) + STATUS_BYTES + (size_t)l->n_methods * per_method;
}

// Record: i32 class, f32 score, status[512], then per method: map (S*S in the stored precision),
// f64 ins AUC, f64 del AUC, ins scores (T f32, when computed), del scores (same), f64 sensitivity
// (when computed), with localisation f64 energy and i32 pointing, then f64 avg-sensitivity (when
// stored), i32 pointing_tol and f64 rank (when stored).
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
        if (l->sensitivity_avg) memcpy(out, &r->sens_avg[m], 8), out += 8;
        if (l->loc_more) {
            int32_t hit = r->pointing_tol[m];
            memcpy(out, &hit, 4), out += 4;
            memcpy(out, &r->rank[m], 8), out += 8;
        }
        const size_t xw = (size_t)pc_layout_extra_width(l);   // the extra sets, doubles
        memcpy(out, r->extra + m * xw, xw * 8), out += xw * 8;
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
        if (l->sensitivity_avg) memcpy(&r->sens_avg[m], in, 8), in += 8;
        if (l->loc_more) {
            int32_t hit;
            memcpy(&hit, in, 4), in += 4;
            memcpy(&r->rank[m], in, 8), in += 8;
            r->pointing_tol[m] = hit;
        }
        const size_t xw = (size_t)pc_layout_extra_width(l);
        memcpy(r->extra + m * xw, in, xw * 8), in += xw * 8;
    }
}

// ---- writing ----------------------------------------------------------------------------------

struct PcLayoutWriter {
    char *path;
    PcStoreLayout l;
    hid_t file, half_type, str_type;
    hid_t d_class, d_score, d_status, d_done;
    hid_t *sets;            // (N_SETS, n_methods)
    hid_t *xsets;           // (n_methods, n_extra)
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
    for (int i = 0; w->xsets && i < w->l.n_extra * w->l.n_methods; i++) rc |= close_set(&w->xsets[i]);
    if (rc && bad) *bad = 1;
    if (w->half_type >= 0) H5Tclose(w->half_type);
    if (w->str_type >= 0) H5Tclose(w->str_type);
    hid_t f = w->file;
    free(w->sets);
    free(w->xsets);
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

static hid_t extra_file_type(PcExtraType t) {
    return t == PC_EXTRA_F64 ? H5T_IEEE_F64LE : t == PC_EXTRA_F32 ? H5T_IEEE_F32LE : H5T_STD_I8LE;
}

// The extra sets of method m in its group g (the groups on the way created), with their
// descriptions. 0, or -1.
static int create_extra(PcLayoutWriter *w, hid_t g, int m) {
    const PcStoreLayout *l = &w->l;
    const double nand = NAN;
    const signed char minus_one = -1;
    const float nanf_ = NAN;
    for (int k = 0; k < l->n_extra; k++) {
        const PcExtraSet *e = &l->extra[k];
        char grp[48];
        snprintf(grp, sizeof grp, "%s", e->name);
        char *slash = strrchr(grp, '/');
        if (slash) {
            *slash = 0;
            hid_t gg = H5Lexists(g, grp, H5P_DEFAULT) > 0 ? H5Gopen2(g, grp, H5P_DEFAULT)
                                                          : H5Gcreate2(g, grp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            if (gg < 0) return -1;
            H5Gclose(gg);
        }
        hsize_t dims[2] = {(hsize_t)l->n_images, (hsize_t)e->width};
        const void *fill = e->type == PC_EXTRA_I8 ? (const void *)&minus_one
                           : e->type == PC_EXTRA_F32 ? (const void *)&nanf_ : (const void *)&nand;
        hid_t d = pc_h5_create_dataset(g, e->name, extra_file_type(e->type), e->width > 1 ? 2 : 1, dims, NULL, fill);
        w->xsets[(size_t)m * l->n_extra + k] = d;
        if (d < 0 || (e->description && pc_h5_set_str_attr(d, "description", e->description))) return -1;
    }
    return 0;
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
    if (ok && l->sensitivity_avg) {
        sets[SET_SENS_AVG] = pc_h5_create_dataset(g, "sensitivity_avg", H5T_IEEE_F64LE, 1, &n, NULL, &nand);
        ok = sets[SET_SENS_AVG] >= 0;
    }
    if (ok && l->loc_more) {
        signed char minus_one = -1;
        hid_t gl = H5Gopen2(g, "localisation", H5P_DEFAULT);
        sets[SET_POINT_TOL] = gl >= 0 ? pc_h5_create_dataset(gl, "pointing_tol", H5T_STD_I8LE, 1, &n, NULL, &minus_one) : -1;
        sets[SET_RANK] = gl >= 0 ? pc_h5_create_dataset(gl, "rank", H5T_IEEE_F64LE, 1, &n, NULL, &nand) : -1;
        if (gl >= 0) H5Gclose(gl);
        ok = sets[SET_POINT_TOL] >= 0 && sets[SET_RANK] >= 0 &&
             !pc_h5_set_i64_attr(sets[SET_POINT_TOL], "tolerance", l->pointing_tol);
    }
    if (ok && l->n_extra) ok = create_extra(w, g, m) == 0;
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
    w->xsets = xmalloc((size_t)(l->n_extra * l->n_methods + 1) * sizeof(hid_t));
    for (int i = 0; i < l->n_extra * l->n_methods; i++) w->xsets[i] = -1;
    w->half_buf = xmalloc((size_t)l->size * (size_t)l->size * sizeof(uint16_t));
    w->half_type = pc_h5_half_type();
    w->str_type = pc_h5_str_type(H5T_CSET_UTF8);
    w->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    int rc = w->file < 0 ? pc_fail(err, "%s: cannot create the HDF5 file%s", path, pc_h5_why()) : 0;
    if (!rc) rc = create_images(w, im, err);
    if (!rc) rc = create_methods(w, err);
    if (!rc && im->reference_classes)
        rc = pc_refclasses_create(w->file, path, im->reference_classes, l->n_images, im->reference_file, err);
    if (!rc && meta->describe) rc = pc_describe_write(w->file, path, l, meta->describe, err);
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
        if (ok && l->sensitivity_avg)
            ok = pc_h5_write_row(sets[SET_SENS_AVG], i, H5T_NATIVE_DOUBLE, &r->sens_avg[m]) == 0;
        if (ok && l->loc_more)
            ok = pc_h5_write_row(sets[SET_POINT_TOL], i, H5T_NATIVE_INT, &r->pointing_tol[m]) == 0 &&
                 pc_h5_write_row(sets[SET_RANK], i, H5T_NATIVE_DOUBLE, &r->rank[m]) == 0;
        const double *xv = r->extra + (size_t)m * pc_layout_extra_width(l);
        for (int k = 0; ok && k < l->n_extra; k++) {
            // doubles in memory; i8 sets (flags, at most PC_ROAD_MAX wide): NaN (not computed) is stored as -1
            double row[64];
            const int conv = l->extra[k].type == PC_EXTRA_I8 && l->extra[k].width <= 64;
            for (int j = 0; conv && j < l->extra[k].width; j++) row[j] = isnan(xv[j]) ? -1.0 : xv[j];
            ok = pc_h5_write_row(w->xsets[(size_t)m * l->n_extra + k], i, H5T_NATIVE_DOUBLE, conv ? row : xv) == 0;
            xv += l->extra[k].width;
        }
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
    int rc = pc_refclasses_finish(w->file, w->path, err);   // every image is done: the agreement
    if (!rc && (pc_h5_set_str_attr(w->file, "end_time", end_time) || pc_h5_set_i64_attr(w->file, "complete", 1)))
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

// The largest map side a result file may say: [preprocess] size's upper bound (config.c). A map of
// it is 64 MiB as float32, the most a reader takes for one map (docs/hostile-inputs.md).
#define MAX_MAP_SIDE 4096

// method_ids: every id in the allowed set (safe_text.h), none twice.
static int read_ids(PcResultFile *rf, PcError *err) {
    hid_t a = H5Aexists(rf->f, "method_ids") > 0 ? H5Aopen(rf->f, "method_ids", H5P_DEFAULT) : -1;
    if (a < 0) return pc_fail(err, "%s: not a polycam-eval result file (no method_ids attribute)", rf->path);
    size_t n_ids = 0;
    char **tmp = pc_h5_read_strings(a, 1, &n_ids);
    H5Aclose(a);
    int n = tmp && n_ids < 65536 ? (int)n_ids : 0, rc = 0;
    rf->ids = xcalloc((size_t)(n > 0 ? n : 1), PC_METHOD_ID_LEN);
    for (int m = 0; m < n && !rc; m++) {
        const char *why = pc_name_problem(tmp[m], 1);
        char shown[160];
        if (why)
            rc = pc_fail(err, "%s: method id '%s' in method_ids %s (allowed: docs/hostile-inputs.md)", rf->path,
                         pc_printable(shown, sizeof shown, tmp[m]), why);
        for (int o = 0; o < m && !rc; o++)
            if (!strcmp(tmp[o], tmp[m])) rc = pc_fail(err, "%s: method id '%s' appears twice in method_ids", rf->path, tmp[m]);
        snprintf(rf->ids[m], PC_METHOD_ID_LEN, "%s", tmp[m]);
    }
    pc_h5_free_strings(tmp, n_ids);
    if (!rc && n < 1) rc = pc_fail(err, "%s: cannot read method_ids", rf->path);
    rf->layout.n_methods = rc ? 0 : n;
    rf->layout.method_ids = rf->ids;
    return rc;
}

// Method ids, map format and curves (from the datasets of the first method), map side and steps
// (attributes; older files: the datasets' shapes), each within what a run can write.
static int read_layout(PcResultFile *rf, PcError *err) {
    PcStoreLayout *l = &rf->layout;
    if (read_ids(rf, err)) return -1;
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
    int64_t size = pc_h5_read_i64_attr(rf->f, "map_side", 0), steps = pc_h5_read_i64_attr(rf->f, "steps", 0);
    if (!size && pc_h5_dims(rf->f, name, &first, &last) == 0) size = last <= MAX_MAP_SIDE ? (int64_t)last : -1;
    if (size < 0 || size > MAX_MAP_SIDE)
        return pc_fail(err, "%s: map_side = %lld, expected 1..%d (the largest [preprocess] size)", rf->path,
                       (long long)size, MAX_MAP_SIDE);
    for (int c = 0; c < 2; c++) {
        const char *curve = c ? "deletion" : "insertion";
        snprintf(name, sizeof name, "/methods/%s/%s", rf->ids[0], curve);
        *(c ? &l->deletion : &l->insertion) = H5Lexists(rf->f, name, H5P_DEFAULT) > 0;
        snprintf(name, sizeof name, "/methods/%s/%s/scores", rf->ids[0], curve);
        if (!steps && pc_h5_dims(rf->f, name, &first, &last) == 0) steps = last <= INT32_MAX ? (int64_t)last : -1;
    }
    const int64_t max_steps = size ? size * size : (int64_t)MAX_MAP_SIDE * MAX_MAP_SIDE;
    if (steps < 0 || steps > max_steps)
        return pc_fail(err, "%s: steps = %lld, expected 1..%lld (map_side squared)", rf->path, (long long)steps,
                       (long long)max_steps);
    l->size = (int)size;
    l->steps = (int)steps;
    snprintf(name, sizeof name, "/methods/%s/sensitivity", rf->ids[0]);
    l->sensitivity = H5Lexists(rf->f, name, H5P_DEFAULT) > 0;
    snprintf(name, sizeof name, "/methods/%s/localisation", rf->ids[0]);
    l->localisation = H5Lexists(rf->f, name, H5P_DEFAULT) > 0;
    snprintf(name, sizeof name, "/methods/%s/sensitivity_avg", rf->ids[0]);
    l->sensitivity_avg = H5Lexists(rf->f, name, H5P_DEFAULT) > 0;
    snprintf(name, sizeof name, "/methods/%s/localisation/rank", rf->ids[0]);
    l->loc_more = l->localisation && H5Lexists(rf->f, name, H5P_DEFAULT) > 0;
    snprintf(name, sizeof name, "/methods/%s/localisation/pointing_tol", rf->ids[0]);
    hid_t dt = l->loc_more ? pc_h5_open_if(rf->f, name) : -1;
    if (dt >= 0) {
        l->pointing_tol = (int)pc_h5_read_i64_attr(dt, "tolerance", 0);
        H5Dclose(dt);
    }
    const PcExtraSet *all;   // the perturbation metrics' sets the file has (extra_sets.h)
    const int n_all = pc_extra_sets_all(&all);
    for (int k = 0; k < n_all && l->n_extra < PC_MAX_EXTRA; k++) {
        snprintf(name, sizeof name, "/methods/%s/%s", rf->ids[0], all[k].name);
        hid_t d = pc_h5_open_if(rf->f, name);
        if (d < 0) continue;
        hid_t sp = H5Dget_space(d);
        hsize_t dims[2] = {0, 1};
        const int rank = sp >= 0 ? H5Sget_simple_extent_dims(sp, dims, NULL) : -1;
        if (sp >= 0) H5Sclose(sp);
        H5Dclose(d);
        if (rank < 1 || rank > 2 || dims[1] < 1 || dims[1] > (1 << 24)) continue;
        l->extra[l->n_extra] = all[k];
        l->extra[l->n_extra++].width = rank == 2 ? (int)dims[1] : 1;
    }
    return 0;
}

// /images/name (any count N, each name in the allowed set of safe_text.h), then index, label,
// done, status, class and score: N rows each.
static int read_images(PcResultFile *rf, PcError *err) {
    PcH5Want w = {.file = rf->path, .kind = PC_H5_STRING, .rank = 1, .dims = {PC_DIM_ANY}};
    size_t n = 0, n_status = 0;
    rf->names = pc_h5_read_strings_checked(rf->f, "/images/name", &w, &n, err);
    if (!rf->names) return -1;
    rf->n = (int)n;
    if (n > INT32_MAX) return pc_fail(err, "%s: /images/name has %zu rows", rf->path, n);
    for (size_t i = 0; i < n; i++) {
        const char *why = pc_name_problem(rf->names[i], 0);
        char shown[160];
        if (why)
            return pc_fail(err, "%s: /images/name row %zu '%s' %s (allowed: docs/hostile-inputs.md)", rf->path, i,
                           pc_printable(shown, sizeof shown, rf->names[i]), why);
    }
    char why[96];
    snprintf(why, sizeof why, "N = %zu rows of /images/name", n);
    w.dims[0] = n, w.why = why;
    rf->status = pc_h5_read_strings_checked(rf->f, "/images/status", &w, &n_status, err);
    if (!rf->status) return -1;
    w.kind = PC_H5_INT;
    if (!(rf->index = pc_h5_read_checked(rf->f, "/images/index", &w, H5T_NATIVE_INT, sizeof(int), NULL, err)) ||
        !(rf->label = pc_h5_read_checked(rf->f, "/images/label", &w, H5T_NATIVE_INT, sizeof(int), NULL, err)) ||
        !(rf->done = pc_h5_read_checked(rf->f, "/images/done", &w, H5T_NATIVE_INT, sizeof(int), NULL, err)))
        return -1;
    for (size_t i = 0; i < n; i++) rf->n_done += rf->done[i] == 1;
    if ((rf->d_class = pc_h5_open_checked(rf->f, "/images/class", &w, err)) < 0) return -1;
    w.kind = PC_H5_FLOAT;
    if ((rf->d_score = pc_h5_open_checked(rf->f, "/images/score", &w, err)) < 0) return -1;
    return 0;
}

// What dataset k of a method must be: (N), (N, steps) or (N, map_side, map_side).
static PcH5Want set_shape(const PcResultFile *rf, int k, char *why, size_t cap) {
    const PcStoreLayout *l = &rf->layout;
    const hsize_t n = (hsize_t)rf->n, s = (hsize_t)l->size;
    PcH5Want w = {.file = rf->path, .kind = k == SET_POINTING || k == SET_POINT_TOL ? PC_H5_INT : PC_H5_FLOAT, .rank = 1, .dims = {n}, .why = why};
    if (k == SET_MAP) {
        w.rank = 3, w.dims[1] = w.dims[2] = s;
        snprintf(why, cap, "N = %d images, map_side = %d", rf->n, l->size);
    } else if (k == SET_INS_SCORES || k == SET_DEL_SCORES) {
        w.rank = 2, w.dims[1] = (hsize_t)l->steps;
        snprintf(why, cap, "N = %d images, steps = %d", rf->n, l->steps);
    } else {
        snprintf(why, cap, "N = %d images", rf->n);
    }
    return w;
}

static int open_sets(PcResultFile *rf, PcError *err) {
    const PcStoreLayout *l = &rf->layout;
    const int want[N_SETS] = {l->maps != PC_MAPS_NONE, l->insertion, l->insertion, l->deletion, l->deletion,
                              l->sensitivity, l->localisation, l->localisation, l->sensitivity_avg,
                              l->loc_more, l->loc_more};
    rf->sets = xmalloc((size_t)N_SETS * (size_t)(l->n_methods > 0 ? l->n_methods : 1) * sizeof(hid_t));
    for (int i = 0; i < N_SETS * l->n_methods; i++) rf->sets[i] = -1;
    for (int m = 0; m < l->n_methods; m++) {
        for (int k = 0; k < N_SETS; k++) {
            if (!want[k]) continue;
            char name[256], why[128];
            snprintf(name, sizeof name, "/methods/%s/%s", l->method_ids[m], set_suffix[k]);
            PcH5Want w = set_shape(rf, k, why, sizeof why);
            if ((rf->sets[m * N_SETS + k] = pc_h5_open_checked(rf->f, name, &w, err)) < 0) return -1;
        }
    }
    // the extra sets: (N) or (N, width) as the first method's, in every method
    rf->xsets = xmalloc((size_t)(l->n_extra * l->n_methods + 1) * sizeof(hid_t));
    for (int i = 0; i < l->n_extra * l->n_methods; i++) rf->xsets[i] = -1;
    for (int m = 0; m < l->n_methods; m++)
        for (int k = 0; k < l->n_extra; k++) {
            char name[256], why[128];
            snprintf(name, sizeof name, "/methods/%s/%s", l->method_ids[m], l->extra[k].name);
            snprintf(why, sizeof why, "N = %d images, width %d", rf->n, l->extra[k].width);
            PcH5Want w = {.file = rf->path, .kind = l->extra[k].type == PC_EXTRA_I8 ? PC_H5_INT : PC_H5_FLOAT,
                          .rank = l->extra[k].width > 1 ? 2 : 1, .dims = {(hsize_t)rf->n, (hsize_t)l->extra[k].width},
                          .why = why};
            if ((rf->xsets[m * l->n_extra + k] = pc_h5_open_checked(rf->f, name, &w, err)) < 0) return -1;
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

// ---- rows an overlay adds (PcRowsOverlay) -------------------------------------------------------

static const PcImageResult *added_row(const PcResultFile *rf, int row) {
    return rf->overlay.values && row >= 0 && row < rf->n ? rf->overlay.values(rf->overlay.ctx, row) : NULL;
}

static int any_added(const PcResultFile *rf) {
    for (int i = 0; rf->overlay.values && i < rf->n; i++)
        if (added_row(rf, i)) return 1;
    return 0;
}

// The value of method m that dataset /methods/<id>/<what> stores for an added row r (NaN when the
// layout has no such one-value-per-image set).
static double added_value(const PcStoreLayout *l, const PcImageResult *r, int m, const char *what) {
    if (!strcmp(what, "insertion/auc")) return r->ins_auc[m];
    if (!strcmp(what, "deletion/auc")) return r->del_auc[m];
    if (!strcmp(what, "sensitivity")) return r->sens[m];
    if (!strcmp(what, "sensitivity_avg")) return r->sens_avg[m];
    if (!strcmp(what, "localisation/energy")) return r->energy[m];
    if (!strcmp(what, "localisation/rank")) return r->rank[m];
    const double *xv = r->extra + (size_t)m * pc_layout_extra_width(l);
    for (int k = 0; k < l->n_extra; xv += l->extra[k++].width)
        if (!strcmp(what, l->extra[k].name) && l->extra[k].width == 1) return xv[0];
    return NAN;
}

static void overlay_f64(const PcResultFile *rf, int m, const char *what, double *v) {
    for (int i = 0; v && i < rf->n; i++) {
        const PcImageResult *r = added_row(rf, i);
        if (r) v[i] = added_value(&rf->layout, r, m, what);
    }
}

int pc_results_read(const PcResultFile *rf, int row, PcImageResult *r, PcError *err) {
    if (added_row(rf, row))
        return rf->overlay.read(rf->overlay.ctx, row, r) == 0
                   ? 0
                   : pc_fail(err, "%s: cannot read the results of image %d (%s) back from its journal", rf->path, row,
                             rf->names[row]);
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
        if (ok && l->sensitivity_avg)
            ok = pc_h5_read_row(sets[SET_SENS_AVG], i, H5T_NATIVE_DOUBLE, &r->sens_avg[m]) == 0;
        if (ok && l->loc_more)
            ok = pc_h5_read_row(sets[SET_POINT_TOL], i, H5T_NATIVE_INT, &r->pointing_tol[m]) == 0 &&
                 pc_h5_read_row(sets[SET_RANK], i, H5T_NATIVE_DOUBLE, &r->rank[m]) == 0;
        double *xv = r->extra + (size_t)m * pc_layout_extra_width(l);
        for (int k = 0; ok && k < l->n_extra; k++) {
            ok = pc_h5_read_row(rf->xsets[m * l->n_extra + k], i, H5T_NATIVE_DOUBLE, xv) == 0;
            for (int j = 0; l->extra[k].type == PC_EXTRA_I8 && j < l->extra[k].width; j++)
                if (xv[j] < 0) xv[j] = NAN;   // -1: not computed
            xv += l->extra[k].width;
        }
    }
    return ok ? 0 : pc_fail(err, "%s: cannot read the results of image %d (%s)", rf->path, row, rf->names[row]);
}

double *pc_results_auc(const PcResultFile *rf, int m, int deletion) {
    char name[256];
    snprintf(name, sizeof name, "/methods/%s/%s/auc", rf->ids[m], deletion ? "deletion" : "insertion");
    double *v = pc_h5_read_f64(rf->f, name, (size_t)rf->n);
    overlay_f64(rf, m, deletion ? "deletion/auc" : "insertion/auc", v);
    return v;
}

float *pc_results_scores(const PcResultFile *rf, int m, int deletion, PcError *err) {
    const int t = rf->layout.steps;
    hid_t d = rf->sets[(size_t)m * N_SETS + (deletion ? SET_DEL_SCORES : SET_INS_SCORES)];
    if (err) err->msg[0] = 0;
    if (d < 0 || t <= 0 || rf->n <= 0) return NULL;
    // nothing written yet (a .partial before its first image): every value is the NaN fill
    H5D_space_status_t st;
    const int unwritten = H5Dget_space_status(d, &st) >= 0 && st == H5D_SPACE_STATUS_NOT_ALLOCATED;
    if (unwritten && !any_added(rf)) return NULL;
    char name[256];
    snprintf(name, sizeof name, "/methods/%s/%s/scores", rf->ids[m], deletion ? "deletion" : "insertion");
    if (pc_h5_budget(d, rf->path, name, (double)rf->n * t * sizeof(float), err)) return NULL;
    float *v = xmalloc((size_t)rf->n * t * sizeof(float));
    if (unwritten) {
        for (size_t k = 0; k < (size_t)rf->n * t; k++) v[k] = NAN;
    } else if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        free(v);
        pc_fail(err, "%s: cannot read %s", rf->path, name);
        return NULL;
    }
    for (int i = 0; i < rf->n; i++) {
        const PcImageResult *r = added_row(rf, i);
        if (r) memcpy(v + (size_t)i * t, (deletion ? r->del_scores : r->ins_scores) + (size_t)m * t, t * sizeof(float));
    }
    return v;
}

int pc_results_map(const PcResultFile *rf, int m, int row, float *out) {
    hid_t d = rf->sets[(size_t)m * N_SETS + SET_MAP];
    if (d < 0 || rf->layout.maps == PC_MAPS_NONE) return -1;
    if (added_row(rf, row)) {   // the whole record, maps too (the overlay keeps the last one read)
        PcImageResult r;
        pc_result_init(&r, &rf->layout);
        int rc = rf->overlay.read(rf->overlay.ctx, row, &r);
        const size_t ss = (size_t)rf->layout.size * (size_t)rf->layout.size;
        if (rc == 0) memcpy(out, r.maps + (size_t)m * ss, ss * sizeof(float));
        pc_result_free(&r);
        return rc;
    }
    return pc_h5_read_row(d, (hsize_t)row, H5T_NATIVE_FLOAT, out);
}

double *pc_results_extra(const PcResultFile *rf, int m, const char *what) {
    char name[256];
    snprintf(name, sizeof name, "/methods/%s/%s", rf->ids[m], what);
    double *v = pc_h5_read_f64(rf->f, name, (size_t)rf->n);
    overlay_f64(rf, m, what, v);
    return v;
}

static int *read_hits(const PcResultFile *rf, int m, int set) {
    hid_t d = rf->sets[(size_t)m * N_SETS + set];
    if (d < 0 || rf->n <= 0) return NULL;
    int *v = xmalloc((size_t)rf->n * sizeof(int));
    if (H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        free(v);
        return NULL;
    }
    for (int i = 0; i < rf->n; i++) {
        const PcImageResult *r = added_row(rf, i);
        if (r) v[i] = set == SET_POINT_TOL ? r->pointing_tol[m] : r->pointing[m];
    }
    return v;
}

int *pc_results_pointing(const PcResultFile *rf, int m) { return read_hits(rf, m, SET_POINTING); }

int *pc_results_pointing_tol(const PcResultFile *rf, int m) { return read_hits(rf, m, SET_POINT_TOL); }

void pc_results_close(PcResultFile *rf) {
    if (rf->overlay.free) rf->overlay.free(rf->overlay.ctx);
    for (int i = 0; rf->sets && i < N_SETS * rf->layout.n_methods; i++)
        if (rf->sets[i] >= 0) H5Dclose(rf->sets[i]);
    free(rf->sets);
    for (int i = 0; rf->xsets && i < rf->layout.n_extra * rf->layout.n_methods; i++)
        if (rf->xsets[i] >= 0) H5Dclose(rf->xsets[i]);
    free(rf->xsets);
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
