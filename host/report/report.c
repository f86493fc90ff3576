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
#include "report_internal.h"
#include "report_sanity.h"
#include "results_journal.h"
#include "safe_text.h"
#include "stats.h"
#include "table.h"

void pc_report_default_options(PcReportOptions *opt) {
    opt->grid_images = 6;
    opt->grid_tile = 112;
    opt->paper = PC_REPORT_PAPER_AUTO;
    snprintf(opt->reference, sizeof opt->reference, "pcampm");
    opt->resamples = PC_BOOTSTRAP_RESAMPLES;
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

// 1 for an HDF5 file with the method_ids attribute of a result file: its own message (a dataset of
// the wrong shape, a name outside the allowed set) says what is wrong with it.
static int claims_to_be_result(const char *path) {
    hid_t f = pc_h5_open_read(path);
    int yes = f >= 0 && H5Aexists(f, "method_ids") > 0;
    if (f >= 0) H5Fclose(f);
    return yes;
}

// Reads what the report needs of one result file; the file stays open for curves and maps.
static int file_read(ReportFile *rf, const char *path, PcError *err) {
    if (access(path, R_OK) != 0) return pc_fail(err, "%s: cannot read (%s)", path, strerror(errno));
    PcError e;
    if (pc_results_open(&rf->r, path, &e)) {
        pc_results_close(&rf->r);
        if (!pc_h5_has_signature(path) || claims_to_be_result(path)) return pc_fail(err, "%s", e.msg);
        return pc_fail(err, "%s: not a polycam-eval result file (%s)", path, e.msg);
    }
    rf->opened = 1;
    // a running or interrupted output: the images its journal holds count, as a resume counts them
    if (pc_results_add_journal(&rf->r, &rf->from_journal, &e)) fprintf(stderr, "warning: %s\n", e.msg);
    int n = rf->r.n;
    rf->ok = xcalloc((size_t)n + 1, 1);
    rf->use = xcalloc((size_t)n + 1, 1);
    // "ok", or NaN maps of some methods: those methods' values are NaN, so row_of leaves them out
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

int pc_report_method_index(const ReportFile *rf, const char *id) {
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
    if (isfinite(v)) snprintf(buf, n, fabs(v) < 1e9 ? "%.4f" : "%.4e", v);   // a huge mean stays one short cell
    else snprintf(buf, n, "-");
}

// The row of method id in one file: its means and counts by the rule --table uses (table.h:
// pc_table_row over the images used here); an empty row (NaN, N = 0) when the file lacks the id.
static void row_of(const ReportFile *rf, const char *id, PcTableRow *row) {
    int m = pc_report_method_index(rf, id);
    if (m >= 0) {
        pc_table_row(&rf->r, m, rf->use, row);
        return;
    }
    memset(row, 0, sizeof *row);
    row->ins = row->del = row->sens = row->sens_avg = row->energy = row->rank = NAN;
}

void pc_report_label_cell(FILE *md, const char *label, const char *suffix) {
    fputc(' ', md);
    pc_md_write(md, label);
    fprintf(md, "%s |", suffix);
}

// "| <id> |" with the id as Markdown text.
static void id_cell(FILE *md, const char *id) {
    fprintf(md, "| ");
    pc_md_write(md, id);
    fprintf(md, " |");
}

// Localisation (SPEC §10), when any file has [data] masks: mean energy in mask and pointing hits
// per method and file; for the files that have them, the hits within the pointing tolerance and
// the mean relevance rank accuracy (localisation.h).
static void table_localisation(FILE *md, const ReportFile *fs, int nf, const char **ids, int n_ids) {
    int any = 0;
    for (int k = 0; k < nf; k++) any |= fs[k].r.layout.localisation;
    if (!any) return;
    fprintf(md, "\n## Localisation: energy in the object mask and pointing game (SPEC §10)\n\n| Method |");
    for (int k = 0; k < nf; k++) {
        pc_report_label_cell(md, fs[k].label, " energy");
        pc_report_label_cell(md, fs[k].label, " pointing");
        if (!fs[k].r.layout.loc_more) continue;
        char tol[48];
        snprintf(tol, sizeof tol, " pointing %d px", fs[k].r.layout.pointing_tol);
        pc_report_label_cell(md, fs[k].label, tol);
        pc_report_label_cell(md, fs[k].label, " rank accuracy");
    }
    fprintf(md, "\n|---|");
    for (int k = 0; k < nf; k++) fprintf(md, "---:|---:|%s", fs[k].r.layout.loc_more ? "---:|---:|" : "");
    fprintf(md, "\n");
    for (int m = 0; m < n_ids; m++) {
        id_cell(md, ids[m]);
        for (int k = 0; k < nf; k++) {
            PcTableRow row;
            char a[32], b[32] = "-";
            row_of(&fs[k], ids[m], &row);
            fmt4(a, sizeof a, row.energy);
            if (row.n_loc) snprintf(b, sizeof b, "%d/%d", row.hits, row.n_loc);
            fprintf(md, " %s | %s |", a, b);
            if (!fs[k].r.layout.loc_more) continue;
            snprintf(b, sizeof b, "-");
            if (row.n_loc && row.has_loc_more) snprintf(b, sizeof b, "%d/%d", row.hits_tol, row.n_loc);
            fmt4(a, sizeof a, row.rank);
            fprintf(md, " %s | %s |", b, a);
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

// ---- figures -----------------------------------------------------------------------------------

// Mean curve of method id's insertion or deletion scores into y (T) over the images behind its means
// (--table's rule: pc_table_values) whose scores are all softmax probabilities (pc_unit_value_usable):
// 1, 0 when absent or no image is used, -1 with err when the scores cannot be read.
int pc_report_mean_curve(const ReportFile *rf, const char *id, int deletion, double *y, PcError *err) {
    int m = pc_report_method_index(rf, id), T = rf->r.layout.steps, k = 0, any = 0;
    for (int i = 0; i < rf->r.n && !any; i++) any = rf->use[i];
    if (m < 0 || !any) return 0;
    err->msg[0] = 0;
    float *v = pc_results_scores(&rf->r, m, deletion, err);
    if (!v) return err->msg[0] ? -1 : 0;
    double *auc = pc_table_values(&rf->r, m, deletion ? "deletion" : "insertion", rf->use);
    for (int t = 0; t < T; t++) y[t] = 0;
    for (int i = 0; i < rf->r.n; i++) {
        if (!rf->use[i] || (auc && isnan(auc[i]))) continue;
        int usable = 1;
        for (int t = 0; t < T && usable; t++) usable = pc_unit_value_usable(v[(size_t)i * T + t]);
        if (!usable) continue;
        for (int t = 0; t < T; t++) y[t] += v[(size_t)i * T + t];
        k++;
    }
    free(v);
    free(auc);
    for (int t = 0; t < T && k; t++) y[t] /= k;
    return k > 0;
}

// Figure: per-level plot of one variant (AUCs of Poly-CAM at each level and of the layer CAMs).
static int figure_levels(FILE *md, const char *dir, const ReportFile *rf, const Levels *lv, int v, PcError *err) {
    int L = lv->n_layers[v];
    if (L == 0) return 0;   // only a no-LNorm map: no per-layer figure
    double x[16], y[4][16];
    for (int l = 0; l < L; l++) {
        x[l] = l + 1;
        for (int k = 0; k < 4; k++) {
            char id[256];
            snprintf(id, sizeof id, "%s.%s.%s", lv->variants[v], k < 2 ? "level" : "cam", lv->layers[v][l]);
            PcTableRow row;
            row_of(rf, id, &row);
            y[k][l] = k % 2 ? row.del : row.ins;
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
    char file[600];
    snprintf(file, sizeof file, "levels_%s_%s.png", rf->label, lv->variants[v]);
    if (!rc) pc_md_image(md, title, file);
    return rc;
}

// Box-filter (or nearest, when not a divisor) resize of an (s, s, 3) tile to (t, t, 3).
void pc_report_shrink_tile(const unsigned char *in, int s, unsigned char *out, int t) {
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
        fprintf(md, "| ");
        pc_md_code(md, fs[k].r.path);
        fprintf(md, " | %d | %d | %s | %d |\n", fs[k].r.n, fs[k].r.n_done,
                fs[k].r.complete ? "complete" : "running (images done so far)", used);
    }
    for (int k = 0; k < nf; k++)
        if (fs[k].from_journal) {
            fprintf(md, "\n");
            pc_md_code(md, fs[k].r.path);
            fprintf(md, ": %d of its done images are read from its journal (stored by the run, not yet in the "
                        ".partial).\n", fs[k].from_journal);
        }
    if (own)
        fprintf(md, "\n**The files share no readable image**: each file's numbers are the means over its own "
                    "readable images, so the column groups do not compare image for image.\n");
    for (int k = 0; k < nf; k++) {
        int ok = 0;
        for (int i = 0; i < fs[k].r.n; i++) ok += fs[k].ok[i];
        if (ok == 0) {
            fprintf(md, "\n");
            pc_md_code(md, fs[k].r.path);
            fprintf(md, " has no readable image%s: its columns are empty.\n", fs[k].r.complete ? "" : " yet");
        } else if (ok != kept && !own) {
            fprintf(md, "\nLeft out of ");
            pc_md_code(md, fs[k].r.path);
            fprintf(md, ": %d of its %d readable images, which another file lacks or could not read; every mean is "
                        "over the same %d images.\n", ok - kept, ok, kept);
        }
    }
    for (int k = 0; k < nf; k++) {
        int nan = 0;
        for (int i = 0; i < fs[k].r.n; i++) nan += fs[k].use[i] && pc_status_is_nan_map(fs[k].r.status[i]);
        if (nan) {
            fprintf(md, "\n");
            pc_md_code(md, fs[k].r.path);
            fprintf(md, ": %d of the images used have a NaN map of some method (a constant map, as the library gives "
                        "it; `/images/status` names the methods): they leave only those methods' means (their N is "
                        "lower).\n", nan);
        }
    }
    for (int k = 1; k < nf; k++)
        if (fs[k].r.layout.steps != fs[0].r.layout.steps) {
            fprintf(md, "\n");
            pc_md_code(md, fs[k].r.path);
            fprintf(md, " has %d curve steps and ", fs[k].r.layout.steps);
            pc_md_code(md, fs[0].r.path);
            fprintf(md, " %d: their AUCs are not on the same grid.\n", fs[0].r.layout.steps);
        }
}

static int write_figures(FILE *md, const char *dir, const ReportFile *fs, int nf, const ReportModel *models, int nm,
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
    // per model: the curves and the map grid over every file (report_figures.c); per file: the
    // per-level figures
    int rc = pc_report_figures(fm, dir, fs, nf, models, nm, opt, err);
    for (int k = 0; k < nf && rc == 0; k++) {
        Levels lv;
        find_levels(&fs[k], &lv);
        for (int v = 0; v < lv.n_variants && rc == 0; v++) rc = figure_levels(fm, dir, &fs[k], &lv, v, err);
    }
    fclose(fm);
    if (rc == 0 && len > 0) fprintf(md, "\n## Figures\n%s", buf);
    free(buf);
    return rc;
}

// The sections of report.md and report.csv (written to their streams).
static int write_sections(FILE *md, FILE *csv, const char *dir, ReportFile *fs, int nf, const PcReportOptions *opt,
                          PcError *err) {
    int kept = mark_common(fs, nf), own = use_own_images(fs, nf, kept);
    const char *ids[512];
    int n_ids = main_ids(fs, nf, ids, 512), nm = 0;
    fprintf(md, "# polycam-eval report\n\n");
    describe_files(md, fs, nf, kept, own);
    ReportModel *models = pc_report_models(fs, nf, &nm);
    PcPaperData pd;
    pc_report_csv_header(csv);
    pc_report_paper_setting(md, csv, fs, models, nm, opt, &pd);   // report_paper.c
    int rc = pc_report_tables(md, csv, fs, nf, models, nm, &pd, opt, err);   // report_tables.c
    if (rc == 0) table_localisation(md, fs, nf, ids, n_ids);
    if (rc == 0) rc = write_figures(md, dir, fs, nf, models, nm, opt, err);
    for (int k = 0; k < nf && rc == 0; k++)   // /sanity, where a file has one (report_sanity.c)
        rc = pc_report_sanity(md, dir, &fs[k].r, fs[k].label, pc_plot_available(), err);
    pc_paper_free(&pd);
    pc_report_models_free(models, nm);
    return rc;
}

// report.md and report.csv are written to .tmp files and renamed over the previous ones when whole
// (a failure, a full disk among them, leaves the previous report as it was).
static int write_report(const char *dir, ReportFile *fs, int nf, const PcReportOptions *opt, PcError *err) {
    char *path = pc_join_path(dir, "report.md"), *tmp = pc_join_path(dir, "report.md.tmp");
    char *csv_path = pc_join_path(dir, "report.csv"), *csv_tmp = pc_join_path(dir, "report.csv.tmp");
    FILE *md = fopen(tmp, "w"), *csv = md ? fopen(csv_tmp, "w") : NULL;
    int rc = 0;
    if (!md || !csv) {
        rc = pc_fail(err, "%s: cannot create (%s)", md ? csv_tmp : tmp, strerror(errno));
        if (md) fclose(md), unlink(tmp);
    } else {
        rc = write_sections(md, csv, dir, fs, nf, opt, err);
        if (rc == 0) rc = pc_commit_file(csv, csv_tmp, csv_path, err);
        else fclose(csv), unlink(csv_tmp);
        if (rc == 0) {
            rc = pc_commit_file(md, tmp, path, err);
        } else {
            fclose(md);   // the figure or section that failed is named in err
            unlink(tmp);
        }
    }
    free(path);
    free(tmp);
    free(csv_path);
    free(csv_tmp);
    return rc;
}

int pc_report(const char *out_dir, int n_files, char *const *files, const PcReportOptions *opt, PcError *err) {
    if (n_files < 1) return pc_fail(err, "--report needs an output folder and at least one result file");
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);   // failures are reported as one line each
    ReportFile *fs = xcalloc((size_t)n_files, sizeof(ReportFile));
    int rc = 0;
    for (int k = 0; k < n_files && rc == 0; k++) rc = file_open(&fs[k], files[k], err);
    for (int k = 0; k < n_files && rc == 0; k++) rc = pc_report_sanity_check(&fs[k].r, err);   // before any figure
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
