// description.c: the self-describing attributes of a result file (description.h), written when the
// file is created and read back by a merge.
#define _GNU_SOURCE
#include "description.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"

void pc_describe_free(PcDescription *d) {
    free(d->method);
    memset(d, 0, sizeof *d);
}

// ---- in the file ------------------------------------------------------------------------------

int pc_describe_write(hid_t file, const char *path, const PcStoreLayout *l, const PcDescription *d, PcError *err) {
    int ok = !pc_h5_set_str_attr(file, "class_source", d->class_source) &&
             !pc_h5_set_str_attr(file, "preprocessing", d->preprocessing);
    for (int m = 0; ok && m < l->n_methods && m < d->n_methods; m++) {
        char name[PC_METHOD_ID_LEN + 32];
        snprintf(name, sizeof name, "/methods/%s", l->method_ids[m]);
        hid_t g = H5Gopen2(file, name, H5P_DEFAULT);
        ok = g >= 0 && !pc_h5_set_str_attr(g, "description", d->method[m]);
        for (int c = 0; ok && c < 2; c++) {
            if (c == 0 ? !l->insertion : !l->deletion) continue;
            hid_t gc = H5Gopen2(g, c == 0 ? "insertion" : "deletion", H5P_DEFAULT);
            ok = gc >= 0 && !pc_h5_set_i64_attr(gc, "higher_is_better", c == 0) &&
                 !pc_h5_set_str_attr(gc, "auc_rule", d->auc_rule) && !pc_h5_set_i64_attr(gc, "steps", d->steps) &&
                 !pc_h5_set_i64_attr(gc, "pixels_per_step", d->pixels_per_step) &&
                 !pc_h5_set_str_attr(gc, "baseline", d->baseline) && !pc_h5_set_str_attr(gc, "order", d->order);
            if (gc >= 0) H5Gclose(gc);
        }
        if (g >= 0) H5Gclose(g);
    }
    return ok ? 0 : pc_fail(err, "%s: cannot write the descriptions of the methods and curves%s", path, pc_h5_why());
}

// A string attribute of loc into buf; 0 when absent.
static int read_str(hid_t loc, const char *name, char *buf, size_t n) {
    char *v = pc_h5_read_root_attr(loc, name);
    if (!v) return 0;
    snprintf(buf, n, "%s", v);
    free(v);
    return 1;
}

int pc_describe_read(hid_t file, const PcStoreLayout *l, PcDescription *out) {
    memset(out, 0, sizeof *out);
    if (!read_str(file, "class_source", out->class_source, sizeof out->class_source)) return 0;
    read_str(file, "preprocessing", out->preprocessing, sizeof out->preprocessing);
    out->n_methods = l->n_methods;
    out->method = xcalloc((size_t)(l->n_methods > 0 ? l->n_methods : 1), sizeof *out->method);
    for (int m = 0; m < l->n_methods; m++) {
        char name[PC_METHOD_ID_LEN + 32];
        snprintf(name, sizeof name, "/methods/%s", l->method_ids[m]);
        hid_t g = H5Gopen2(file, name, H5P_DEFAULT);
        if (g < 0) continue;
        read_str(g, "description", out->method[m], sizeof out->method[m]);
        for (int c = 0; c < 2 && m == 0; c++) {   // the same for every method's curves
            hid_t gc = H5Lexists(g, c ? "deletion" : "insertion", H5P_DEFAULT) > 0
                           ? H5Gopen2(g, c ? "deletion" : "insertion", H5P_DEFAULT) : -1;
            if (gc < 0) continue;
            out->steps = (int)pc_h5_read_i64_attr(gc, "steps", 0);
            out->pixels_per_step = (long)pc_h5_read_i64_attr(gc, "pixels_per_step", 0);
            read_str(gc, "auc_rule", out->auc_rule, sizeof out->auc_rule);
            read_str(gc, "baseline", out->baseline, sizeof out->baseline);
            read_str(gc, "order", out->order, sizeof out->order);
            H5Gclose(gc);
        }
        H5Gclose(g);
    }
    return 1;
}
