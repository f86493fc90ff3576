// report_sanity.c: tables and figures of a result file's /sanity group (see report_sanity.h and
// docs/measures.md "Sanity check" for the layout read here).
#define _GNU_SOURCE
#include "report_sanity.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5shape.h"
#include "h5util.h"
#include "plot.h"
#include "safe_text.h"
#include "similarity.h"

typedef struct {
    int n_img, n_steps, n_meth, S;
    char **steps, **methods, **img_names;   // (n_steps), (n_meth), (n_img)
    int *cls;                               // (n_img, n_steps)
    double *sim;                            // (PC_SIM_COUNT, n_meth, n_img, n_steps), NaN where absent
    int independent;                        // randomisation = independent (sanity.h)
} SanityFile;

static void sanity_close(SanityFile *s) {
    if (s->steps) pc_h5_free_strings(s->steps, (size_t)s->n_steps);
    if (s->methods) pc_h5_free_strings(s->methods, (size_t)s->n_meth);
    free(s->img_names), free(s->cls), free(s->sim);
}

// The strings of /sanity/<name>: at least one, each in the allowed set (safe_text.h; methods: the
// method id rule).
static char **read_names(const PcResultFile *rf, const char *name, int method_ids, int *n, PcError *err) {
    PcH5Want w = {.file = rf->path, .rank = 1, .dims = {PC_DIM_ANY}};
    size_t k = 0;
    char **v = pc_h5_read_strings_checked(rf->f, name, &w, &k, err);
    *n = (int)k;
    if (!v) return NULL;
    const char *why = k == 0 ? "is empty" : k > 65536 ? "has more than 65536 entries" : NULL;
    char shown[160] = "";
    for (size_t i = 0; i < k && !why; i++)
        if ((why = pc_name_problem(v[i], method_ids))) pc_printable(shown, sizeof shown, v[i]);
    if (!why) return v;
    if (shown[0]) pc_fail(err, "%s: %s entry '%s' %s (allowed: docs/hostile-inputs.md)", rf->path, name, shown, why);
    else pc_fail(err, "%s: %s %s", rf->path, name, why);
    pc_h5_free_strings(v, k);
    *n = 0;
    return NULL;
}

// /sanity/images: rows of /images (at least one).
static int read_images(const PcResultFile *rf, SanityFile *s, PcError *err) {
    PcH5Want w = {.file = rf->path, .kind = PC_H5_INT, .rank = 1, .dims = {PC_DIM_ANY}};
    size_t n = 0;
    long long *img = pc_h5_read_checked(rf->f, "/sanity/images", &w, H5T_NATIVE_LLONG, sizeof(long long), &n, err);
    if (!img) return -1;
    int rc = n == 0 ? pc_fail(err, "%s: /sanity/images is empty", rf->path) : 0;
    s->n_img = rc ? 0 : (int)n;
    s->img_names = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n && !rc; i++) {
        if (img[i] < 0 || img[i] >= rf->n)
            rc = pc_fail(err, "%s: /sanity/images row %zu is %lld, expected a row of /images (0..%d)", rf->path, i,
                         img[i], rf->n - 1);
        else s->img_names[i] = rf->names[img[i]];
    }
    free(img);
    return rc;
}

// Similarities (PC_SIM_COUNT, n_meth, n_img, n_steps): each (n_img, n_steps) dataset checked, NaN
// where one is absent (a measure a file does not have).
static int read_similarities(const PcResultFile *rf, SanityFile *s, PcError *err) {
    const size_t per = (size_t)s->n_img * s->n_steps;
    const double bytes = (double)PC_SIM_COUNT * s->n_meth * (double)per * sizeof(double);
    if (pc_h5_budget(rf->f, rf->path, "/sanity/similarity", bytes, err)) return -1;
    s->sim = xcalloc((size_t)PC_SIM_COUNT * s->n_meth * per + 1, sizeof(double));
    PcH5Want w = {.file = rf->path, .kind = PC_H5_FLOAT, .rank = 2, .dims = {(hsize_t)s->n_img, (hsize_t)s->n_steps},
                  .why = "rows of /sanity/images, entries of /sanity/steps"};
    for (int k = 0; k < PC_SIM_COUNT; k++)
        for (int m = 0; m < s->n_meth; m++) {
            char name[256];
            double *dst = s->sim + ((size_t)k * s->n_meth + m) * per;
            snprintf(name, sizeof name, "/sanity/similarity/%s/%s", pc_sim_names[k], s->methods[m]);
            double *v = H5Lexists(rf->f, name, H5P_DEFAULT) > 0
                            ? pc_h5_read_checked(rf->f, name, &w, H5T_NATIVE_DOUBLE, sizeof(double), NULL, err)
                            : NULL;
            if (!v && H5Lexists(rf->f, name, H5P_DEFAULT) > 0) return -1;
            for (size_t j = 0; j < per; j++) dst[j] = v ? v[j] : NAN;
            free(v);
        }
    return 0;
}

// 1 when the file has a /sanity, 0 when it has none, -1 with err when it is not as the layout says
// (README "Sanity check"): every dataset checked against the counts of steps, methods and images.
static int sanity_open(const PcResultFile *rf, SanityFile *s, PcError *err) {
    memset(s, 0, sizeof *s);
    if (H5Lexists(rf->f, "sanity", H5P_DEFAULT) <= 0) return 0;
    s->S = rf->layout.size > 0 ? rf->layout.size : 224;
    if (!(s->steps = read_names(rf, "/sanity/steps", 0, &s->n_steps, err)) ||
        !(s->methods = read_names(rf, "/sanity/methods", 1, &s->n_meth, err)) || read_images(rf, s, err))
        return -1;
    PcH5Want w = {.file = rf->path, .kind = PC_H5_INT, .rank = 2, .dims = {(hsize_t)s->n_img, (hsize_t)s->n_steps},
                  .why = "rows of /sanity/images, entries of /sanity/steps"};
    s->cls = pc_h5_read_checked(rf->f, "/sanity/class", &w, H5T_NATIVE_INT, sizeof(int), NULL, err);
    if (!s->cls) return -1;
    hid_t g = H5Gopen2(rf->f, "sanity", H5P_DEFAULT);
    char *kind = g >= 0 ? pc_h5_read_root_attr(g, "randomisation") : NULL;
    s->independent = kind && !strcmp(kind, "independent");
    free(kind);
    if (g >= 0) H5Gclose(g);
    return read_similarities(rf, s, err) ? -1 : 1;
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
    fprintf(md, "\n**");
    pc_md_write(md, s->methods[m]);
    fprintf(md, "** (mean over %d image%s):\n\n| Step | Re-initialised down to | Class (first image) |", s->n_img,
            s->n_img == 1 ? "" : "s");
    for (int k = 0; k < PC_SIM_COUNT; k++) fprintf(md, " %s |", pc_sim_names[k]);
    fprintf(md, "\n|---:|---|---:|");
    for (int k = 0; k < PC_SIM_COUNT; k++) fprintf(md, "---:|");
    fprintf(md, "\n");
    for (int t = 0; t < s->n_steps; t++) {
        fprintf(md, "| %d | ", t);
        pc_md_code(md, s->steps[t]);
        fprintf(md, " | %d |", s->cls[t]);
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

// Tiles of the sanity grid: t x t pixels (t = 64 beyond 24 steps, else 96).
static int tile_side(const SanityFile *s) { return s->n_steps > 24 ? 64 : 96; }

// d[m] = /sanity/maps/<method m>, checked against (images, steps, S, S), or -1 when the file has
// none; the grid's memory held to what the file can hold. 0, or -1 with err (every d[m] closed).
static int open_maps(const PcResultFile *rf, const SanityFile *s, hid_t *d, PcError *err) {
    const int S = s->S, t = tile_side(s);
    for (int m = 0; m < s->n_meth; m++) d[m] = -1;
    if (pc_h5_budget(rf->f, rf->path, "/sanity/maps (the sanity grid)", (double)s->n_meth * s->n_steps * t * t * 3, err))
        return -1;
    PcH5Want w = {.file = rf->path, .kind = PC_H5_FLOAT, .rank = 4,
                  .dims = {(hsize_t)s->n_img, (hsize_t)s->n_steps, (hsize_t)S, (hsize_t)S},
                  .why = "rows of /sanity/images, entries of /sanity/steps, map_side"};
    int rc = 0;
    for (int m = 0; m < s->n_meth && rc == 0; m++) {
        char name[256];
        snprintf(name, sizeof name, "/sanity/maps/%s", s->methods[m]);
        if (H5Lexists(rf->f, name, H5P_DEFAULT) > 0 && (d[m] = pc_h5_open_checked(rf->f, name, &w, err)) < 0) rc = -1;
    }
    for (int m = 0; m < s->n_meth && rc; m++)
        if (d[m] >= 0) H5Dclose(d[m]), d[m] = -1;
    return rc;
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
    const int S = s->S, t = tile_side(s);
    const size_t tile = (size_t)t * t * 3, ss = (size_t)S * S;
    hid_t *d = xcalloc((size_t)s->n_meth, sizeof(hid_t));
    int rc = open_maps(rf, s, d, err);
    unsigned char *tiles = xcalloc((size_t)s->n_meth * s->n_steps * tile + 1, 1);
    unsigned char *present = xcalloc((size_t)s->n_meth * s->n_steps + 1, 1), *rgb = xmalloc(ss * 3);
    float *map = xmalloc(ss * sizeof(float));
    char **cols = xcalloc((size_t)s->n_steps, sizeof(char *));
    for (int c = 0; c < s->n_steps; c++) {
        cols[c] = xmalloc(64);
        short_name(s->steps[c], cols[c], 64);
    }
    for (int m = 0; m < s->n_meth && rc == 0; m++) {
        for (int c = 0; d[m] >= 0 && c < s->n_steps; c++) {
            hid_t sp = H5Dget_space(d[m]);
            hsize_t off[4] = {0, (hsize_t)c, 0, 0}, cnt[4] = {1, 1, (hsize_t)S, (hsize_t)S};
            hid_t mem = H5Screate_simple(4, cnt, NULL);
            int ok = H5Sselect_hyperslab(sp, H5S_SELECT_SET, off, NULL, cnt, NULL) >= 0 &&
                     H5Dread(d[m], H5T_NATIVE_FLOAT, mem, sp, H5P_DEFAULT, map) >= 0;
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
    }
    for (int m = 0; m < s->n_meth; m++)
        if (d[m] >= 0) H5Dclose(d[m]);
    free(d);
    char base[1024], title[512];
    snprintf(base, sizeof base, "%s/sanity_grid_%s", dir, label);
    snprintf(title, sizeof title,
             s->independent ? "%s: independent randomisation, %s (columns: the one layer re-initialised)"
                            : "%s: cascading randomisation, %s (columns: layers re-initialised from the output down)",
             label, s->img_names[0]);
    if (rc == 0) rc = pc_plot_grid(base, title, s->n_meth, s->n_steps, t, t, tiles, present, s->methods, cols, err);
    snprintf(base, sizeof base, "sanity_grid_%s.png", label);
    if (!rc) pc_md_image(md, title, base);
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
        PcChart c = {title,
                     s->independent ? "randomisation step (0 = original; then one layer each, from the output down)"
                                    : "randomisation step (0 = original; then layers from the output down)",
                     pc_sim_titles[k],
                     0, s->n_steps - 1, k == PC_SIM_SSIM ? -0.5 : -1, 1, 0, 0};
        rc = pc_plot_lines(base, &c, ser, s->n_meth, err);
        snprintf(base, sizeof base, "sanity_%s_%s.png", pc_sim_names[k], label);
        if (!rc) pc_md_image(md, title, base);
    }
    free(x), free(y), free(ser);
    return rc;
}

int pc_report_sanity(FILE *md, const char *dir, const PcResultFile *rf, const char *label, int figures,
                     PcError *err) {
    SanityFile s;
    int st = sanity_open(rf, &s, err);
    if (st <= 0) {
        sanity_close(&s);
        return st;
    }
    fprintf(md, "\n## Sanity check: %s randomisation (", s.independent ? "independent" : "cascading");
    pc_md_write(md, label);
    fprintf(md, ")\n\n");
    if (s.independent)
        fprintf(md, "One layer at a time re-initialised on the original network (PyTorch's reset_parameters(); "
                    "Quantus MPRT, layer_order = independent); the original class is explained at every step. ");
    else
        fprintf(md, "Layers re-initialised cumulatively from the output down (PyTorch's reset_parameters()); the "
                    "class is recomputed at each step. ");
    fprintf(md, "Similarity of each step's map to the original map (Adebayo et al. 2018): "
                "Spearman rank correlation of |map| and of map, SSIM of the maps scaled to [0, 1], Spearman of their "
                "HOG features. Images: ");
    for (int i = 0; i < s.n_img; i++) {
        if (i) fprintf(md, ", ");
        pc_md_code(md, s.img_names[i]);
    }
    fprintf(md, ".\n");
    for (int m = 0; m < s.n_meth; m++) table(md, &s, m);
    int rc = 0;
    if (figures) rc = figure_grid(md, dir, rf, &s, label, err) || figure_curves(md, dir, &s, label, err) ? -1 : 0;
    sanity_close(&s);
    return rc;
}

int pc_report_sanity_check(const PcResultFile *rf, PcError *err) {
    SanityFile s;
    int rc = sanity_open(rf, &s, err);
    if (rc > 0) {
        hid_t *d = xcalloc((size_t)s.n_meth + 1, sizeof(hid_t));
        rc = open_maps(rf, &s, d, err);
        for (int m = 0; m < s.n_meth && rc == 0; m++)
            if (d[m] >= 0) H5Dclose(d[m]);
        free(d);
    }
    sanity_close(&s);
    return rc < 0 ? -1 : 0;
}
