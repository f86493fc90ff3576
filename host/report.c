// report.c: tables and figures of result files (see report.h). Each result file is read once into
// a ReportFile (ids, per-image status, AUCs, sensitivities); tables and figures are written from
// those. Means are over the images that are done with status "ok" in every file of the report
// and that every file holds (by list entry name), so the column groups compare the same images; an
// image with a NaN map of a method (layout.h: pc_status_usable) leaves only that method's means.
#define _GNU_SOURCE
#include "report.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "h5util.h"
#include "layout.h"
#include "plot.h"
#include "report_sanity.h"
#include "results_journal.h"

typedef struct {
    PcResultFile r;         // the file as layout.c reads it (ids, names, status, layout)
    char *label;            // file name without folder and ".h5"
    unsigned char *ok;      // (n) done with status "ok"
    unsigned char *use;     // (n) ok and held (ok) by every file of the report
    int opened;
    int from_journal;       // done images read from the journal of a .partial (results_journal.h)
} ReportFile;

void pc_report_default_options(PcReportOptions *opt) {
    opt->grid_images = 6;
    opt->grid_tile = 112;
}

// ---- reading ------------------------------------------------------------------------------------

static char *file_label(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 11 && !strcmp(b + n - 11, ".h5.partial")) n -= 11;
    else if (n > 3 && !strcmp(b + n - 3, ".h5")) n -= 3;
    return strndup(b, n);
}

static void file_close(ReportFile *rf) {
    if (rf->opened) pc_results_close(&rf->r);
    free(rf->ok);
    free(rf->use);
    free(rf->label);
    memset(rf, 0, sizeof *rf);
}

// Reads what the report needs of one result file; the file stays open for curves and maps.
static int file_read(ReportFile *rf, const char *path, PcError *err) {
    if (access(path, R_OK) != 0) return pc_fail(err, "%s: cannot read (%s)", path, strerror(errno));
    PcError e;
    if (pc_results_open(&rf->r, path, &e)) {
        pc_results_close(&rf->r);
        if (!pc_h5_has_signature(path)) return pc_fail(err, "%s", e.msg);
        return pc_fail(err, "%s: not a polycam-eval result file (%s)", path, e.msg);
    }
    rf->opened = 1;
    // a running or interrupted output: the images its journal holds count, as a resume counts them
    if (pc_results_add_journal(&rf->r, &rf->from_journal, &e)) fprintf(stderr, "warning: %s\n", e.msg);
    int n = rf->r.n;
    rf->ok = xcalloc((size_t)n + 1, 1);
    rf->use = xcalloc((size_t)n + 1, 1);
    // "ok", or NaN maps of some methods: those methods' values are NaN, so mean_of leaves them out
    for (int i = 0; i < n; i++) rf->ok[i] = rf->r.done[i] == 1 && pc_status_usable(rf->r.status[i]);
    if (rf->r.layout.size <= 0) rf->r.layout.size = 224;
    return 0;
}

// A result file, or for the output of a run still going its .partial (the images done so far).
static int file_open(ReportFile *rf, const char *path, PcError *err) {
    memset(rf, 0, sizeof *rf);
    rf->label = file_label(path);
    size_t n = strlen(path) + 16;
    char *partial = xmalloc(n);
    snprintf(partial, n, "%s.partial", path);
    if (access(path, F_OK) != 0 && access(partial, R_OK) == 0) path = partial;
    int rc = file_read(rf, path, err);
    free(partial);
    return rc;
}

static int method_index(const ReportFile *rf, const char *id) {
    for (int m = 0; m < rf->r.layout.n_methods; m++)
        if (!strcmp(rf->r.ids[m], id)) return m;
    return -1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// use[i] = ok here and ok in every other file that has readable images (matched by name).
// Returns the count kept (the same in each such file).
static int mark_common(ReportFile *fs, int nf) {
    char ***sorted = xcalloc((size_t)nf, sizeof(char **));
    int *ns = xcalloc((size_t)nf, sizeof(int));
    for (int k = 0; k < nf; k++) {
        sorted[k] = xcalloc((size_t)fs[k].r.n + 1, sizeof(char *));
        for (int i = 0; i < fs[k].r.n; i++)
            if (fs[k].ok[i]) sorted[k][ns[k]++] = fs[k].r.names[i];
        qsort(sorted[k], (size_t)ns[k], sizeof(char *), cmp_str);
    }
    for (int k = 0; k < nf; k++)
        for (int i = 0; i < fs[k].r.n; i++) {
            int keep = fs[k].ok[i];
            // a file with no readable image (yet: a run just started) has nothing to compare
            for (int o = 0; o < nf && keep; o++)
                keep = o == k || ns[o] == 0 ||
                       bsearch(&fs[k].r.names[i], sorted[o], (size_t)ns[o], sizeof(char *), cmp_str) != NULL;
            fs[k].use[i] = (unsigned char)keep;
        }
    int kept = 0;   // the same in every file that has readable images
    for (int k = 0; k < nf; k++) {
        int used = 0;
        for (int i = 0; i < fs[k].r.n; i++) used += fs[k].use[i];
        if (used > kept) kept = used;
    }
    for (int k = 0; k < nf; k++) free(sorted[k]);
    free(sorted);
    free(ns);
    return kept;
}

// Mean of a per-image value of method id over the used images ("insertion", "deletion" AUCs or an
// extra dataset such as "sensitivity"); NAN when absent or none. *n gets the count.
static double mean_of(const ReportFile *rf, const char *id, const char *what, int *n) {
    int m = method_index(rf, id), k = 0;
    double *v = m < 0                       ? NULL
                : !strcmp(what, "insertion") ? pc_results_auc(&rf->r, m, 0)
                : !strcmp(what, "deletion")  ? pc_results_auc(&rf->r, m, 1)
                                             : pc_results_extra(&rf->r, m, what);
    double s = 0;
    for (int i = 0; v && i < rf->r.n; i++)
        if (rf->use[i] && isfinite(v[i])) s += v[i], k++;
    free(v);
    if (n) *n = k;
    return k ? s / k : NAN;
}

// ---- tables ------------------------------------------------------------------------------------

static int is_ablation_id(const char *id) {
    return strstr(id, ".level.") || strstr(id, ".cam.") || strstr(id, ".no_lnorm");
}

// Union of the main (non-ablation) ids over the files, first-seen order.
static int main_ids(const ReportFile *fs, int nf, const char **out, int max) {
    int n = 0;
    for (int k = 0; k < nf; k++)
        for (int m = 0; m < fs[k].r.layout.n_methods; m++) {
            const char *id = fs[k].r.ids[m];
            if (is_ablation_id(id)) continue;
            int seen = 0;
            for (int j = 0; j < n && !seen; j++) seen = !strcmp(out[j], id);
            if (!seen && n < max) out[n++] = id;
        }
    return n;
}

static void fmt4(char *buf, size_t n, double v) {
    if (isfinite(v)) snprintf(buf, n, "%.4f", v);
    else snprintf(buf, n, "-");
}

// Tables 1 / 4: one row per method, one column group (Ins, Del, Ins-Del, N) per file.
static void table_aucs(FILE *md, const ReportFile *fs, int nf, const char **ids, int n_ids) {
    fprintf(md, "| Method |");
    for (int k = 0; k < nf; k++) fprintf(md, " %s Ins | %s Del | %s Ins-Del | N |", fs[k].label, fs[k].label, fs[k].label);
    fprintf(md, "\n|---|");
    for (int k = 0; k < nf; k++) fprintf(md, "---:|---:|---:|---:|");
    fprintf(md, "\n");
    for (int m = 0; m < n_ids; m++) {
        fprintf(md, "| %s |", ids[m]);
        for (int k = 0; k < nf; k++) {
            int ni = 0, nd = 0;
            double ins = mean_of(&fs[k], ids[m], "insertion", &ni);
            double del = mean_of(&fs[k], ids[m], "deletion", &nd);
            char a[32], b[32], c[32];
            fmt4(a, sizeof a, ins);
            fmt4(b, sizeof b, del);
            fmt4(c, sizeof c, ins - del);
            fprintf(md, " %s | %s | %s | %d |", a, b, c, ni > nd ? ni : nd);
        }
        fprintf(md, "\n");
    }
}

// Table 5: mean sensitivity-max per method and file, when any file stores it.
static void table_sensitivity(FILE *md, const ReportFile *fs, int nf, const char **ids, int n_ids) {
    int any = 0;
    for (int k = 0; k < nf && !any; k++)
        for (int m = 0; m < n_ids && !any; m++) any = isfinite(mean_of(&fs[k], ids[m], "sensitivity", NULL));
    if (!any) return;
    fprintf(md, "\n## Table 5: sensitivity-max (lower is more robust)\n\n| Method |");
    for (int k = 0; k < nf; k++) fprintf(md, " %s | N |", fs[k].label);
    fprintf(md, "\n|---|");
    for (int k = 0; k < nf; k++) fprintf(md, "---:|---:|");
    fprintf(md, "\n");
    for (int m = 0; m < n_ids; m++) {
        fprintf(md, "| %s |", ids[m]);
        for (int k = 0; k < nf; k++) {
            int n = 0;
            char a[32];
            fmt4(a, sizeof a, mean_of(&fs[k], ids[m], "sensitivity", &n));
            fprintf(md, " %s | %d |", a, n);
        }
        fprintf(md, "\n");
    }
}

// Pointing hits of method id over the used images with a localisation; *n gets their count.
static int hits_of(const ReportFile *rf, const char *id, int *n) {
    int m = method_index(rf, id), hits = 0;
    int *hit = m < 0 ? NULL : pc_results_pointing(&rf->r, m);
    *n = 0;
    for (int i = 0; hit && i < rf->r.n; i++)
        if (rf->use[i] && hit[i] >= 0) hits += hit[i] == 1, (*n)++;
    free(hit);
    return hits;
}

// Localisation (SPEC §10), when any file has [data] masks: mean energy in mask and pointing hits
// per method and file.
static void table_localisation(FILE *md, const ReportFile *fs, int nf, const char **ids, int n_ids) {
    int any = 0;
    for (int k = 0; k < nf; k++) any |= fs[k].r.layout.localisation;
    if (!any) return;
    fprintf(md, "\n## Localisation: energy in the object mask and pointing game (SPEC §10)\n\n| Method |");
    for (int k = 0; k < nf; k++) fprintf(md, " %s energy | %s pointing |", fs[k].label, fs[k].label);
    fprintf(md, "\n|---|");
    for (int k = 0; k < nf; k++) fprintf(md, "---:|---:|");
    fprintf(md, "\n");
    for (int m = 0; m < n_ids; m++) {
        fprintf(md, "| %s |", ids[m]);
        for (int k = 0; k < nf; k++) {
            int n = 0, hits = hits_of(&fs[k], ids[m], &n);
            char a[32], b[32] = "-";
            fmt4(a, sizeof a, mean_of(&fs[k], ids[m], "localisation/energy", NULL));
            if (n) snprintf(b, sizeof b, "%d/%d", hits, n);
            fprintf(md, " %s | %s |", a, b);
        }
        fprintf(md, "\n");
    }
}

// Ablation ids of one file: the variants that have levels, isolated CAMs or a no-LNorm map (a file
// may hold only some: Table 3's two runs, one with the levels, one with the CAMs), and for
// variant v its layers (levels' and CAMs' together, list order).
typedef struct {
    int n_variants;
    char variants[8][32];
    int n_layers[8];
    char layers[8][16][64];
} Levels;

static void find_levels(const ReportFile *rf, Levels *lv) {
    static const char *kinds[3] = {".level.", ".cam.", ".no_lnorm"};
    memset(lv, 0, sizeof *lv);
    for (int m = 0; m < rf->r.layout.n_methods; m++) {
        const char *id = rf->r.ids[m], *p = NULL;
        int kind = 0;
        while (kind < 3 && !(p = strstr(id, kinds[kind]))) kind++;
        if (!p || (size_t)(p - id) >= sizeof lv->variants[0]) continue;
        int v = 0;
        while (v < lv->n_variants && (strlen(lv->variants[v]) != (size_t)(p - id) ||
                                      strncmp(lv->variants[v], id, (size_t)(p - id))))
            v++;
        if (v == lv->n_variants) {
            if (v == 8) continue;
            snprintf(lv->variants[v], sizeof lv->variants[v], "%.*s", (int)(p - id), id);
            lv->n_variants++;
        }
        if (kind == 2) continue;    // the no-LNorm map: a row of its own (table_levels)
        const char *layer = p + strlen(kinds[kind]);
        int seen = 0;
        for (int l = 0; l < lv->n_layers[v] && !seen; l++) seen = !strcmp(lv->layers[v][l], layer);
        if (!seen && lv->n_layers[v] < 16) snprintf(lv->layers[v][lv->n_layers[v]++], 64, "%s", layer);
    }
}

// One row of table_levels: the means of the level and CAM ids (either may be absent: "-").
static void level_row(FILE *md, const ReportFile *rf, const char *label, const char *level_id, const char *cam_id) {
    char cells[6][32];
    double vals[6];
    int n = 0, n_cam = 0;
    vals[0] = mean_of(rf, level_id, "insertion", &n);
    vals[1] = mean_of(rf, level_id, "deletion", NULL);
    vals[3] = cam_id ? mean_of(rf, cam_id, "insertion", &n_cam) : NAN;
    vals[4] = cam_id ? mean_of(rf, cam_id, "deletion", NULL) : NAN;
    vals[2] = vals[0] - vals[1];
    vals[5] = vals[3] - vals[4];
    for (int c = 0; c < 6; c++) fmt4(cells[c], sizeof cells[c], vals[c]);
    fprintf(md, "| %s | %s | %s | %s | %s | %s | %s | %d |\n", label, cells[0], cells[1], cells[2], cells[3],
            cells[4], cells[5], n ? n : n_cam);
}

// Tables 2 / 3 for one file: per variant, Poly-CAM at each level against the isolated CAM, then
// the recursion without LNorm.
static void table_levels(FILE *md, const ReportFile *rf, const Levels *lv) {
    for (int v = 0; v < lv->n_variants; v++) {
        fprintf(md, "\n### %s: %s per level (Poly-CAM at layer l) and isolated layer CAMs\n\n", rf->label, lv->variants[v]);
        fprintf(md, "| Layer | Level Ins | Level Del | Level Ins-Del | CAM Ins | CAM Del | CAM Ins-Del | N |\n");
        fprintf(md, "|---|---:|---:|---:|---:|---:|---:|---:|\n");
        char level[256], cam[256];
        for (int l = 0; l < lv->n_layers[v]; l++) {
            snprintf(level, sizeof level, "%s.level.%s", lv->variants[v], lv->layers[v][l]);
            snprintf(cam, sizeof cam, "%s.cam.%s", lv->variants[v], lv->layers[v][l]);
            level_row(md, rf, lv->layers[v][l], level, cam);
        }
        snprintf(level, sizeof level, "%s.no_lnorm", lv->variants[v]);
        if (method_index(rf, level) >= 0) level_row(md, rf, "no LNorm (final map)", level, NULL);
    }
}

// ---- figures -----------------------------------------------------------------------------------

// Mean curve of method id's insertion or deletion scores over the used images into y (T); 0 when
// absent.
static int mean_curve(const ReportFile *rf, const char *id, int deletion, double *y) {
    int m = method_index(rf, id), T = rf->r.layout.steps, k = 0;
    float *v = m >= 0 ? pc_results_scores(&rf->r, m, deletion) : NULL;
    if (!v) return 0;
    for (int t = 0; t < T; t++) y[t] = 0;
    for (int i = 0; i < rf->r.n; i++) {
        if (!rf->use[i]) continue;
        int finite = 1;
        for (int t = 0; t < T && finite; t++) finite = isfinite(v[(size_t)i * T + t]);
        if (!finite) continue;
        for (int t = 0; t < T; t++) y[t] += v[(size_t)i * T + t];
        k++;
    }
    free(v);
    for (int t = 0; t < T && k; t++) y[t] /= k;
    return k > 0;
}

// Figure: mean insertion or deletion curve of every main method of one file (SPEC §8: sample t
// holds min(p (t + 1), S^2) pixels, p = ceil(S^2 / T)).
static int figure_curves(FILE *md, const char *dir, const ReportFile *rf, const char **ids, int n_ids,
                         const char *kind, PcError *err) {
    int T = rf->r.layout.steps;
    if (T <= 0) return 0;
    double S2 = (double)rf->r.layout.size * rf->r.layout.size, p = ceil(S2 / T);
    double *x = xmalloc((size_t)T * sizeof(double)), *ys = xcalloc((size_t)n_ids * T, sizeof(double));
    PcSeries *s = xcalloc((size_t)n_ids, sizeof(PcSeries));
    int ns = 0;
    for (int t = 0; t < T; t++) x[t] = fmin(p * (t + 1), S2) / S2;
    for (int m = 0; m < n_ids; m++)
        if (mean_curve(rf, ids[m], !strcmp(kind, "deletion"), ys + (size_t)ns * T)) s[ns] = (PcSeries){ids[m], x, ys + (size_t)ns * T, T, 0, 0}, ns++;
    int rc = 0;
    if (ns) {
        char base[1024], title[256], ylabel[64];
        snprintf(base, sizeof base, "%s/curves_%s_%s", dir, rf->label, kind);
        snprintf(title, sizeof title, "%s: mean %s curve", rf->label, kind);
        snprintf(ylabel, sizeof ylabel, "softmax score of the class");
        PcChart c = {title, "fraction of pixels", ylabel, 0, 1, 0, 0, 0, 0};
        rc = pc_plot_lines(base, &c, s, ns, err);
        if (!rc) fprintf(md, "\n![%s](curves_%s_%s.png)\n", title, rf->label, kind);
    }
    free(x);
    free(ys);
    free(s);
    return rc;
}

// Figure: per-level plot of one variant (AUCs of Poly-CAM at each level and of the layer CAMs).
static int figure_levels(FILE *md, const char *dir, const ReportFile *rf, const Levels *lv, int v, PcError *err) {
    int L = lv->n_layers[v];
    if (L == 0) return 0;   // only a no-LNorm map: no per-layer figure
    double x[16], y[4][16];
    static const char *what[4] = {"insertion", "deletion", "insertion", "deletion"};
    for (int l = 0; l < L; l++) {
        x[l] = l + 1;
        for (int k = 0; k < 4; k++) {
            char id[256];
            snprintf(id, sizeof id, "%s.%s.%s", lv->variants[v], k < 2 ? "level" : "cam", lv->layers[v][l]);
            y[k][l] = mean_of(rf, id, what[k], NULL);
        }
    }
    // One colour per map kind, solid for insertion and dashed for deletion.
    PcSeries s[4] = {{"Poly-CAM level, insertion", x, y[0], L, 5, 0}, {"Poly-CAM level, deletion", x, y[1], L, 5, 1},
                     {"layer CAM, insertion", x, y[2], L, 6, 0}, {"layer CAM, deletion", x, y[3], L, 6, 1}};
    char base[1024], title[256];
    snprintf(base, sizeof base, "%s/levels_%s_%s", dir, rf->label, lv->variants[v]);
    snprintf(title, sizeof title, "%s: %s per layer (1 = %s, %d = %s)", rf->label, lv->variants[v], lv->layers[v][0], L,
             lv->layers[v][L - 1]);
    PcChart c = {title, "target layer (earliest = 1)", "mean AUC", 0.5, L + 0.5, 0, 1, 0, 0};
    int rc = pc_plot_lines(base, &c, s, 4, err);
    if (!rc) fprintf(md, "\n![%s](levels_%s_%s.png)\n", title, rf->label, lv->variants[v]);
    return rc;
}

// Box-filter (or nearest, when not a divisor) resize of an (s, s, 3) tile to (t, t, 3).
static void shrink_tile(const unsigned char *in, int s, unsigned char *out, int t) {
    int f = s % t == 0 ? s / t : 0;
    for (int i = 0; i < t; i++)
        for (int j = 0; j < t; j++)
            for (int c = 0; c < 3; c++) {
                if (!f) {
                    out[((size_t)i * t + j) * 3 + c] = in[((size_t)(i * s / t) * s + j * s / t) * 3 + c];
                    continue;
                }
                unsigned sum = 0;
                for (int a = 0; a < f; a++)
                    for (int b = 0; b < f; b++) sum += in[((size_t)(i * f + a) * s + j * f + b) * 3 + c];
                out[((size_t)i * t + j) * 3 + c] = (unsigned char)((sum + f * f / 2) / (f * f));
            }
}

// Figure: grid of the first used images (rows) x the main methods (columns), viridis heat maps.
static int figure_grid(FILE *md, const char *dir, const ReportFile *rf, const char **ids, int n_ids,
                       const PcReportOptions *opt, PcError *err) {
    int S = rf->r.layout.size, t = opt->grid_tile > 0 && opt->grid_tile <= S ? opt->grid_tile : S;
    int rows = 0, *img = xcalloc((size_t)opt->grid_images + 1, sizeof(int));
    for (int i = 0; i < rf->r.n && rows < opt->grid_images; i++)
        if (rf->use[i]) img[rows++] = i;
    size_t tile = (size_t)t * t * 3;
    unsigned char *tiles = xcalloc((size_t)rows * n_ids * tile + 1, 1), *present = xcalloc((size_t)rows * n_ids + 1, 1);
    float *map = xmalloc((size_t)S * S * sizeof(float));
    unsigned char *rgb = xmalloc((size_t)S * S * 3);
    int any = 0;
    for (int c = 0; c < n_ids; c++) {
        int m = method_index(rf, ids[c]);
        for (int r = 0; m >= 0 && r < rows; r++) {
            if (pc_results_map(&rf->r, m, img[r], map) != 0) continue;
            pc_heat_tile(NULL, map, S, rgb);
            shrink_tile(rgb, S, tiles + ((size_t)r * n_ids + c) * tile, t);
            present[(size_t)r * n_ids + c] = 1;
            any = 1;
        }
    }
    int rc = 0;
    if (any) {
        char **row_labels = xcalloc((size_t)rows + 1, sizeof(char *)), base[1024], title[256];
        for (int r = 0; r < rows; r++) row_labels[r] = rf->r.names[img[r]];
        snprintf(base, sizeof base, "%s/grid_%s", dir, rf->label);
        snprintf(title, sizeof title, "%s: saliency maps (viridis, each scaled to its own range)", rf->label);
        rc = pc_plot_grid(base, title, rows, n_ids, t, t, tiles, present, row_labels, (char *const *)ids, err);
        if (!rc) fprintf(md, "\n![%s](grid_%s.png)\n", title, rf->label);
        free(row_labels);
    }
    free(img);
    free(tiles);
    free(present);
    free(map);
    free(rgb);
    return rc;
}

// ---- the report --------------------------------------------------------------------------------

// Files that share no readable image: rather than empty tables, each file's means over its own
// readable images (describe_files says the columns then do not compare). Returns 1 when it did.
static int use_own_images(ReportFile *fs, int nf, int kept) {
    int with_ok = 0;
    for (int k = 0; k < nf; k++) {
        int any = 0;
        for (int i = 0; i < fs[k].r.n; i++) any |= fs[k].ok[i];
        with_ok += any;
    }
    if (with_ok < 2 || kept > 0) return 0;
    for (int k = 0; k < nf; k++) memcpy(fs[k].use, fs[k].ok, (size_t)fs[k].r.n);
    return 1;
}

static void describe_files(FILE *md, const ReportFile *fs, int nf, int kept, int own) {
    fprintf(md, "| File | Images | Done | State | Used in the means |\n|---|---:|---:|---|---:|\n");
    for (int k = 0; k < nf; k++) {
        int used = 0;
        for (int i = 0; i < fs[k].r.n; i++) used += fs[k].use[i];
        fprintf(md, "| `%s` | %d | %d | %s | %d |\n", fs[k].r.path, fs[k].r.n, fs[k].r.n_done,
                fs[k].r.complete ? "complete" : "running (images done so far)", used);
    }
    for (int k = 0; k < nf; k++)
        if (fs[k].from_journal)
            fprintf(md, "\n`%s`: %d of its done images are read from its journal (stored by the run, not yet in the "
                        ".partial).\n", fs[k].r.path, fs[k].from_journal);
    if (own)
        fprintf(md, "\n**The files share no readable image**: each file's numbers are the means over its own "
                    "readable images, so the column groups do not compare image for image.\n");
    for (int k = 0; k < nf; k++) {
        int ok = 0;
        for (int i = 0; i < fs[k].r.n; i++) ok += fs[k].ok[i];
        if (ok == 0)
            fprintf(md, "\n`%s` has no readable image%s: its columns are empty.\n", fs[k].r.path,
                    fs[k].r.complete ? "" : " yet");
        else if (ok != kept && !own)
            fprintf(md, "\nLeft out of `%s`: %d of its %d readable images, which another file lacks or could not "
                        "read; every mean is over the same %d images.\n", fs[k].r.path, ok - kept, ok, kept);
    }
    for (int k = 0; k < nf; k++) {
        int nan = 0;
        for (int i = 0; i < fs[k].r.n; i++) nan += fs[k].use[i] && pc_status_is_nan_map(fs[k].r.status[i]);
        if (nan)
            fprintf(md, "\n`%s`: %d of the images used have a NaN map of some method (a constant map, as the "
                        "library gives it; `/images/status` names the methods): they leave only those methods' "
                        "means (their N is lower).\n", fs[k].r.path, nan);
    }
    for (int k = 1; k < nf; k++)
        if (fs[k].r.layout.steps != fs[0].r.layout.steps)
            fprintf(md, "\n`%s` has %d curve steps and `%s` %d: their AUCs are not on the same grid.\n", fs[k].r.path,
                    fs[k].r.layout.steps, fs[0].r.path, fs[0].r.layout.steps);
}

static int write_figures(FILE *md, const char *dir, const ReportFile *fs, int nf, const char **ids, int n_ids,
                         const PcReportOptions *opt, PcError *err) {
    if (!pc_plot_available()) {
        fprintf(md, "\n(No figures: this polycam-eval was built without cairo.)\n");
        return 0;
    }
    // the figures' lines go to memory first: the heading only when at least one was drawn
    char *buf = NULL;
    size_t len = 0;
    FILE *fm = open_memstream(&buf, &len);
    if (!fm) return pc_fail(err, "report: out of memory");
    int rc = 0;
    for (int k = 0; k < nf && rc == 0; k++) {
        if (figure_curves(fm, dir, &fs[k], ids, n_ids, "insertion", err) ||
            figure_curves(fm, dir, &fs[k], ids, n_ids, "deletion", err) ||
            figure_grid(fm, dir, &fs[k], ids, n_ids, opt, err)) {
            rc = -1;
            break;
        }
        Levels lv;
        find_levels(&fs[k], &lv);
        for (int v = 0; v < lv.n_variants && rc == 0; v++) rc = figure_levels(fm, dir, &fs[k], &lv, v, err);
    }
    fclose(fm);
    if (rc == 0 && len > 0) fprintf(md, "\n## Figures\n%s", buf);
    free(buf);
    return rc;
}

// report.md is written to report.md.tmp and renamed over the previous one when whole (a failure,
// a full disk among them, leaves the previous report as it was).
static int write_report(const char *dir, ReportFile *fs, int nf, const PcReportOptions *opt, PcError *err) {
    char *path = pc_join_path(dir, "report.md"), *tmp = pc_join_path(dir, "report.md.tmp");
    FILE *md = fopen(tmp, "w");
    if (!md) {
        int rc = pc_fail(err, "%s: cannot create (%s)", tmp, strerror(errno));
        free(path);
        free(tmp);
        return rc;
    }
    int kept = mark_common(fs, nf), own = use_own_images(fs, nf, kept);
    const char *ids[512];
    int n_ids = main_ids(fs, nf, ids, 512);
    fprintf(md, "# polycam-eval report\n\n");
    describe_files(md, fs, nf, kept, own);
    int curves = 0;
    for (int k = 0; k < nf; k++) curves |= fs[k].r.layout.insertion || fs[k].r.layout.deletion;
    fprintf(md, "\n## Tables 1 and 4: insertion / deletion AUCs (mean over images)\n\n");
    if (curves) table_aucs(md, fs, nf, ids, n_ids);
    else fprintf(md, "(No file has insertion or deletion curves: `[metrics] insertion = no, deletion = no`.)\n");
    for (int k = 0; k < nf; k++) {
        Levels lv;
        find_levels(&fs[k], &lv);
        if (lv.n_variants) fprintf(md, "\n## Tables 2 and 3: per-level ablation (%s)\n", fs[k].label);
        table_levels(md, &fs[k], &lv);
    }
    table_sensitivity(md, fs, nf, ids, n_ids);
    table_localisation(md, fs, nf, ids, n_ids);
    int rc = write_figures(md, dir, fs, nf, ids, n_ids, opt, err);
    for (int k = 0; k < nf && rc == 0; k++)   // /sanity, where a file has one (report_sanity.c)
        rc = pc_report_sanity(md, dir, &fs[k].r, fs[k].label, pc_plot_available(), err);
    if (rc == 0) {
        rc = pc_commit_file(md, tmp, path, err);
    } else {
        fclose(md);   // the figure or section that failed is named in err
        unlink(tmp);
    }
    free(path);
    free(tmp);
    return rc;
}

int pc_report(const char *out_dir, int n_files, char *const *files, const PcReportOptions *opt, PcError *err) {
    if (n_files < 1) return pc_fail(err, "--report needs an output folder and at least one result file");
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);   // failures are reported as one line each
    ReportFile *fs = xcalloc((size_t)n_files, sizeof(ReportFile));
    int rc = 0;
    for (int k = 0; k < n_files && rc == 0; k++) rc = file_open(&fs[k], files[k], err);
    for (int k = 0; k < n_files && rc == 0; k++)
        for (int o = 0; o < k && rc == 0; o++)
            if (!strcmp(fs[k].label, fs[o].label))
                rc = pc_fail(err, "%s and %s have the same name: the report names its columns and figures by file name",
                             files[o], files[k]);
    if (rc == 0 && mkdir(out_dir, 0777) != 0 && errno != EEXIST)
        rc = pc_fail(err, "%s: cannot create folder (%s)", out_dir, strerror(errno));
    if (rc == 0) rc = write_report(out_dir, fs, n_files, opt, err);
    for (int k = 0; k < n_files; k++) file_close(&fs[k]);
    free(fs);
    return rc;
}
