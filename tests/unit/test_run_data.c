// test_run_data.c: run-level datasets of a result file (layout.h: PcRunData, host/results/run_data.c) as
// RISE's masks use them: written under /methods/<id>/, read back with their type, shape, bytes and
// numeric attributes (datasets without scope = "run" are not taken), and compared as the shard
// merge does (one changed byte makes them differ). Also pc_rise_run_data: the grids and offsets
// of the file are pc_rise_draw's, in range, and depend on the seed only.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "run_data.h"
#include "methods.h"
#include "testutil.h"
#include "methods_perturb.h"

static int write_file(const char *path, const PcRunData *d, int n) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "methods", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t r = H5Gcreate2(g, "rise", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[1] = {3};
    int per_image[3] = {1, 2, 3};
    hid_t sp = H5Screate_simple(1, dims, NULL);   // a per-image dataset: not run-level
    hid_t ds = H5Dcreate2(r, "map", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, per_image);
    H5Dclose(ds), H5Sclose(sp), H5Gclose(r), H5Gclose(g);
    PcError err = {{0}};
    int rc = pc_run_data_write(f, path, d, n, &err);
    CHECK(rc == 0, "pc_run_data_write: %s", err.msg);
    H5Fclose(f);
    return rc;
}

static int read_file(const char *path, PcRunData **out) {
    char ids[2][PC_METHOD_ID_LEN] = {"rise", "occlusion"};
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    PcError err = {{0}};
    int n = pc_run_data_read(f, path, ids, 2, out, &err);
    CHECK(n >= 0, "pc_run_data_read: %s", err.msg);
    H5Fclose(f);
    return n;
}

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    PcMethodSettings set = {.seed = 3, .rise_masks = 40, .rise_cells = 7, .rise_p = 0.25};
    PcRunData d[PC_METHOD_RUN_DATA];
    int n = pc_rise_run_data(&set, 224, d);
    CHECK(n == 2, "pc_rise_run_data: %d datasets, want 2", n);
    unsigned char grid[40 * 49];
    int off[80], kept = 0, in_range = 1;
    pc_rise_draw(&set, 224, 0, 40, grid, off);
    CHECK(!memcmp(grid, d[0].data, sizeof grid) && !memcmp(off, d[1].data, sizeof off),
          "stored grids / offsets are pc_rise_draw's");
    for (int i = 0; i < 40 * 49; i++) kept += grid[i];
    for (int i = 0; i < 80; i++) in_range &= off[i] >= 0 && off[i] < 32;   // cell = ceil(224 / 7)
    CHECK(kept > 0.15 * 40 * 49 && kept < 0.35 * 40 * 49, "%d of %d cells kept, p = 0.25", kept, 40 * 49);
    CHECK(in_range, "offsets in [0, 32)");
    unsigned char later[5 * 49];
    int later_off[10];
    pc_rise_draw(&set, 224, 35, 5, later, later_off);   // keyed by mask index: any range, same masks
    CHECK(!memcmp(later, grid + 35 * 49, sizeof later) && !memcmp(later_off, off + 70, sizeof later_off),
          "masks 35..39 drawn alone equal those of the whole draw");

    char a[64], b[64];
    snprintf(a, sizeof a, "/tmp/test_run_data_%d_a.h5", (int)getpid());
    snprintf(b, sizeof b, "/tmp/test_run_data_%d_b.h5", (int)getpid());
    write_file(a, d, n);
    ((unsigned char *)d[0].data)[17] ^= 1;   // one cell flipped
    write_file(b, d, n);
    PcRunData *ra = NULL, *rb = NULL;
    int na = read_file(a, &ra), nb = read_file(b, &rb);
    CHECK(na == 2 && nb == 2, "read back %d and %d run-level datasets (the per-image one left out), want 2", na, nb);
    if (na == 2 && nb == 2) {
        CHECK(!strcmp(ra[0].name, "masks/grid") && !strcmp(ra[1].name, "masks/offsets") &&
                  !strcmp(ra[0].method, "rise"),
              "names: %s/%s, %s", ra[0].method, ra[0].name, ra[1].name);
        CHECK(ra[0].type == PC_RUN_U8 && ra[0].rank == 3 && ra[0].dims[0] == 40 && ra[0].dims[2] == 7 &&
                  ra[1].type == PC_RUN_I32 && ra[1].dims[1] == 2,
              "types and shapes read back");
        CHECK(!memcmp(ra[1].data, off, sizeof off), "offsets read back");
        int p_found = 0;
        for (int i = 0; i < ra[0].n_attrs; i++) p_found |= !strcmp(ra[0].attr_names[i], "p") && ra[0].attr_values[i] == 0.25;
        CHECK(p_found, "attribute p = 0.25 read back");
        CHECK(pc_run_data_equal(&ra[1], &rb[1]), "equal offsets compare equal");
        CHECK(!pc_run_data_equal(&ra[0], &rb[0]), "one flipped cell makes the grids differ");
    }
    pc_run_data_free(ra, na);
    pc_run_data_free(rb, nb);
    for (int i = 0; i < n; i++) free(d[i].data);
    unlink(a), unlink(b);
    return test_summary();
}
