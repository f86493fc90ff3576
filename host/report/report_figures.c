// report_figures.c: the report's merged figures (report_internal.h). One map grid over the images
// the files share, with a column for every method of every file that stores maps; and per model
// the mean insertion / deletion curves, all methods in one figure and the three groups of the
// paper's Figs 18-25: the Poly-CAM variants, the CAM methods with PCAM±, the gradient and
// perturbation methods with PCAM± (x = fraction of pixels inserted or deleted, SPEC §8).
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "report_internal.h"
#include "safe_text.h"

// A model label as a file name part: characters other than [A-Za-z0-9._-] become '_'.
static void file_part(const char *in, char *out, size_t cap) {
    size_t k = 0;
    for (; *in && k + 1 < cap; in++)
        out[k++] = (*in >= 'a' && *in <= 'z') || (*in >= 'A' && *in <= 'Z') || (*in >= '0' && *in <= '9') ||
                           *in == '.' || *in == '-' || *in == '_'
                       ? *in
                       : '_';
    out[k] = 0;
}

// ---- the map grid ---------------------------------------------------------------------------------

typedef struct {
    int file, method;
    char label[160];
} GridColumn;

// The columns: every non-ablation method of every file whose maps are stored, file order.
static int grid_columns(const ReportFile *fs, int nf, GridColumn **out) {
    int n = 0, cap = 0;
    GridColumn *c = NULL;
    for (int k = 0; k < nf; k++) {
        if (fs[k].r.layout.maps == PC_MAPS_NONE) continue;
        for (int m = 0; m < fs[k].r.layout.n_methods; m++) {
            char v[64];
            int kind;
            const char *layer;
            if (pc_report_ablation_parts(fs[k].r.ids[m], v, sizeof v, &kind, &layer)) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 32;
                GridColumn *g = realloc(c, (size_t)cap * sizeof(GridColumn));
                if (!g) break;
                c = g;
            }
            c[n].file = k;
            c[n].method = m;
            if (nf > 1) snprintf(c[n].label, sizeof c[n].label, "%s:%s", fs[k].label, fs[k].r.ids[m]);
            else snprintf(c[n].label, sizeof c[n].label, "%s", fs[k].r.ids[m]);
            n++;
        }
    }
    *out = c;
    return n;
}

// Row of name in file k among its used images, -1 when absent.
static int row_of(const ReportFile *rf, const char *name) {
    for (int i = 0; i < rf->r.n; i++)
        if (rf->use[i] && !strcmp(rf->r.names[i], name)) return i;
    return -1;
}

static int figure_grid(FILE *md, const char *dir, const ReportFile *fs, int nf, const PcReportOptions *opt,
                       PcError *err) {
    GridColumn *col = NULL;
    int nc = grid_columns(fs, nf, &col);
    // the rows: the first images the first file with maps uses (every file uses the same ones)
    const ReportFile *lead = nc ? &fs[col[0].file] : NULL;
    int rows = 0, S = lead ? lead->r.layout.size : 0;
    char **names = xcalloc((size_t)opt->grid_images + 1, sizeof(char *));
    for (int i = 0; lead && i < lead->r.n && rows < opt->grid_images; i++)
        if (lead->use[i]) names[rows++] = lead->r.names[i];
    int t = opt->grid_tile > 0 && opt->grid_tile <= S ? opt->grid_tile : S, rc = 0, any = 0;
    size_t tile = (size_t)t * t * 3;
    unsigned char *tiles = xcalloc((size_t)rows * nc * tile + 1, 1), *present = xcalloc((size_t)rows * nc + 1, 1);
    for (int c = 0; c < nc; c++) {
        const ReportFile *rf = &fs[col[c].file];
        int s = rf->r.layout.size;
        float *map = xmalloc((size_t)s * s * sizeof(float));
        unsigned char *rgb = xmalloc((size_t)s * s * 3);
        for (int r = 0; r < rows && s == S; r++) {   // a file of another map size: its column stays blank
            int row = row_of(rf, names[r]);
            if (row < 0 || pc_results_map(&rf->r, col[c].method, row, map) != 0) continue;
            pc_heat_tile(NULL, map, s, rgb);
            pc_report_shrink_tile(rgb, s, tiles + ((size_t)r * nc + c) * tile, t);
            present[(size_t)r * nc + c] = 1;
            any = 1;
        }
        free(map);
        free(rgb);
    }
    if (any) {
        char **labels = xcalloc((size_t)nc + 1, sizeof(char *)), base[4096];
        for (int c = 0; c < nc; c++) labels[c] = col[c].label;
        snprintf(base, sizeof base, "%s/grid", dir);
        const char *title = "saliency maps of every method of every file (viridis, each scaled to its own range)";
        rc = pc_plot_grid(base, title, rows, nc, t, t, tiles, present, names, labels, err);
        if (!rc) pc_md_image(md, "saliency maps", "grid.png");
        free(labels);
    }
    free(col);
    free(names);
    free(tiles);
    free(present);
    return rc;
}

// ---- curves ---------------------------------------------------------------------------------------

static const char *const g_polycam[] = {"pcamp", "pcamm", "pcampm", NULL};
static const char *const g_cams[] = {"gradcam", "gradcampp", "smoothgradcampp", "scorecam", "sscam", "iscam",
                                     "zoomcam", "layercam", "pcampm", NULL};
static const char *const g_attrib[] = {"ig", "ixg", "smoothgrad", "rise", "occlusion", "pcampm", NULL};

// Mean curves of the given ids (those the model has) into one chart: base name and title given.
static int curve_chart(FILE *md, const char *dir, const ReportFile *fs, const ReportModel *m, const char *const *ids,
                       int n_ids, int deletion, const char *name, const char *title, int min_series, PcError *err) {
    PcSeries *s = xcalloc((size_t)n_ids + 1, sizeof(PcSeries));
    double **bufs = xcalloc((size_t)n_ids * 2 + 1, sizeof(double *));
    int ns = 0, rc = 0;
    for (int i = 0; i < n_ids && rc == 0; i++)
        for (int f = 0; f < m->n_files; f++) {
            const ReportFile *rf = &fs[m->files[f]];
            int T = rf->r.layout.steps;
            if (T <= 0 || pc_report_method_index(rf, ids[i]) < 0) continue;
            double *x = xmalloc((size_t)T * sizeof(double)), *y = xmalloc((size_t)T * sizeof(double));
            double S2 = (double)rf->r.layout.size * rf->r.layout.size, p = ceil(S2 / T);
            for (int k = 0; k < T; k++) x[k] = fmin(p * (k + 1), S2) / S2;
            const int got = pc_report_mean_curve(rf, ids[i], deletion, y, err);
            if (got <= 0) {
                free(x);
                free(y);
                if (got < 0) {
                    rc = -1;
                    break;
                }
                continue;
            }
            bufs[2 * ns] = x;
            bufs[2 * ns + 1] = y;
            s[ns++] = (PcSeries){ids[i], x, y, T, 0, 0};
            break;
        }
    if (rc == 0 && ns >= min_series) {
        char base[4096], file[128], png[140];
        file_part(name, file, sizeof file);
        snprintf(base, sizeof base, "%s/%s", dir, file);
        snprintf(png, sizeof png, "%s.png", file);
        PcChart c = {title, deletion ? "fraction of pixels deleted" : "fraction of pixels inserted",
                     "softmax score of the class", 0, 1, 0, 0, 0, 0};
        rc = pc_plot_lines(base, &c, s, ns, err);
        if (!rc) pc_md_image(md, title, png);   // the title holds the model's label: escaped
    }
    for (int i = 0; i < 2 * ns; i++) free(bufs[i]);
    free(bufs);
    free(s);
    return rc;
}

static int model_curves(FILE *md, const char *dir, const ReportFile *fs, int nf, const ReportModel *m, PcError *err) {
    const char **all = xcalloc((size_t)nf * 512 + 1, sizeof(char *));
    int n_all = 0;
    for (int f = 0; f < m->n_files; f++) {
        const ReportFile *rf = &fs[m->files[f]];
        for (int i = 0; i < rf->r.layout.n_methods && n_all < nf * 512; i++) {
            char v[64];
            int kind, seen = 0;
            const char *layer;
            if (pc_report_ablation_parts(rf->r.ids[i], v, sizeof v, &kind, &layer)) continue;
            for (int j = 0; j < n_all && !seen; j++) seen = !strcmp(all[j], rf->r.ids[i]);
            if (!seen) all[n_all++] = rf->r.ids[i];
        }
    }
    static const struct {
        const char *const *ids;
        const char *key, *what;
        int min;
    } groups[3] = {{g_polycam, "polycam", "the Poly-CAM variants", 1},
                   {g_cams, "cams", "the CAM methods and PCAM±", 2},
                   {g_attrib, "gradient_perturbation", "gradient and perturbation methods against PCAM±", 2}};
    int rc = 0;
    for (int del = 0; del < 2 && rc == 0; del++) {
        const char *kind = del ? "deletion" : "insertion";
        char name[256], title[512];
        snprintf(name, sizeof name, "curves_%s_%s", m->label, kind);
        snprintf(title, sizeof title, "%s: mean %s curve of every method", m->label, kind);
        rc = curve_chart(md, dir, fs, m, all, n_all, del, name, title, 1, err);
        for (int g = 0; g < 3 && rc == 0; g++) {
            int n = 0;
            while (groups[g].ids[n]) n++;
            snprintf(name, sizeof name, "curves_%s_%s_%s", m->label, groups[g].key, kind);
            snprintf(title, sizeof title, "%s: mean %s curves, %s", m->label, kind, groups[g].what);
            rc = curve_chart(md, dir, fs, m, groups[g].ids, n, del, name, title, groups[g].min, err);
        }
    }
    free(all);
    return rc;
}

int pc_report_figures(FILE *md, const char *dir, const ReportFile *fs, int nf, const ReportModel *models, int nm,
                      const PcReportOptions *opt, PcError *err) {
    int rc = 0;
    for (int k = 0; k < nm && rc == 0; k++) rc = model_curves(md, dir, fs, nf, &models[k], err);
    if (rc == 0) rc = figure_grid(md, dir, fs, nf, opt, err);
    return rc;
}
