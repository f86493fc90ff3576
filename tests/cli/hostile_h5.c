// hostile_h5.c: edits a result file the way a hostile or careless user would (h5py is not in the test
// path), for tests/cli/cli_hostile.sh. One edit per call:
//   hostile_h5 reshape FILE DATASET D0[,D1...]   the dataset replaced by one of the same element type
//                                                 and these dims, every element 0.5 (written out, as
//                                                 h5py's resize-and-fill would leave it)
//   hostile_h5 empty FILE DATASET D0[,D1...]     the same, chunked with nothing written (a few bytes
//                                                 of fill value stand for all of it)
//   hostile_h5 attr FILE NAME VALUE               integer root attribute NAME = VALUE
//   hostile_h5 str FILE DATASET|@ATTR ROW TEXT    row ROW of a string dataset (or root attribute)
//   hostile_h5 val FILE DATASET ROW VALUE         element ROW of a numeric dataset (a double:
//                                                 2147483647, -5, -inf, 1e308)
//   hostile_h5 move FILE FROM TO                  link FROM renamed to TO (groups on the way made)
// TEXT may hold \n, \t and \\ escapes. Exit 0, or 1 with a line on stderr.
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
    fprintf(stderr, "hostile_h5: %s\n", what);
    return 1;
}

static int parse_dims(const char *s, hsize_t *dims) {
    int rank = 0;
    for (const char *p = s; *p && rank < 8; rank++) {
        char *end;
        dims[rank] = strtoull(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
        if (end == p && *end) return -1;
    }
    return rank;
}

// New dataset `name` (the old one unlinked) of the old element type and dims; written with 0.5
// (numbers) unless empty, then chunked (1, ...) without data.
static int reshape(hid_t f, const char *name, const char *dims_text, int empty) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return fail("no such dataset");
    hid_t t = H5Dget_type(d);
    H5Dclose(d);
    H5Ldelete(f, name, H5P_DEFAULT);
    hsize_t dims[8], chunk[8];
    int rank = parse_dims(dims_text, dims);
    if (rank < 1) return fail("bad dims");
    hid_t sp = H5Screate_simple(rank, dims, NULL), pl = H5Pcreate(H5P_DATASET_CREATE);
    if (empty) {
        for (int i = 0; i < rank; i++) chunk[i] = i == 0 || dims[i] > 1024 ? 1 : dims[i];
        H5Pset_chunk(pl, rank, chunk);
    }
    hid_t n = H5Dcreate2(f, name, t, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    int rc = n < 0 ? fail("cannot create") : 0;
    if (!rc && !empty && H5Tget_class(t) != H5T_STRING) {
        size_t count = 1;
        for (int i = 0; i < rank; i++) count *= (size_t)dims[i];
        double *v = malloc(count * sizeof(double));
        for (size_t i = 0; i < count; i++) v[i] = 0.5;
        if (H5Dwrite(n, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) rc = fail("cannot write");
        free(v);
    }
    if (n >= 0) H5Dclose(n);
    H5Pclose(pl), H5Sclose(sp), H5Tclose(t);
    return rc;
}

static void unescape(const char *in, char *out) {
    for (; *in; in++) {
        if (*in == '\\' && in[1]) {
            in++;
            *out++ = *in == 'n' ? '\n' : *in == 't' ? '\t' : *in;
        } else {
            *out++ = *in;
        }
    }
    *out = 0;
}

// Row `row` of a variable-length string dataset or (name "@x") root attribute x.
static int set_string(hid_t f, const char *name, long row, const char *text) {
    int attr = name[0] == '@';
    hid_t o = attr ? H5Aopen(f, name + 1, H5P_DEFAULT) : H5Dopen2(f, name, H5P_DEFAULT);
    if (o < 0) return fail("no such dataset or attribute");
    hid_t t = attr ? H5Aget_type(o) : H5Dget_type(o), sp = attr ? H5Aget_space(o) : H5Dget_space(o);
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(t));
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    int rc = row < 0 || row >= n ? fail("row out of range") : 0;
    char **v = calloc((size_t)n + 1, sizeof(char *));
    if (!rc && (attr ? H5Aread(o, mt, v) : H5Dread(o, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v)) < 0) rc = fail("cannot read");
    char *fresh = malloc(strlen(text) + 1), *old = NULL;
    unescape(text, fresh);
    if (!rc) {
        old = v[row];
        v[row] = fresh;
        if ((attr ? H5Awrite(o, mt, v) : H5Dwrite(o, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v)) < 0) rc = fail("cannot write");
        v[row] = old;
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
    }
    free(fresh), free(v);
    H5Tclose(mt), H5Tclose(t), H5Sclose(sp);
    if (attr) H5Aclose(o);
    else H5Dclose(o);
    return rc;
}

// Element `row` (flat index) of a numeric dataset set to value.
static int set_value(hid_t f, const char *name, unsigned long long row, double value) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return fail("no such dataset");
    hid_t sp = H5Dget_space(d);
    int rank = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[8], at[8];
    H5Sget_simple_extent_dims(sp, dims, NULL);
    for (int i = rank - 1; i >= 0; i--) at[i] = row % dims[i], row /= dims[i];
    hid_t mem = H5Screate(H5S_SCALAR);
    int rc = H5Sselect_elements(sp, H5S_SELECT_SET, 1, at) < 0 ||
             H5Dwrite(d, H5T_NATIVE_DOUBLE, mem, sp, H5P_DEFAULT, &value) < 0 ? fail("cannot write") : 0;
    H5Sclose(mem), H5Sclose(sp), H5Dclose(d);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 5) return fail("usage: hostile_h5 reshape|empty|attr|str|val|move FILE ...");
    const char *op = argv[1];
    hid_t f = H5Fopen(argv[2], H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) return fail("cannot open the file");
    int rc;
    if (!strcmp(op, "reshape") || !strcmp(op, "empty")) {
        rc = reshape(f, argv[3], argv[4], !strcmp(op, "empty"));
    } else if (!strcmp(op, "attr")) {
        long long v = strtoll(argv[4], NULL, 10);
        if (H5Aexists(f, argv[3]) > 0) H5Adelete(f, argv[3]);
        hid_t sp = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(f, argv[3], H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        rc = a < 0 || H5Awrite(a, H5T_NATIVE_LLONG, &v) < 0 ? fail("cannot write the attribute") : 0;
        if (a >= 0) H5Aclose(a);
        H5Sclose(sp);
    } else if (!strcmp(op, "str") && argc == 6) {
        rc = set_string(f, argv[3], atol(argv[4]), argv[5]);
    } else if (!strcmp(op, "val") && argc == 6) {
        rc = set_value(f, argv[3], strtoull(argv[4], NULL, 10), strtod(argv[5], NULL));
    } else if (!strcmp(op, "move")) {
        hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
        H5Pset_create_intermediate_group(lcpl, 1);
        rc = H5Lmove(f, argv[3], f, argv[4], lcpl, H5P_DEFAULT) < 0 ? fail("cannot move") : 0;
        H5Pclose(lcpl);
    } else {
        rc = fail("unknown edit");
    }
    if (H5Fclose(f) < 0) rc = fail("cannot close");
    return rc;
}
