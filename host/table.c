// table.c: summary table (Markdown and CSV) of a result file, see table.h.
#define _GNU_SOURCE
#include "table.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <string.h>

#include "store.h"

// Whole 1-D dataset as doubles, NULL when absent or unreadable.
static double *read_f64(hid_t f, const char *name, size_t n) {
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return NULL;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return NULL;
    hid_t sp = H5Dget_space(d);
    double *out = NULL;
    if (sp >= 0 && H5Sget_simple_extent_npoints(sp) == (hssize_t)n) {
        out = xmalloc(n * sizeof(double));
        if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
            free(out);
            out = NULL;
        }
    }
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return out;
}

int pc_table_from_file(const char *h5_path, PcTable *t, PcError *err) {
    memset(t, 0, sizeof *t);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    // A running polycam-eval holds its .partial file locked; reading a table of it mid-run is a
    // read-only peek at flushed data, so file locking is not needed here.
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
    H5Pset_file_locking(fapl, 0, 1);
#endif
    hid_t f = H5Fopen(h5_path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) return pc_fail(err, "%s: cannot open as HDF5", h5_path);
    int rc = -1;
    size_t n_ids = 0, n_status = 0;
    char **ids = NULL, **status = NULL;
    double *done = NULL;
    hid_t a = H5Aexists(f, "method_ids") > 0 ? H5Aopen(f, "method_ids", H5P_DEFAULT) : -1;
    if (a < 0) {
        pc_fail(err, "%s: not a polycam-eval result file (no method_ids attribute)", h5_path);
        goto done;
    }
    ids = pc_h5_read_strings(a, 1, &n_ids);
    H5Aclose(a);
    hid_t ds = H5Lexists(f, "/images/status", H5P_DEFAULT) > 0 ? H5Dopen2(f, "/images/status", H5P_DEFAULT) : -1;
    if (ds >= 0) {
        status = pc_h5_read_strings(ds, 0, &n_status);
        H5Dclose(ds);
    }
    if (!ids || !status) {
        pc_fail(err, "%s: cannot read method_ids or /images/status", h5_path);
        goto done;
    }
    size_t n = n_status;
    done = read_f64(f, "/images/done", n);
    if (!done) {
        pc_fail(err, "%s: cannot read /images/done", h5_path);
        goto done;
    }
    t->n_images = (int)n;
    for (size_t i = 0; i < n; i++) {
        if (done[i] != 1) continue;
        t->n_done++;
        if (!strcmp(status[i], "ok")) t->n_ok++;
    }
    if (H5Aexists(f, "complete") > 0) {
        hid_t ac = H5Aopen(f, "complete", H5P_DEFAULT);
        long long c = 0;
        if (ac >= 0 && H5Aread(ac, H5T_NATIVE_LLONG, &c) >= 0) t->complete = c == 1;
        if (ac >= 0) H5Aclose(ac);
    }
    t->n_rows = (int)n_ids;
    t->rows = xcalloc(n_ids ? n_ids : 1, sizeof(PcTableRow));
    for (size_t m = 0; m < n_ids; m++) {
        PcTableRow *row = &t->rows[m];
        snprintf(row->id, sizeof row->id, "%s", ids[m]);
        char name[256];
        snprintf(name, sizeof name, "/methods/%s/insertion/auc", ids[m]);
        double *ins = read_f64(f, name, n);
        snprintf(name, sizeof name, "/methods/%s/deletion/auc", ids[m]);
        double *del = read_f64(f, name, n);
        row->has_ins = ins != NULL;
        row->has_del = del != NULL;
        double si = 0, sd = 0;
        for (size_t i = 0; i < n; i++) {
            if (done[i] != 1 || strcmp(status[i], "ok")) continue;
            if ((ins && !isfinite(ins[i])) || (del && !isfinite(del[i]))) continue;
            if (ins) si += ins[i];
            if (del) sd += del[i];
            row->n++;
        }
        row->ins = row->n ? si / row->n : NAN;
        row->del = row->n ? sd / row->n : NAN;
        free(ins);
        free(del);
    }
    rc = 0;
done:
    pc_h5_free_strings(ids, n_ids);
    pc_h5_free_strings(status, n_status);
    free(done);
    H5Fclose(f);
    if (rc) pc_table_free(t);
    return rc;
}

static void cell(char *buf, size_t n, int has, double v) {
    if (!has || !isfinite(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.4f", v);
}

void pc_table_print_markdown(FILE *out, const PcTable *t) {
    int w = 6;
    for (int r = 0; r < t->n_rows; r++)
        if ((int)strlen(t->rows[r].id) > w) w = (int)strlen(t->rows[r].id);
    fprintf(out, "| %-*s | Insertion | Deletion | Ins-Del |    N |\n", w, "Method");
    fprintf(out, "|-");
    for (int i = 0; i < w; i++) fputc('-', out);
    fprintf(out, "-|----------:|---------:|--------:|-----:|\n");
    for (int r = 0; r < t->n_rows; r++) {
        const PcTableRow *row = &t->rows[r];
        char ins[32], del[32], diff[32];
        cell(ins, sizeof ins, row->has_ins, row->ins);
        cell(del, sizeof del, row->has_del, row->del);
        cell(diff, sizeof diff, row->has_ins && row->has_del, row->ins - row->del);
        fprintf(out, "| %-*s | %9s | %8s | %7s | %4d |\n", w, row->id, ins, del, diff, row->n);
    }
}

int pc_table_write_csv(const char *csv_path, const PcTable *t, PcError *err) {
    FILE *f = fopen(csv_path, "w");
    if (!f) return pc_fail(err, "%s: cannot create (%s)", csv_path, strerror(errno));
    fprintf(f, "method,insertion,deletion,ins_del,n\n");
    for (int r = 0; r < t->n_rows; r++) {
        const PcTableRow *row = &t->rows[r];
        fprintf(f, "%s,", row->id);
        if (row->has_ins && isfinite(row->ins)) fprintf(f, "%.6f", row->ins);
        fputc(',', f);
        if (row->has_del && isfinite(row->del)) fprintf(f, "%.6f", row->del);
        fputc(',', f);
        if (row->has_ins && row->has_del && isfinite(row->ins - row->del)) fprintf(f, "%.6f", row->ins - row->del);
        fprintf(f, ",%d\n", row->n);
    }
    if (fclose(f) != 0) return pc_fail(err, "%s: cannot write (%s)", csv_path, strerror(errno));
    return 0;
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
