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

// Mean energy in mask and pointing hits of method m over the used images that have them.
static void fill_localisation(const PcResultFile *rf, int m, const int *use, PcTableRow *row) {
    row->energy = NAN;
    if (!rf->layout.localisation) return;
    double *energy = pc_results_extra(rf, m, "localisation/energy");
    int *hit = pc_results_pointing(rf, m);
    row->has_loc = energy && hit;
    double s = 0;
    for (int i = 0; row->has_loc && i < rf->n; i++) {
        if (!use[i] || hit[i] < 0 || !isfinite(energy[i])) continue;
        s += energy[i];
        row->hits += hit[i] == 1;
        row->n_loc++;
    }
    if (row->n_loc) row->energy = s / row->n_loc;
    free(energy);
    free(hit);
}

// The table of an open result file: means over the done images whose status is "ok" (or names
// NaN maps, layout.h: pc_status_usable) and whose AUCs are finite, so an image with a NaN map of
// a method leaves that method's row only.
static void fill_rows(const PcResultFile *rf, PcTable *t) {
    const int n = rf->n;
    t->n_images = n;
    t->n_done = rf->n_done;
    t->complete = rf->complete;
    int *use = xcalloc((size_t)(n > 0 ? n : 1), sizeof(int));
    for (int i = 0; i < n; i++) {
        use[i] = rf->done[i] == 1 && pc_status_usable(rf->status[i]);
        t->n_ok += use[i];
        t->n_nan_map += use[i] && pc_status_is_nan_map(rf->status[i]);
    }
    t->n_rows = rf->layout.n_methods;
    t->rows = xcalloc((size_t)(t->n_rows > 0 ? t->n_rows : 1), sizeof(PcTableRow));
    for (int m = 0; m < t->n_rows; m++) {
        PcTableRow *row = &t->rows[m];
        snprintf(row->id, sizeof row->id, "%s", rf->ids[m]);
        double *ins = pc_results_auc(rf, m, 0), *del = pc_results_auc(rf, m, 1);
        row->has_ins = ins != NULL;
        row->has_del = del != NULL;
        double si = 0, sd = 0;
        for (int i = 0; i < n; i++) {
            if (!use[i] || (ins && !isfinite(ins[i])) || (del && !isfinite(del[i]))) continue;
            if (ins) si += ins[i];
            if (del) sd += del[i];
            row->n++;
        }
        row->ins = row->n ? si / row->n : NAN;
        row->del = row->n ? sd / row->n : NAN;
        free(ins);
        free(del);
        double *sens = rf->layout.sensitivity ? pc_results_extra(rf, m, "sensitivity") : NULL;
        double ss = 0;
        row->has_sens = sens != NULL;
        for (int i = 0; sens && i < n; i++)
            if (use[i] && isfinite(sens[i])) ss += sens[i], row->n_sens++;
        row->sens = row->n_sens ? ss / row->n_sens : NAN;
        free(sens);
        fill_localisation(rf, m, use, row);
    }
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
    else snprintf(buf, n, "%.4f", v);
}

static int has_sens(const PcTable *t) { return t->n_rows > 0 && t->rows[0].has_sens; }

void pc_table_print_markdown(FILE *out, const PcTable *t) {
    int w = 6;
    const int sens = has_sens(t);
    for (int r = 0; r < t->n_rows; r++)
        if ((int)strlen(t->rows[r].id) > w) w = (int)strlen(t->rows[r].id);
    fprintf(out, "| %-*s | Insertion | Deletion | Ins-Del |    N |%s\n", w, "Method", sens ? " Sens-max | N sens |" : "");
    fprintf(out, "|-");
    for (int i = 0; i < w; i++) fputc('-', out);
    fprintf(out, "-|----------:|---------:|--------:|-----:|%s\n", sens ? "---------:|-------:|" : "");
    for (int r = 0; r < t->n_rows; r++) {
        const PcTableRow *row = &t->rows[r];
        char ins[32], del[32], diff[32], sm[32];
        cell(ins, sizeof ins, row->has_ins, row->ins);
        cell(del, sizeof del, row->has_del, row->del);
        cell(diff, sizeof diff, row->has_ins && row->has_del, row->ins - row->del);
        fprintf(out, "| %-*s | %9s | %8s | %7s | %4d |", w, row->id, ins, del, diff, row->n);
        cell(sm, sizeof sm, row->has_sens, row->sens);
        if (sens) fprintf(out, " %8s | %6d |", sm, row->n_sens);
        fputc('\n', out);
    }
    if (!t->n_rows || !t->rows[0].has_loc) return;
    fprintf(out, "\nLocalisation (SPEC §10: energy of the map in the object mask, pointing game hits):\n\n");
    fprintf(out, "| %-*s | Energy in mask | Pointing |    N |\n|-", w, "Method");
    for (int i = 0; i < w; i++) fputc('-', out);
    fprintf(out, "-|---------------:|---------:|-----:|\n");
    for (int r = 0; r < t->n_rows; r++) {
        const PcTableRow *row = &t->rows[r];
        char energy[32], hits[32];
        cell(energy, sizeof energy, 1, row->energy);
        snprintf(hits, sizeof hits, "%d/%d", row->hits, row->n_loc);
        fprintf(out, "| %-*s | %14s | %8s | %4d |\n", w, row->id, energy, hits, row->n_loc);
    }
}

// Columns energy, pointing_hits, pointing_n follow when the file has localisation.
static void write_rows(FILE *f, const PcTable *t) {
    const int loc = t->n_rows && t->rows[0].has_loc;
    fprintf(f, "method,insertion,deletion,ins_del,n%s%s\n", has_sens(t) ? ",sensitivity,n_sensitivity" : "",
            loc ? ",energy,pointing_hits,pointing_n" : "");
    for (int r = 0; r < t->n_rows; r++) {
        const PcTableRow *row = &t->rows[r];
        fprintf(f, "%s,", row->id);
        if (row->has_ins && isfinite(row->ins)) fprintf(f, "%.6f", row->ins);
        fputc(',', f);
        if (row->has_del && isfinite(row->del)) fprintf(f, "%.6f", row->del);
        fputc(',', f);
        if (row->has_ins && row->has_del && isfinite(row->ins - row->del)) fprintf(f, "%.6f", row->ins - row->del);
        fprintf(f, ",%d", row->n);
        if (has_sens(t)) {
            fputc(',', f);
            if (isfinite(row->sens)) fprintf(f, "%.6f", row->sens);
            fprintf(f, ",%d", row->n_sens);
        }
        if (loc) {
            fputc(',', f);
            if (isfinite(row->energy)) fprintf(f, "%.6f", row->energy);
            fprintf(f, ",%d,%d", row->hits, row->n_loc);
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
