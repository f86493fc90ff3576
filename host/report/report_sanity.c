// report_sanity.c: tables and figures of a result file's /sanity group (see report_sanity.h and
// docs/measures.md "Sanity check" for the layout read here).
#define _GNU_SOURCE
#include "report_sanity.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"
#include "plot.h"
#include "similarity.h"

typedef struct {
    int n_img, n_steps, n_meth, S;
    char **steps, **methods, **img_names;   // (n_steps), (n_meth), (n_img)
    int *cls;                               // (n_img, n_steps)
    double *sim;                            // (PC_SIM_COUNT, n_meth, n_img, n_steps), NaN where absent
} SanityFile;

// A whole dataset of exactly n values as doubles (ints: as_int); 0 or -1.
static int read_all(hid_t f, const char *name, size_t n, double *d, int *i) {
    hid_t ds = pc_h5_open_if(f, name);
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds);
    int ok = H5Sget_simple_extent_npoints(sp) == (hssize_t)n;
    H5Sclose(sp);
    if (ok) ok = H5Dread(ds, d ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, d ? (void *)d : (void *)i) >= 0;
    H5Dclose(ds);
    return ok ? 0 : -1;
}

static void sanity_close(SanityFile *s) {
    if (s->steps) pc_h5_free_strings(s->steps, (size_t)s->n_steps);
    if (s->methods) pc_h5_free_strings(s->methods, (size_t)s->n_meth);
    free(s->img_names), free(s->cls), free(s->sim);
}

static char **read_strings(hid_t f, const char *name, int *n) {
    hid_t d = pc_h5_open_if(f, name);
    if (d < 0) return NULL;
    size_t k = 0;
    char **v = pc_h5_read_strings(d, 0, &k);
    H5Dclose(d);
    *n = (int)k;
    return v;
}

// 1 when the file has a readable /sanity, 0 when it has none, -1 when it is unreadable.
static int sanity_open(const PcResultFile *rf, SanityFile *s) {
    memset(s, 0, sizeof *s);
    if (H5Lexists(rf->f, "sanity", H5P_DEFAULT) <= 0) return 0;
    s->steps = read_strings(rf->f, "/sanity/steps", &s->n_steps);
    s->methods = read_strings(rf->f, "/sanity/methods", &s->n_meth);
    hsize_t first = 0, last = 0;
    if (!s->steps || !s->methods || pc_h5_dims(rf->f, "/sanity/images", &first, &last) < 0) return -1;
    s->n_img = (int)first;
    s->S = rf->layout.size > 0 ? rf->layout.size : 224;
    double *img = xcalloc((size_t)s->n_img + 1, sizeof(double));
    s->img_names = xcalloc((size_t)s->n_img + 1, sizeof(char *));
    s->cls = xcalloc((size_t)s->n_img * s->n_steps + 1, sizeof(int));
    int rc = read_all(rf->f, "/sanity/images", (size_t)s->n_img, img, NULL) ||
             read_all(rf->f, "/sanity/class", (size_t)s->n_img * s->n_steps, NULL, s->cls);
    for (int i = 0; i < s->n_img; i++)
        s->img_names[i] = img[i] >= 0 && img[i] < rf->n ? rf->names[(int)img[i]] : "?";
    free(img);
    const size_t per = (size_t)s->n_img * s->n_steps;
    s->sim = xcalloc((size_t)PC_SIM_COUNT * s->n_meth * per + 1, sizeof(double));
    for (int k = 0; k < PC_SIM_COUNT; k++)
        for (int m = 0; m < s->n_meth; m++) {
            char name[256];
            double *dst = s->sim + ((size_t)k * s->n_meth + m) * per;
            snprintf(name, sizeof name, "/sanity/similarity/%s/%s", pc_sim_names[k], s->methods[m]);
            if (read_all(rf->f, name, per, dst, NULL))
                for (size_t j = 0; j < per; j++) dst[j] = NAN;
        }
    return rc ? -1 : 1;
}

// Mean over the images of measure k, method m, step t (NaN values left out; NaN when none).
static double sim_mean(const SanityFile *s, int k, int m, int t) {
    double sum = 0;
    int n = 0;
    for (int i = 0; i < s->n_img; i++) {
        double v = s->sim[(((size_t)k * s->n_meth + m) * s->n_img + i) * s->n_steps + t];
        if (isfinite(v)) sum += v, n++;
    }
    return n ? sum / n : NAN;
}

static void table(FILE *md, const SanityFile *s, int m) {
    fprintf(md, "\n**%s** (mean over %d image%s):\n\n| Step | Re-initialised down to | Class (first image) |", s->methods[m],
            s->n_img, s->n_img == 1 ? "" : "s");
    for (int k = 0; k < PC_SIM_COUNT; k++) fprintf(md, " %s |", pc_sim_names[k]);
    fprintf(md, "\n|---:|---|---:|");
    for (int k = 0; k < PC_SIM_COUNT; k++) fprintf(md, "---:|");
    fprintf(md, "\n");
    for (int t = 0; t < s->n_steps; t++) {
        fprintf(md, "| %d | `%s` | %d |", t, s->steps[t], s->cls[t]);
        for (int k = 0; k < PC_SIM_COUNT; k++) {
            double v = sim_mean(s, k, m, t);
            if (isfinite(v)) fprintf(md, " %.4f |", v);
            else fprintf(md, " NaN |");
        }
        fprintf(md, "\n");
    }
}

// "layer4.0.downsample.0" -> "L4.0.ds", "features.28" -> "f.28", "classifier.6" -> "cls.6".
static void short_name(const char *in, char *out, size_t n) {
    static const char *const from[] = {"layer", "downsample.0", "features.", "classifier."};
    static const char *const to[] = {"L", "ds", "f.", "cls."};
    size_t u = 0;
    while (*in && u + 1 < n) {
        int hit = 0;
        for (int r = 0; r < 4 && !hit; r++) {
            size_t l = strlen(from[r]);
            if (!strncmp(in, from[r], l)) {
                u += (size_t)snprintf(out + u, n - u, "%s", to[r]);
                in += l, hit = 1;
            }
        }
        if (!hit) out[u++] = *in++;
    }
    out[u < n ? u : n - 1] = 0;
}

// Grid: methods (rows) x steps (columns) of the first checked image.
static int figure_grid(FILE *md, const char *dir, const PcResultFile *rf, const SanityFile *s, const char *label,
                       PcError *err) {
    int any = 0;
    for (int m = 0; m < s->n_meth && !any; m++) {
        char name[256];
        snprintf(name, sizeof name, "/sanity/maps/%s", s->methods[m]);
        any = H5Lexists(rf->f, name, H5P_DEFAULT) > 0;
    }
    if (!any) {
        fprintf(md, "\n(No sanity grid: the file stores no maps, `[output] maps = none`.)\n");
        return 0;
    }
    const int S = s->S, t = s->n_steps > 24 ? 64 : 96;
    const size_t tile = (size_t)t * t * 3, ss = (size_t)S * S;
    unsigned char *tiles = xcalloc((size_t)s->n_meth * s->n_steps * tile + 1, 1);
    unsigned char *present = xcalloc((size_t)s->n_meth * s->n_steps + 1, 1), *rgb = xmalloc(ss * 3);
    float *map = xmalloc(ss * sizeof(float));
    char **cols = xcalloc((size_t)s->n_steps, sizeof(char *));
    for (int c = 0; c < s->n_steps; c++) {
        cols[c] = xmalloc(64);
        short_name(s->steps[c], cols[c], 64);
    }
    for (int m = 0; m < s->n_meth; m++) {
        char name[256];
        snprintf(name, sizeof name, "/sanity/maps/%s", s->methods[m]);
        hid_t d = pc_h5_open_if(rf->f, name);
        for (int c = 0; d >= 0 && c < s->n_steps; c++) {
            hid_t sp = H5Dget_space(d);
            hsize_t off[4] = {0, (hsize_t)c, 0, 0}, cnt[4] = {1, 1, (hsize_t)S, (hsize_t)S};
            hid_t mem = H5Screate_simple(4, cnt, NULL);
            int ok = H5Sselect_hyperslab(sp, H5S_SELECT_SET, off, NULL, cnt, NULL) >= 0 &&
                     H5Dread(d, H5T_NATIVE_FLOAT, mem, sp, H5P_DEFAULT, map) >= 0;
            H5Sclose(mem), H5Sclose(sp);
            if (!ok) continue;
            pc_heat_tile(NULL, map, S, rgb);
            // nearest-neighbour shrink to the tile
            unsigned char *dst = tiles + ((size_t)m * s->n_steps + c) * tile;
            for (int i = 0; i < t; i++)
                for (int j = 0; j < t; j++)
                    memcpy(dst + ((size_t)i * t + j) * 3, rgb + ((size_t)(i * S / t) * S + j * S / t) * 3, 3);
            present[(size_t)m * s->n_steps + c] = 1;
        }
        if (d >= 0) H5Dclose(d);
    }
    char base[1024], title[512];
    snprintf(base, sizeof base, "%s/sanity_grid_%s", dir, label);
    snprintf(title, sizeof title, "%s: cascading randomisation, %s (columns: layers re-initialised from the output down)",
             label, s->img_names[0]);
    int rc = pc_plot_grid(base, title, s->n_meth, s->n_steps, t, t, tiles, present, s->methods, cols, err);
    if (!rc) fprintf(md, "\n![%s](sanity_grid_%s.png)\n", title, label);
    for (int c = 0; c < s->n_steps; c++) free(cols[c]);
    free(cols), free(tiles), free(present), free(rgb), free(map);
    return rc;
}

// One chart per measure: x = step, one line per method.
static int figure_curves(FILE *md, const char *dir, const SanityFile *s, const char *label, PcError *err) {
    double *x = xmalloc((size_t)s->n_steps * sizeof(double)), *y = xmalloc((size_t)s->n_meth * s->n_steps * sizeof(double));
    PcSeries *ser = xcalloc((size_t)s->n_meth + 1, sizeof(PcSeries));
    int rc = 0;
    for (int t = 0; t < s->n_steps; t++) x[t] = t;
    for (int k = 0; k < PC_SIM_COUNT && rc == 0; k++) {
        for (int m = 0; m < s->n_meth; m++) {
            for (int t = 0; t < s->n_steps; t++) y[(size_t)m * s->n_steps + t] = sim_mean(s, k, m, t);
            ser[m] = (PcSeries){s->methods[m], x, y + (size_t)m * s->n_steps, s->n_steps, 0, 0};
        }
        char base[1024], title[256];
        snprintf(base, sizeof base, "%s/sanity_%s_%s", dir, pc_sim_names[k], label);
        snprintf(title, sizeof title, "%s: %s of each step's map to the original", label, pc_sim_titles[k]);
        PcChart c = {title, "randomisation step (0 = original; then layers from the output down)", pc_sim_titles[k],
                     0, s->n_steps - 1, k == PC_SIM_SSIM ? -0.5 : -1, 1, 0, 0};
        rc = pc_plot_lines(base, &c, ser, s->n_meth, err);
        if (!rc) fprintf(md, "\n![%s](sanity_%s_%s.png)\n", title, pc_sim_names[k], label);
    }
    free(x), free(y), free(ser);
    return rc;
}

int pc_report_sanity(FILE *md, const char *dir, const PcResultFile *rf, const char *label, int figures,
                     PcError *err) {
    SanityFile s;
    int st = sanity_open(rf, &s);
    if (st <= 0) {
        if (st < 0) fprintf(md, "\n(`%s` has a /sanity group that cannot be read; left out.)\n", rf->path);
        sanity_close(&s);
        return 0;
    }
    fprintf(md, "\n## Sanity check: cascading randomisation (%s)\n\n", label);
    fprintf(md, "Layers re-initialised cumulatively from the output down (PyTorch's reset_parameters()); the class is "
                "recomputed at each step. Similarity of each step's map to the original map (Adebayo et al. 2018): "
                "Spearman rank correlation of |map| and of map, SSIM of the maps scaled to [0, 1], Spearman of their "
                "HOG features. Images: ");
    for (int i = 0; i < s.n_img; i++) fprintf(md, "%s`%s`", i ? ", " : "", s.img_names[i]);
    fprintf(md, ".\n");
    for (int m = 0; m < s.n_meth; m++) table(md, &s, m);
    int rc = 0;
    if (figures) rc = figure_grid(md, dir, rf, &s, label, err) || figure_curves(md, dir, &s, label, err) ? -1 : 0;
    sanity_close(&s);
    return rc;
}
