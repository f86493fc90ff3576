// sanity_file.c: /sanity of a result file (sanity_file.h).
#define _GNU_SOURCE
#include "sanity_file.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"
#include "journal.h"        // pc_hash64

const char *const pc_sim_names[PC_SIM_COUNT] = {"spearman_abs", "spearman", "ssim", "hog"};

static int write_strings(hid_t g, const char *name, const char *const *v, int n) {
    hid_t t = pc_h5_str_type(H5T_CSET_UTF8);
    hsize_t d = (hsize_t)n;
    hid_t ds = pc_h5_create_dataset(g, name, t, 1, &d, NULL, NULL);
    int rc = ds < 0 || H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0 ? -1 : 0;
    if (pc_h5_close_written(ds)) rc = -1;
    H5Tclose(t);
    return rc;
}

// A whole dataset of rank 1..4 from memory (chunked + deflated when chunk is given).
static int write_array(hid_t g, const char *name, hid_t ftype, hid_t mtype, int rank, const hsize_t *dims,
                       const hsize_t *chunk, const void *buf) {
    hid_t sp = H5Screate_simple(rank, dims, NULL), pl = H5Pcreate(H5P_DATASET_CREATE);
    if (chunk) {
        H5Pset_chunk(pl, rank, chunk);
        H5Pset_shuffle(pl);
        H5Pset_deflate(pl, 4);
    }
    hid_t d = H5Dcreate2(g, name, ftype, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    int rc = d < 0 || H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 ? -1 : 0;
    if (pc_h5_close_written(d)) rc = -1;   // the chunks still cached are written here
    H5Pclose(pl);
    H5Sclose(sp);
    return rc;
}

static int write_meta(hid_t g, const PcSanityRecord *r) {
    hsize_t dt = (hsize_t)r->n_steps, di = (hsize_t)r->n_img, d2[2] = {di, dt};
    int rc = write_strings(g, "steps", (const char *const *)r->steps, r->n_steps) ||
             write_strings(g, "methods", r->methods, r->n_meth) ||
             write_array(g, "layer_index", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &dt, NULL, r->layer_index) ||
             write_array(g, "images", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &di, NULL, r->images) ||
             write_array(g, "class", H5T_STD_I32LE, H5T_NATIVE_INT, 2, d2, NULL, r->cls) ||
             write_array(g, "score", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d2, NULL, r->score);
    return rc || pc_h5_set_i64_attr(g, "seed", (int64_t)r->seed) ||
           pc_h5_set_i64_attr(g, "images_requested", r->want) ||
           pc_h5_set_str_attr(g, "randomisation", r->independent ? "independent" : "cascading") ||
           pc_h5_set_str_attr(g, "order", r->independent
                                              ? "independent: at step t only the layer steps[t] re-initialised on the "
                                                "original network (step 0 = the original); class = the original's"
                                              : "Conv2d/Linear layers re-initialised cumulatively from the output "
                                                "layer down (steps[t] = the layer added at step t; step 0 = the "
                                                "original network)") ||
           pc_h5_set_str_attr(g, "init", "PyTorch reset_parameters(): weights and biases uniform in +-1/sqrt(fan_in) "
                                         "(Philox stream 6, sample (6<<16)|layer_index, image 0); batch norm of a "
                                         "re-initialised conv reset (weight 1, bias 0, mean 0, var 1)") ||
           pc_h5_set_str_attr(g, "measures", "Adebayo et al. 2018: spearman_abs, spearman (scipy spearmanr of "
                                             "|m|/max|m| and m/max|m|), ssim (skimage, gaussian_weights, maps min-max "
                                             "to [0,1]), hog (spearmanr of skimage hog, 16x16 cells)");
}

// maps/<id> (n_img, n_steps, S, S) of method m in the run's [output] maps format (none: not stored).
static int write_maps(hid_t mg, const char *id, const PcSanityRecord *s, int m, PcMapsFormat fmt) {
    hsize_t dm[4] = {(hsize_t)s->n_img, (hsize_t)s->n_steps, (hsize_t)s->S, (hsize_t)s->S},
            ch[4] = {1, 1, (hsize_t)s->S, (hsize_t)s->S};
    if (fmt == PC_MAPS_NONE) return 0;
    if (fmt == PC_MAPS_F32) return write_array(mg, id, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, dm, ch, (s->maps + (size_t)m * s->n_img * s->n_steps * s->S * s->S));
    const size_t n = (size_t)s->n_img * s->n_steps * s->S * s->S;
    const float *src = (s->maps + (size_t)m * s->n_img * s->n_steps * s->S * s->S);
    uint16_t *half = xmalloc(n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) half[i] = pc_f32_to_f16(src[i]);
    hid_t t = pc_h5_half_type();
    int rc = write_array(mg, id, t, t, 4, dm, ch, half);
    H5Tclose(t);
    free(half);
    return rc;
}

static int write_results(hid_t g, const PcSanityRecord *s) {
    hid_t mg = H5Gcreate2(g, "maps", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sg = H5Gcreate2(g, "similarity", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = mg < 0 || sg < 0 ? -1 : 0;
    const size_t per = (size_t)s->n_img * s->n_steps;
    hsize_t ds[2] = {(hsize_t)s->n_img, (hsize_t)s->n_steps};
    for (int m = 0; m < s->n_meth && rc == 0; m++) {
        const char *id = s->methods[m];
        rc = write_maps(mg, id, s, m, s->maps_format);
        for (int k = 0; k < PC_SIM_COUNT && rc == 0; k++) {
            hid_t kg = H5Lexists(sg, pc_sim_names[k], H5P_DEFAULT) > 0 ? H5Gopen2(sg, pc_sim_names[k], H5P_DEFAULT)
                                                                        : H5Gcreate2(sg, pc_sim_names[k], H5P_DEFAULT,
                                                                                     H5P_DEFAULT, H5P_DEFAULT);
            rc = kg < 0 ? -1
                        : write_array(kg, id, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, ds, NULL,
                                      s->sim + ((size_t)k * s->n_meth + m) * per);
            if (kg >= 0) H5Gclose(kg);
        }
    }
    if (mg >= 0) H5Gclose(mg);
    if (sg >= 0) H5Gclose(sg);
    return rc;
}

// Into a copy of the finished file, renamed over it when complete (h5util.h: pc_h5_update_begin):
// a kill while /sanity is written leaves the run's results as they were.
int pc_sanity_file_write(const char *path, const PcSanityRecord *r, PcError *err) {
    char *tmp = pc_h5_update_begin(path, err);
    if (!tmp) return -1;
    hid_t f = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT);
    int rc = f < 0 ? pc_fail(err, "%s: cannot open to add /sanity%s", tmp, pc_h5_why()) : 0;
    if (rc == 0 && H5Lexists(f, "sanity", H5P_DEFAULT) > 0) H5Ldelete(f, "sanity", H5P_DEFAULT);
    hid_t g = rc == 0 ? H5Gcreate2(f, "sanity", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    if (rc == 0 && (g < 0 || write_meta(g, r) || write_results(g, r)))
        rc = pc_fail(err, "%s: cannot write /sanity%s; the file is left as it was", path, pc_h5_why());
    if (g >= 0) H5Gclose(g);
    // the file's cached metadata is written at close: a failed close is an incomplete copy
    if (f >= 0 && H5Fclose(f) < 0 && rc == 0)
        rc = pc_fail(err, "%s: cannot write /sanity%s; the file is left as it was", path, pc_h5_why());
    return pc_h5_update_end(path, tmp, rc == 0, err) || rc ? -1 : 0;
}

int pc_sanity_file_is_current(const char *output, const char *const *methods, int n_meth, int want, uint64_t seed,
                              PcMapsFormat fmt, int independent) {
    hid_t f = pc_h5_open_read(output);
    if (f < 0) return 0;
    hid_t g = H5Lexists(f, "sanity", H5P_DEFAULT) > 0 ? H5Gopen2(f, "sanity", H5P_DEFAULT) : -1;
    char *kind = g >= 0 ? pc_h5_read_root_attr(g, "randomisation") : NULL;   // none: a cascade's
    int same = g >= 0 && pc_h5_read_i64_attr(g, "images_requested", -1) == want &&
               pc_h5_read_i64_attr(g, "seed", -1) == (int64_t)seed &&
               !strcmp(kind ? kind : "cascading", independent ? "independent" : "cascading");
    free(kind);
    hid_t d = same ? pc_h5_open_if(g, "methods") : -1;
    size_t n = 0;
    char **ids = d >= 0 ? pc_h5_read_strings(d, 0, &n) : NULL;
    same = same && ids && n == (size_t)n_meth;
    for (int m = 0; same && m < n_meth; m++) {
        const char *id = methods[m];
        char name[128];
        snprintf(name, sizeof name, "maps/%s", id);
        hid_t md = pc_h5_open_if(g, name);
        hid_t t = md >= 0 ? H5Dget_type(md) : -1;
        size_t bytes = t >= 0 ? H5Tget_size(t) : 0;
        same = !strcmp(ids[m], id) && bytes == (fmt == PC_MAPS_F16 ? 2 : fmt == PC_MAPS_F32 ? 4 : 0);
        if (t >= 0) H5Tclose(t);
        if (md >= 0) H5Dclose(md);
    }
    if (ids) pc_h5_free_strings(ids, n);
    if (d >= 0) H5Dclose(d);
    if (g >= 0) H5Gclose(g);
    H5Fclose(f);
    return same;
}

char *pc_sanity_file_output_key(const char *output) {
    hid_t f = pc_h5_open_read(output);
    if (f < 0) return NULL;
    char *start = pc_h5_read_root_attr(f, "start_time"), *key = pc_h5_read_root_attr(f, "config_key");
    H5Fclose(f);
    const uint64_t key_hash = pc_hash64(key ? key : "", key ? strlen(key) : 0, PC_HASH64_INIT);
    size_t n = (start ? strlen(start) : 0) + 96;
    char *text = xmalloc(n);
    snprintf(text, n, "output start_time = %s\noutput config_key = %016llx\n", start ? start : "",
             (unsigned long long)key_hash);
    free(start);
    free(key);
    return text;
}
