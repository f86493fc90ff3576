// h5shape.c: checked reads of datasets from files we did not just write (see h5shape.h).
#include "h5shape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"

int pc_h5_shape(hid_t d, hsize_t dims[PC_H5_MAX_RANK]) {
    hid_t sp = H5Dget_space(d);
    if (sp < 0) return -1;
    int rank = H5Sget_simple_extent_ndims(sp);
    if (rank >= 0 && rank <= PC_H5_MAX_RANK && H5Sget_simple_extent_type(sp) != H5S_NULL)
        H5Sget_simple_extent_dims(sp, dims, NULL);
    else
        rank = -1;
    H5Sclose(sp);
    return rank;
}

// "(4, 100000)", "(any)" for PC_DIM_ANY, "()" for a scalar; "(not a simple shape)" for -1.
static void shape_text(char *out, size_t cap, int rank, const hsize_t *dims) {
    if (rank < 0) {
        snprintf(out, cap, "(not an array of at most %d axes)", PC_H5_MAX_RANK);
        return;
    }
    size_t n = (size_t)snprintf(out, cap, "(");
    for (int i = 0; i < rank && n < cap; i++) {
        if (dims[i] == PC_DIM_ANY) n += (size_t)snprintf(out + n, cap - n, "%sany", i ? ", " : "");
        else n += (size_t)snprintf(out + n, cap - n, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
    }
    if (n < cap) snprintf(out + n, cap - n, ")");
}

static const char *kind_text(PcH5Kind k) {
    return k == PC_H5_FLOAT ? "floating-point numbers" : k == PC_H5_INT ? "integers" : k == PC_H5_STRING ? "strings"
                                                                                                       : "something else";
}

static PcH5Kind kind_of(hid_t d) {
    hid_t t = H5Dget_type(d);
    H5T_class_t c = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (t >= 0) H5Tclose(t);
    return c == H5T_FLOAT ? PC_H5_FLOAT : c == H5T_INTEGER ? PC_H5_INT : c == H5T_STRING ? PC_H5_STRING : PC_H5_ANY_KIND;
}

// Data kept outside the file (external raw files, a virtual dataset's sources): NULL when none,
// else what (a reader never follows them: they could name any file, or a FIFO that blocks).
static const char *outside_storage(hid_t d) {
    hid_t pl = H5Dget_create_plist(d);
    if (pl < 0) return "has no readable creation properties";
    H5D_layout_t layout = H5Pget_layout(pl);
    int ext = H5Pget_external_count(pl);
    H5Pclose(pl);
    if (layout == H5D_VIRTUAL) return "is a virtual dataset (its data are in other files)";
    if (layout != H5D_COMPACT && layout != H5D_CONTIGUOUS && layout != H5D_CHUNKED) return "has an unknown layout";
    if (ext != 0) return "keeps its data in an external file";
    return NULL;
}

int pc_h5_check(hid_t d, const char *name, const PcH5Want *w, PcError *err) {
    PcH5Kind k = kind_of(d);
    if (w->kind != PC_H5_ANY_KIND && k != w->kind)
        return pc_fail(err, "%s: %s holds %s, expected %s", w->file, name, kind_text(k), kind_text(w->kind));
    if (w->kind == PC_H5_ANY_KIND && k == PC_H5_ANY_KIND)
        return pc_fail(err, "%s: %s holds neither numbers nor strings", w->file, name);
    const char *outside = outside_storage(d);
    if (outside) return pc_fail(err, "%s: %s %s; not read", w->file, name, outside);
    hsize_t dims[PC_H5_MAX_RANK] = {0};
    int rank = pc_h5_shape(d, dims), same = rank == w->rank;
    for (int i = 0; same && i < rank; i++) same = w->dims[i] == PC_DIM_ANY || w->dims[i] == dims[i];
    if (same) return 0;
    char found[160], want[160];
    shape_text(found, sizeof found, rank, dims);
    shape_text(want, sizeof want, w->rank, w->dims);
    return pc_fail(err, "%s: %s has shape %s, expected %s%s%s%s", w->file, name, found, want, w->why ? " (" : "",
                   w->why ? w->why : "", w->why ? ")" : "");
}

hid_t pc_h5_open_checked(hid_t loc, const char *name, const PcH5Want *w, PcError *err) {
    hid_t d = pc_h5_open_if(loc, name);
    if (d < 0) {
        pc_fail(err, "%s: %s missing", w->file, name);
        return -1;
    }
    if (pc_h5_check(d, name, w, err)) {
        H5Dclose(d);
        return -1;
    }
    return d;
}

int pc_h5_budget(hid_t obj, const char *file, const char *name, double bytes, PcError *err) {
    hid_t f = H5Iget_file_id(obj);
    hsize_t size = 0;
    if (f < 0 || H5Fget_filesize(f, &size) < 0) size = 0;
    if (f >= 0) H5Fclose(f);
    const double limit = PC_H5_READ_SLACK + PC_H5_READ_RATIO * (double)size;
    if (bytes <= limit) return 0;
    return pc_fail(err, "%s: %s would take %.0f MB of memory, more than a %.1f MB file can hold (a read is held to "
                   "%.0f MB + %.0f x the file's size)", file, name, bytes / 1048576.0, (double)size / 1048576.0,
                   PC_H5_READ_SLACK / 1048576.0, PC_H5_READ_RATIO);
}

// Elements of the checked dataset d (dims of the file, rank <= PC_H5_MAX_RANK), as a double so a
// product of huge axes does not wrap.
static double elements(hid_t d) {
    hsize_t dims[PC_H5_MAX_RANK] = {0};
    int rank = pc_h5_shape(d, dims);
    double n = rank < 0 ? 0 : 1;
    for (int i = 0; i < rank; i++) n *= (double)dims[i];
    return n;
}

void *pc_h5_read_checked(hid_t loc, const char *name, const PcH5Want *w, hid_t memtype, size_t elem,
                         size_t *count, PcError *err) {
    hid_t d = pc_h5_open_checked(loc, name, w, err);
    if (d < 0) return NULL;
    const double n = elements(d);
    void *out = NULL;
    if (!pc_h5_budget(d, w->file, name, n * (double)elem, err)) {
        out = xmalloc((size_t)n * elem + 1);
        if (H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
            free(out);
            out = NULL;
            pc_fail(err, "%s: cannot read %s", w->file, name);
        }
    }
    H5Dclose(d);
    if (out && count) *count = (size_t)n;
    return out;
}

// The characters of a variable-length string dataset's fill value (+ 1), read as type t; -1 when
// it cannot be told.
static double fill_chars(hid_t d, hid_t t) {
    hid_t dcpl = H5Dget_create_plist(d);
    H5D_fill_value_t defined;
    double n = -1;
    if (dcpl >= 0 && H5Pfill_value_defined(dcpl, &defined) >= 0) {
        char *v = NULL;
        if (defined == H5D_FILL_VALUE_UNDEFINED) n = 1;   // rows read as empty strings
        else if (H5Pget_fill_value(dcpl, t, &v) >= 0) n = v ? (double)strlen(v) + 1 : 1;
        if (v) H5free_memory(v);
    }
    if (dcpl >= 0) H5Pclose(dcpl);
    return n;
}

char **pc_h5_read_strings_checked(hid_t loc, const char *name, const PcH5Want *w, size_t *n, PcError *err) {
    PcH5Want s = *w;
    s.kind = PC_H5_STRING;
    s.rank = 1;
    hid_t d = pc_h5_open_checked(loc, name, &s, err);
    if (d < 0) return NULL;
    double bytes = elements(d) * PC_H5_STRING_COST;
    if (pc_h5_budget(d, w->file, name, bytes, err)) {   // the count first: the characters take a pass
        H5Dclose(d);
        return NULL;
    }
    hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
    if (H5Tis_variable_str(ft) > 0) {
        // the characters too: a fill value of a long string would stand for one copy per row
        hid_t t = pc_h5_str_type(H5Tget_cset(ft));
        hsize_t chars = 0;
        double fill = -1;
        H5D_space_status_t st;
        // nothing written: every row is the fill value, counted without HDF5's per-row walk
        // (H5Dvlen_get_buf_size reads the rows one at a time: 6 s for the 130k rows a 60 kB file
        // may claim within the bound, which fuzz_results timed out on)
        if (H5Dget_space_status(d, &st) >= 0 && st == H5D_SPACE_STATUS_NOT_ALLOCATED) fill = fill_chars(d, t);
        if (fill >= 0) bytes += 2.0 * elements(d) * fill;
        else bytes = H5Dvlen_get_buf_size(d, t, sp, &chars) < 0 ? 1e300 : bytes + 2.0 * (double)chars;
        H5Tclose(t);
    } else {
        bytes += 2.0 * elements(d) * (double)H5Tget_size(ft);
    }
    H5Tclose(ft);
    H5Sclose(sp);
    char **out = NULL;
    if (!pc_h5_budget(d, w->file, name, bytes, err)) {
        out = pc_h5_read_strings(d, 0, n);
        if (!out) pc_fail(err, "%s: cannot read the strings of %s", w->file, name);
    }
    H5Dclose(d);
    return out;
}
