// table.c: summary table (Markdown and CSV) of a result file, see table.h.
#define _GNU_SOURCE
#include "table.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layout.h"
#include "results_journal.h"
#include "safe_text.h"

// The rule of docs/hostile-inputs.md: an AUC is a mean of softmax probabilities, in [0, 1];
// anything else (NaN, inf, 1e308: a damaged or hand-made file) is left out of the means and of
// their N, like a NaN map. The slack allows for rounding. An energy in mask has no such range: a
// signed map (Input x Gradient, IG) gives any real (SPEC §10: sum(s g) / sum(s)), so it only has to
// be finite.
#define UNIT_SLACK 1e-3
int pc_unit_value_usable(double v) { return isfinite(v) && v >= -UNIT_SLACK && v <= 1 + UNIT_SLACK; }

// Image i enters the localisation of a row: its pointing is 0 or 1 and its energy finite.
static int loc_usable(const int *hit, const double *energy, int i) {
    return (hit[i] == 0 || hit[i] == 1) && isfinite(energy[i]);
}

// Mean energy in mask and pointing hits of method m over the used images that have both; the hits
// within the tolerance and the mean rank accuracy (a fraction: usable as an AUC is) over the same.
static void fill_localisation(const PcResultFile *rf, int m, const unsigned char *use, PcTableRow *row) {
    row->energy = NAN;
    if (!rf->layout.localisation) return;
    double *energy = pc_results_extra(rf, m, "localisation/energy");
    int *hit = pc_results_pointing(rf, m);
    row->has_loc = energy && hit;
    double s = 0;
    for (int i = 0; row->has_loc && i < rf->n; i++) {
        if (!use[i] || !loc_usable(hit, energy, i)) continue;
        s += energy[i];
        row->hits += hit[i] == 1;
        row->n_loc++;
    }
    if (row->n_loc) row->energy = s / row->n_loc;
    row->rank = NAN;
    int *tol = rf->layout.loc_more && row->has_loc ? pc_results_pointing_tol(rf, m) : NULL;
    double *rank = tol ? pc_results_extra(rf, m, "localisation/rank") : NULL;
    row->has_loc_more = tol && rank;
    row->tol = rf->layout.pointing_tol;
    double sr = 0;
    for (int i = 0; row->has_loc_more && i < rf->n; i++) {
        if (!use[i] || !loc_usable(hit, energy, i)) continue;   // the n_loc images
        row->hits_tol += tol[i] == 1;
        if (pc_unit_value_usable(rank[i])) sr += rank[i], row->n_rank++;
    }
    if (row->n_rank) row->rank = sr / row->n_rank;
    free(tol);
    free(rank);
    free(energy);
    free(hit);
}

// 1 when image i enters the AUC means: each stored AUC of it usable (NULL: not stored).
static int aucs_usable(const double *ins, const double *del, int i) {
    return (!ins || pc_unit_value_usable(ins[i])) && (!del || pc_unit_value_usable(del[i]));
}

// Values of the AUC series `which` (0 insertion, 1 deletion, 2 their difference) by the rule.
static double *auc_values(const PcResultFile *rf, int m, int which, const unsigned char *use) {
    double *ins = pc_results_auc(rf, m, 0), *del = pc_results_auc(rf, m, 1);
    double *out = which == 1 ? del : ins;
    if (!out || (which == 2 && !del)) {
        free(ins);
        free(del);
        return NULL;
    }
    for (int i = 0; i < rf->n; i++) {
        const int usable = (!use || use[i]) && aucs_usable(ins, del, i);
        out[i] = !usable ? NAN : which == 2 ? ins[i] - del[i] : out[i];
    }
    free(out == ins ? del : ins);
    return out;
}

double *pc_table_values(const PcResultFile *rf, int m, const char *what, const unsigned char *use) {
    static const char *const aucs[3] = {"insertion", "deletion", "ins_del"};
    for (int k = 0; k < 3; k++)
        if (!strcmp(what, aucs[k])) return auc_values(rf, m, k, use);
    // sensitivity-max and avg-sensitivity: finite and >= 0 (no upper bound); any other per-image
    // set of the method (/methods/<id>/<what>, one value per image): finite
    const int sens = !strcmp(what, "sensitivity"), avg = !strcmp(what, "sensitivity_avg");
    if ((sens && !rf->layout.sensitivity) || (avg && !rf->layout.sensitivity_avg)) return NULL;
    double *v = pc_results_extra(rf, m, what);
    for (int i = 0; v && i < rf->n; i++)
        if ((use && !use[i]) || !isfinite(v[i]) || ((sens || avg) && v[i] < 0)) v[i] = NAN;
    return v;
}

// Running mean of the non-NaN values of v (no overflow of a sum of huge values); *n their count.
static double mean_of(const double *v, int n_values, int *n) {
    double mean = 0;
    *n = 0;
    for (int i = 0; v && i < n_values; i++)
        if (!isnan(v[i])) (*n)++, mean += (v[i] - mean) / *n;
    return *n ? mean : NAN;
}

void pc_table_row(const PcResultFile *rf, int m, const unsigned char *use, PcTableRow *row) {
    memset(row, 0, sizeof *row);
    snprintf(row->id, sizeof row->id, "%s", rf->ids[m]);
    double *ins = pc_table_values(rf, m, "insertion", use), *del = pc_table_values(rf, m, "deletion", use);
    row->has_ins = ins != NULL;
    row->has_del = del != NULL;
    // both series are NaN on the same images (those left out); a file without AUCs counts the used
    const double *v = ins ? ins : del;
    double si = 0, sd = 0;
    for (int i = 0; i < rf->n; i++) {
        if (!use[i] || (v && isnan(v[i]))) continue;
        if (ins) si += ins[i];
        if (del) sd += del[i];
        row->n++;
    }
    row->ins = row->n && ins ? si / row->n : NAN;
    row->del = row->n && del ? sd / row->n : NAN;
    free(ins);
    free(del);
    double *sens = pc_table_values(rf, m, "sensitivity", use);
    row->has_sens = sens != NULL;
    row->sens = mean_of(sens, rf->n, &row->n_sens);
    free(sens);
    double *avg = pc_table_values(rf, m, "sensitivity_avg", use);
    int na;
    row->has_sens_avg = avg != NULL;
    row->sens_avg = mean_of(avg, rf->n, &na);
    free(avg);
    fill_localisation(rf, m, use, row);
}

// The perturbation metrics' summary columns: the file's scalar extra sets that name a column
// (extra_sets.h), means over the used images where the value is finite.
static void fill_columns(const PcResultFile *rf, const unsigned char *use, PcTable *t) {
    const PcStoreLayout *l = &rf->layout;
    for (int k = 0; k < l->n_extra && t->n_cols < 32; k++) {
        const PcExtraSet *e = &l->extra[k];
        if (e->width != 1 || !e->column) continue;
        const int c = t->n_cols++;
        snprintf(t->col_names[c], sizeof t->col_names[c], "%s", e->column);
        snprintf(t->col_keys[c], sizeof t->col_keys[c], "%s", e->name);
        for (char *p = t->col_keys[c]; *p; p++)
            if (*p == '/') *p = '_';
        for (int m = 0; m < t->n_rows; m++) {   // the rule of pc_table_values (finite), a running mean
            double *v = pc_table_values(rf, m, e->name, use);
            t->rows[m].col[c] = mean_of(v, rf->n, &t->rows[m].col_n[c]);
            free(v);
        }
    }
}

// The table of an open result file: means over the done images whose status is "ok" (or names
// NaN maps, layout.h: pc_status_usable) and whose AUCs are usable, so an image with a NaN map of
// a method leaves that method's row only.
static void fill_rows(const PcResultFile *rf, PcTable *t) {
    const int n = rf->n;
    t->n_images = n;
    t->n_done = rf->n_done;
    t->complete = rf->complete;
    unsigned char *use = xcalloc((size_t)(n > 0 ? n : 1), 1);
    for (int i = 0; i < n; i++) {
        use[i] = rf->done[i] == 1 && pc_status_usable(rf->status[i]);
        t->n_ok += use[i];
        t->n_nan_map += use[i] && pc_status_is_nan_map(rf->status[i]);
    }
    t->n_rows = rf->layout.n_methods;
    t->rows = xcalloc((size_t)(t->n_rows > 0 ? t->n_rows : 1), sizeof(PcTableRow));
    for (int m = 0; m < t->n_rows; m++) pc_table_row(rf, m, use, &t->rows[m]);
    fill_columns(rf, use, t);
    free(use);
}

int pc_table_from_file(const char *h5_path, PcTable *t, PcError *err) {
    memset(t, 0, sizeof *t);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    struct stat sb;
    size_t n = strlen(h5_path) + 16;
    char *partial = xmalloc(n);
    snprintf(partial, n, "%s.partial", h5_path);
    int running = stat(h5_path, &sb) != 0 && stat(partial, &sb) == 0;
    if (running) pc_fail(err, "%s: the run is not finished; its results so far are in %s (polycam-eval --table %s)",
                         h5_path, partial, partial);
    free(partial);
    if (running) return -1;
    PcResultFile rf;
    int rc = pc_results_open(&rf, h5_path, err);
    PcError e;
    // a .partial: the images its journal holds count, as a resume counts them
    if (rc == 0 && pc_results_add_journal(&rf, &t->n_journal, &e)) fprintf(stderr, "warning: %s\n", e.msg);
    if (rc == 0) fill_rows(&rf, t);
    pc_results_close(&rf);
    return rc;
}

static void cell(char *buf, size_t n, int has, double v) {
    if (!has || !isfinite(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, fabs(v) < 1e9 ? "%.4f" : "%.4e", v);   // a huge mean stays one short cell
}

static int has_sens(const PcTable *t) { return t->n_rows > 0 && t->rows[0].has_sens; }
static int has_avg(const PcTable *t) { return t->n_rows > 0 && t->rows[0].has_sens && t->rows[0].has_sens_avg; }
static int has_more(const PcTable *t) { return t->n_rows > 0 && t->rows[0].has_loc && t->rows[0].has_loc_more; }

// The perturbation metrics' table (docs/metrics.md), when the file has them: means, and the
// smallest image count behind a row's means. ids: the rows' escaped ids.
static void print_columns(FILE *out, const PcTable *t, int w, const char *ids, size_t id_len) {
    if (!t->n_cols) return;
    fprintf(out, "\nPerturbation metrics (docs/metrics.md; means over the ok images):\n\n| %-*s |", w, "Method");
    for (int c = 0; c < t->n_cols; c++) fprintf(out, " %9s |", t->col_names[c]);
    fprintf(out, "    N |\n|-");
    for (int i = 0; i < w; i++) fputc('-', out);
    fprintf(out, "-|");
    for (int c = 0; c < t->n_cols; c++) {
        const int cw = (int)strlen(t->col_names[c]) > 9 ? (int)strlen(t->col_names[c]) : 9;
        for (int i = 0; i <= cw; i++) fputc('-', out);
        fprintf(out, ":|");
    }
    fprintf(out, "-----:|\n");
    for (int r = 0; r < t->n_rows; r++) {
        const PcTableRow *row = &t->rows[r];
        int n = row->col_n[0];
        fprintf(out, "| %-*s |", w, ids + (size_t)r * id_len);
        for (int c = 0; c < t->n_cols; c++) {
            char v[32];
            cell(v, sizeof v, 1, row->col[c]);
            fprintf(out, " %*s |", (int)strlen(t->col_names[c]) > 9 ? (int)strlen(t->col_names[c]) : 9, v);
            n = row->col_n[c] < n ? row->col_n[c] : n;
        }
        fprintf(out, " %4d |\n", n);
    }
}

void pc_table_print_markdown(FILE *out, const PcTable *t) {
    int w = 6;
    const int sens = has_sens(t);
    // the ids as Markdown text (safe_text.h: they were checked on read; escaped all the same)
    char (*ids)[4 * sizeof t->rows[0].id + 1] = xcalloc((size_t)t->n_rows + 1, sizeof *ids);
    for (int r = 0; r < t->n_rows; r++) {
        int len = (int)pc_md_escape(ids[r], sizeof ids[r], t->rows[r].id);
        if (len > w) w = len;
    }
    const int avg = has_avg(t), more = has_more(t);
    fprintf(out, "| %-*s | Insertion | Deletion | Ins-Del |    N |%s%s\n", w, "Method", sens ? " Sens-max | N sens |" : "",
            avg ? " Sens-avg |" : "");
    fprintf(out, "|-");
    for (int i = 0; i < w; i++) fputc('-', out);
    fprintf(out, "-|----------:|---------:|--------:|-----:|%s%s\n", sens ? "---------:|-------:|" : "",
            avg ? "---------:|" : "");
    for (int r = 0; r < t->n_rows; r++) {
        const PcTableRow *row = &t->rows[r];
        char ins[32], del[32], diff[32], sm[32];
        cell(ins, sizeof ins, row->has_ins, row->ins);
        cell(del, sizeof del, row->has_del, row->del);
        cell(diff, sizeof diff, row->has_ins && row->has_del, row->ins - row->del);
        fprintf(out, "| %-*s | %9s | %8s | %7s | %4d |", w, ids[r], ins, del, diff, row->n);
        cell(sm, sizeof sm, row->has_sens, row->sens);
        if (sens) fprintf(out, " %8s | %6d |", sm, row->n_sens);
        cell(sm, sizeof sm, row->has_sens_avg, row->sens_avg);
        if (avg) fprintf(out, " %8s |", sm);
        fputc('\n', out);
    }
    print_columns(out, t, w, ids[0], sizeof ids[0]);
    if (!t->n_rows || !t->rows[0].has_loc) {
        free(ids);
        return;
    }
    fprintf(out, "\nLocalisation (SPEC §10: energy of the map in the object mask = relevance mass accuracy, pointing "
                 "game hits%s):\n\n", more ? "; pointing within the tolerance, relevance rank accuracy" : "");
    char tolh[32];
    snprintf(tolh, sizeof tolh, "Pointing %dpx", t->rows[0].tol);
    fprintf(out, "| %-*s | Energy in mask | Pointing |    N |", w, "Method");
    if (more) fprintf(out, " %13s | Rank acc. |", tolh);
    fprintf(out, "\n|-");
    for (int i = 0; i < w; i++) fputc('-', out);
    fprintf(out, "-|---------------:|---------:|-----:|%s\n", more ? "--------------:|----------:|" : "");
    for (int r = 0; r < t->n_rows; r++) {
        const PcTableRow *row = &t->rows[r];
        char energy[32], hits[32], rank[32];
        cell(energy, sizeof energy, 1, row->energy);
        snprintf(hits, sizeof hits, "%d/%d", row->hits, row->n_loc);
        fprintf(out, "| %-*s | %14s | %8s | %4d |", w, ids[r], energy, hits, row->n_loc);
        snprintf(hits, sizeof hits, "%d/%d", row->hits_tol, row->n_loc);
        cell(rank, sizeof rank, 1, row->rank);
        if (more) fprintf(out, " %13s | %9s |", hits, rank);
        fputc('\n', out);
    }
    free(ids);
}

// Columns energy, pointing_hits, pointing_n follow when the file has localisation; then
// sensitivity_avg, and pointing_tol_hits, pointing_tol, rank, in files that have them.
static void write_rows(FILE *f, const PcTable *t) {
    const int loc = t->n_rows && t->rows[0].has_loc, avg = has_avg(t), more = has_more(t);
    fprintf(f, "method,insertion,deletion,ins_del,n%s%s%s%s", has_sens(t) ? ",sensitivity,n_sensitivity" : "",
            loc ? ",energy,pointing_hits,pointing_n" : "", avg ? ",sensitivity_avg" : "",
            more ? ",pointing_tol_hits,pointing_tol,rank" : "");
    for (int c = 0; c < t->n_cols; c++) fprintf(f, ",%s,n_%s", t->col_keys[c], t->col_keys[c]);
    fputc('\n', f);
    for (int r = 0; r < t->n_rows; r++) {
        const PcTableRow *row = &t->rows[r];
        pc_csv_field(f, row->id);   // RFC 4180, with the formula guard (safe_text.h)
        fputc(',', f);
        if (row->has_ins && isfinite(row->ins)) fprintf(f, "%.6f", row->ins);
        fputc(',', f);
        if (row->has_del && isfinite(row->del)) fprintf(f, "%.6f", row->del);
        fputc(',', f);
        if (row->has_ins && row->has_del && isfinite(row->ins - row->del)) fprintf(f, "%.6f", row->ins - row->del);
        fprintf(f, ",%d", row->n);
        if (has_sens(t)) {
            fputc(',', f);
            if (isfinite(row->sens)) fprintf(f, fabs(row->sens) < 1e9 ? "%.6f" : "%.6e", row->sens);
            fprintf(f, ",%d", row->n_sens);
        }
        if (loc) {
            fputc(',', f);
            if (isfinite(row->energy)) fprintf(f, "%.6f", row->energy);
            fprintf(f, ",%d,%d", row->hits, row->n_loc);
        }
        if (avg) {
            fputc(',', f);
            if (isfinite(row->sens_avg)) fprintf(f, "%.6f", row->sens_avg);
        }
        if (more) {
            fprintf(f, ",%d,%d,", row->hits_tol, row->tol);
            if (isfinite(row->rank)) fprintf(f, "%.6f", row->rank);
        }
        for (int c = 0; c < t->n_cols; c++) {   // the perturbation metrics (docs/metrics.md)
            fputc(',', f);
            if (isfinite(row->col[c])) fprintf(f, "%.6f", row->col[c]);
            fprintf(f, ",%d", row->col_n[c]);
        }
        fputc('\n', f);
    }
}

// Written to "<csv>.tmp", flushed to the disk and renamed over the previous CSV: a failure (disk
// full, no permission) leaves the previous CSV as it was and no partial one.
int pc_table_write_csv(const char *csv_path, const PcTable *t, PcError *err) {
    size_t n = strlen(csv_path) + 8;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.tmp", csv_path);
    FILE *f = fopen(tmp, "w");
    int rc = 0;
    if (!f) {
        rc = pc_fail(err, "%s: cannot create (%s)", csv_path, strerror(errno));
    } else {
        write_rows(f, t);
        rc = pc_commit_file(f, tmp, csv_path, err);
    }
    free(tmp);
    return rc;
}

void pc_table_free(PcTable *t) {
    free(t->rows);
    memset(t, 0, sizeof *t);
}

char *pc_table_csv_path(const char *h5_path) {
    size_t n = strlen(h5_path) + 5;
    char *out = xmalloc(n);
    snprintf(out, n, "%s.csv", h5_path);
    return out;
}
