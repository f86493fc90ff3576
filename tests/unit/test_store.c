// test_store.c: the HDF5 result store: float16 rounding, write / read back of every dataset and
// attribute, reopening a finished file, refusal of a different config, --force, recovery after a
// SIGKILL (child process killed mid-run; torn journal tail; unreadable .partial), each compared
// with an uninterrupted run, and non-UTF-8 names. The failure modes (one writer, full disk, ...)
// are tests/unit/test_store_failures.c's.
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>

#include "h5util.h"
#include "safe_text.h"
#include "journal.h"
#include "store_fixture.h"
#include "table.h"

static void test_half(void) {
    struct { float f; uint16_t h; } cases[] = {
        {0.0f, 0x0000}, {-0.0f, 0x8000}, {1.0f, 0x3c00}, {-2.0f, 0xc000}, {65504.0f, 0x7bff},
        {65519.0f, 0x7bff}, {65520.0f, 0x7c00},                 // tie at the top rounds to even = inf
        {1.0f / 3.0f, 0x3555}, {0.1f, 0x2e66},
        {2049.0f, 0x6800}, {2051.0f, 0x6802},                   // ties to even (spacing 2 above 2048)
        {1.0f + 1.0f / 2048.0f, 0x3c00}, {1.0f + 3.0f / 2048.0f, 0x3c02},
        {5.9604645e-8f, 0x0001},                                // 2^-24, smallest subnormal
        {2.9802322e-8f, 0x0000},                                // 2^-25: tie to even -> 0
        {4.4703484e-8f, 0x0001},                                // 1.5 * 2^-25 rounds up
        {6.097555e-5f, 0x03ff},                                 // largest subnormal
        {6.1035156e-5f, 0x0400},                                // smallest normal
        {INFINITY, 0x7c00}, {-INFINITY, 0xfc00}, {1e10f, 0x7c00},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t h = pc_f32_to_f16(cases[i].f);
        CHECK(h == cases[i].h, "f16(%.9g) = 0x%04x, want 0x%04x", cases[i].f, h, cases[i].h);
    }
    uint16_t nan_h = pc_f32_to_f16(NAN);
    CHECK((nan_h & 0x7c00) == 0x7c00 && (nan_h & 0x3ff) != 0, "NaN stays NaN (0x%04x)", nan_h);
}

static int files_equal_datasets(const char *a, const char *b) {
    // Compares every dataset the run writes (values, after conversion to f32 / strings).
    const char *f32_sets[] = {"/images/score", "/methods/pcamp/map", "/methods/pcamp.level.features.3/map",
                              "/methods/pcamp/insertion/auc", "/methods/pcamp/insertion/scores",
                              "/methods/pcamp.level.features.3/deletion/auc",
                              "/methods/pcamp.level.features.3/deletion/scores", "/images/class", "/images/done",
                              "/images/label", "/images/index"};
    for (size_t s = 0; s < sizeof f32_sets / sizeof f32_sets[0]; s++) {
        size_t na = 0, nb = 0;
        float *va = h5_read_f32(a, f32_sets[s], &na, NULL, NULL), *vb = h5_read_f32(b, f32_sets[s], &nb, NULL, NULL);
        int same = va && vb && na == nb;
        for (size_t i = 0; same && i < na; i++)
            same = (isnan(va[i]) && isnan(vb[i])) || va[i] == vb[i];
        free(va);
        free(vb);
        if (!same) {
            fprintf(stderr, "dataset %s differs between %s and %s\n", f32_sets[s], a, b);
            return 0;
        }
    }
    size_t na = 0, nb = 0;
    char **sa = h5_read_strings(a, "/images/status", &na), **sb = h5_read_strings(b, "/images/status", &nb);
    int same = sa && sb && na == nb;
    for (size_t i = 0; same && i < na; i++) same = !strcmp(sa[i], sb[i]);
    for (size_t i = 0; sa && i < na; i++) free(sa[i]);
    for (size_t i = 0; sb && i < nb; i++) free(sb[i]);
    free(sa);
    free(sb);
    return same;
}

// The maps of one method read back: float16 roundings of the computed values (fill_result).
static void check_stored_maps(const char *path) {
    PcStoreLayout l = layout(PC_MAPS_F16);
    PcImageResult want;
    pc_result_init(&want, &l);
    size_t n = 0;
    int64_t dims[8] = {0};
    int nd = 0;
    float *map = h5_read_f32(path, "/methods/pcamp.level.features.3/map", &n, dims, &nd);
    CHECK(map && nd == 3 && dims[0] == N_IMAGES && dims[1] == SIDE && dims[2] == SIDE, "map shape");
    double max_err = 0;
    for (int i = 0; map && i < N_IMAGES; i++) {
        fill_result(&want, &l, i);
        for (int k = 0; k < SIDE * SIDE; k++) {
            float w = want.maps[SIDE * SIDE + k];
            // the stored value is the float16 rounding of the computed one
            uint16_t h = pc_f32_to_f16(w);
            float got = map[(size_t)i * SIDE * SIDE + k];
            CHECK(pc_f32_to_f16(got) == h, "map value %d of image %d: %g vs %g", k, i, got, w);
            double e = fabs(got - w) / (fabs(w) > 1e-3 ? fabs(w) : 1e-3);
            if (e > max_err) max_err = e;
        }
    }
    CHECK(max_err < 1e-3, "float16 relative error %.2e", max_err);
    printf("float16 map max relative error: %.2e\n", max_err);
    free(map);
    pc_result_free(&want);
}

// The map dataset really is 16-bit, one image per chunk, shuffled and deflated; the root
// attributes config, git_commit, start and end times.
static void check_map_storage(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/methods/pcamp/map", H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    CHECK(H5Tget_class(t) == H5T_FLOAT && H5Tget_size(t) == 2, "map stored as 16-bit float");
    hid_t dcpl = H5Dget_create_plist(d);
    hsize_t chunk[3] = {0};
    CHECK(H5Pget_chunk(dcpl, 3, chunk) == 3 && chunk[0] == 1 && chunk[1] == SIDE, "one image per chunk");
    CHECK(H5Pget_nfilters(dcpl) == 2, "shuffle + deflate");
    char *cfg = pc_h5_read_root_attr(f, "config");
    char *commit = pc_h5_read_root_attr(f, "git_commit");
    char *start = pc_h5_read_root_attr(f, "start_time"), *end = pc_h5_read_root_attr(f, "end_time");
    CHECK(cfg && !strcmp(cfg, "[metrics]\nsteps = 5\n"), "config attribute");
    CHECK(commit && !strcmp(commit, "abc"), "git_commit attribute");
    CHECK(start && strlen(start) == 20 && end && strlen(end) == 20, "start/end times");
    free(cfg);
    free(commit);
    free(start);
    free(end);
    H5Pclose(dcpl);
    H5Tclose(t);
    H5Dclose(d);
    H5Fclose(f);
}

// Root attributes, per-method AUCs and scores, the per-image datasets and the class names.
static void check_stored_records(const char *path) {
    size_t n = 0;
    int64_t dims[8] = {0};
    int nd = 0;
    double v = 0;
    CHECK(h5_attr_f64(path, "/", "n_done", &v) == 0 && v == N_IMAGES, "n_done = %g", v);
    CHECK(h5_attr_f64(path, "/", "complete", &v) == 0 && v == 1, "complete");
    size_t nids = 0;
    char **ids = h5_attr_strings(path, "/", "method_ids", &nids);
    CHECK(ids && nids == N_METHODS && !strcmp(ids[1], "pcamp.level.features.3"), "method_ids attribute");
    for (size_t i = 0; ids && i < nids; i++) free(ids[i]);
    free(ids);

    double *auc = h5_read_f64(path, "/methods/pcamp.level.features.3/insertion/auc", &n);
    CHECK(auc && n == N_IMAGES && fabs(auc[1] - 0.61) < 1e-12 && isnan(auc[2]), "insertion AUCs (skipped image NaN)");
    free(auc);
    float *sc = h5_read_f32(path, "/methods/pcamp/deletion/scores", &n, dims, &nd);
    CHECK(sc && nd == 2 && dims[1] == STEPS && sc[3 * STEPS + 1] == 0.8f, "deletion scores");
    free(sc);
    int64_t *cls = h5_read_i64(path, "/images/class", &n);
    CHECK(cls && cls[0] == 1 && cls[2] == -1 && cls[3] == 4, "classes");
    free(cls);
    int64_t *lab = h5_read_i64(path, "/images/label", &n);
    CHECK(lab && lab[0] == 3 && lab[1] == -1, "labels");
    free(lab);
    int64_t *idx = h5_read_i64(path, "/images/index", &n);
    CHECK(idx && idx[3] == 13, "list index");
    free(idx);
    char **st = h5_read_strings(path, "/images/status", &n);
    CHECK(st && n == N_IMAGES && !strcmp(st[0], "ok") && strstr(st[2], "Not a JPEG") != NULL, "statuses");
    for (size_t i = 0; st && i < n; i++) free(st[i]);
    free(st);
    char **names = h5_read_strings(path, "/images/name", &n);
    CHECK(names && !strcmp(names[1], "sub/b.jpg"), "names");
    for (size_t i = 0; names && i < n; i++) free(names[i]);
    free(names);
    char **cn = h5_read_strings(path, "/classes", &n);
    CHECK(cn && n == 4 && !strcmp(cn[3], "cross"), "class names");
    for (size_t i = 0; cn && i < n; i++) free(cn[i]);
    free(cn);
}

// Reopening a finished file: nothing to do with the same config, refused with another (naming the
// key), rewritten with --force; then rewritten with the reference config again.
static void check_reopen(const char *path) {
    PcError err = {{0}};
    StoreInfo s;
    int rc = run_store(path, PC_STORE_CONTINUE, k_key, 0, 0, 0, &err, &s);
    CHECK(rc == 0 && s.complete && s.n_done == N_IMAGES, "finished file recognised: %s", rc ? err.msg : "");
    // A different config is refused, naming the key.
    rc = run_store(path, PC_STORE_CONTINUE, "[metrics]\nsteps = 5\nbaseline = zero\n", 0, N_IMAGES, 1, &err, NULL);
    CHECK(rc != 0 && strstr(err.msg, "was made with a different configuration: [metrics] 'baseline = blur' there, "
                                     "[metrics] 'baseline = zero' now; use --force") != NULL,
          "mismatch refused: %s", err.msg);
    // --force starts over.
    rc = run_store(path, PC_STORE_FORCE, "[metrics]\nsteps = 5\nbaseline = zero\n", 0, N_IMAGES, 1, &err, &s);
    CHECK(rc == 0 && s.n_replayed == 0, "--force rewrites: %s", rc ? err.msg : "");
    char *key = NULL;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) {
        key = pc_h5_read_root_attr(f, "config_key");
        H5Fclose(f);
    }
    CHECK(key && strstr(key, "baseline = zero"), "forced file has the new config");
    free(key);
    // Back to the reference config for the comparisons below.
    rc = run_store(path, PC_STORE_FORCE, k_key, 0, N_IMAGES, 1, &err, NULL);
    CHECK(rc == 0, "reference rewritten");
}

static void test_write_read_back(void) {
    const char *path = tmp_path("ref/out.h5");    // the folder is created by the store
    PcError err = {{0}};
    int rc = run_store(path, PC_STORE_CONTINUE, k_key, 0, N_IMAGES, 1, &err, NULL);
    CHECK(rc == 0, "uninterrupted run: %s", err.msg);
    CHECK(access(path, F_OK) == 0, "final file exists");
    char partial[2 * PATH_MAX], journal[2 * PATH_MAX];
    snprintf(partial, sizeof partial, "%s.partial", path);
    snprintf(journal, sizeof journal, "%s.journal", path);
    CHECK(access(partial, F_OK) != 0 && access(journal, F_OK) != 0, "partial and journal removed at the end");

    check_stored_maps(path);
    check_map_storage(path);
    check_stored_records(path);
    check_reopen(path);
}

static void test_resume(void) {
    const char *ref = "/ref/out.h5";
    char ref_path[PATH_MAX + 64];
    snprintf(ref_path, sizeof ref_path, "%s%s", g_dir, ref);
    PcError err = {{0}};
    StoreInfo s;

    // 1. killed after two images: the journal has both, resume computes the rest
    const char *path = tmp_path("crash1.h5");
    crash_after(path, 2);
    char partial[2 * PATH_MAX], journal[2 * PATH_MAX];
    snprintf(partial, sizeof partial, "%s.partial", path);
    snprintf(journal, sizeof journal, "%s.journal", path);
    CHECK(access(path, F_OK) != 0 && access(partial, F_OK) == 0 && access(journal, F_OK) == 0,
          "after the crash: .partial and .journal, no final file");
    double v = -1;
    CHECK(h5_attr_f64(partial, "/", "n_done", &v) == 0 && v == 2, "the live .partial counts 2 done images (%g)", v);
    int rc = run_store(path, PC_STORE_RESUME, k_key, 0, N_IMAGES, 1, &err, &s);
    CHECK(rc == 0 && s.n_replayed == 2 && s.n_dropped_bytes == 0, "resume replays 2 records: %s", rc ? err.msg : "");
    CHECK(files_equal_datasets(path, ref_path), "resumed file equals the uninterrupted one");

    // 2. torn last record (killed in the middle of a journal write)
    path = tmp_path("crash2.h5");
    crash_after(path, 3);
    snprintf(journal, sizeof journal, "%s.journal", path);
    FILE *f = fopen(journal, "r+b");
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fclose(f);
    CHECK(truncate(journal, len - 100) == 0, "tear the journal");
    rc = run_store(path, PC_STORE_CONTINUE, k_key, 0, N_IMAGES, 1, &err, &s);
    CHECK(rc == 0 && s.n_replayed == 2 && s.n_dropped_bytes > 0, "torn record dropped (%d replayed, %ld bytes): %s",
          s.n_replayed, s.n_dropped_bytes, rc ? err.msg : "");
    CHECK(files_equal_datasets(path, ref_path), "file resumed over a torn journal equals the uninterrupted one");

    // 3. a .partial HDF5 file that cannot be opened any more is rebuilt from the journal
    path = tmp_path("crash3.h5");
    crash_after(path, 2);
    snprintf(partial, sizeof partial, "%s.partial", path);
    f = fopen(partial, "r+b");
    char junk[4096];
    memset(junk, 0xAB, sizeof junk);
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
    rc = run_store(path, PC_STORE_CONTINUE, k_key, 0, 1, 0, &err, &s);   // reopen, write nothing new
    CHECK(rc == 0 && s.n_replayed == 2 && s.n_done == 2, "garbage .partial rebuilt: %s", rc ? err.msg : "");
    rc = run_store(path, PC_STORE_CONTINUE, k_key, 0, N_IMAGES, 1, &err, &s);
    CHECK(rc == 0 && s.n_replayed == 2, "then finished: %s", rc ? err.msg : "");
    CHECK(files_equal_datasets(path, ref_path), "rebuilt file equals the uninterrupted one");

    // 4. an unfinished run of another config is refused
    path = tmp_path("crash4.h5");
    crash_after(path, 1);
    rc = run_store(path, PC_STORE_CONTINUE, "[metrics]\nsteps = 5\nbaseline = grey\n", 0, N_IMAGES, 1, &err, NULL);
    CHECK(rc != 0 && strstr(err.msg, "the unfinished run in") && strstr(err.msg, "'baseline = grey' now"),
          "unfinished run of another config refused: %s", err.msg);

    // 5. killed before the first image: the empty journal is simply continued
    path = tmp_path("crash5.h5");
    crash_after(path, 0);
    rc = run_store(path, PC_STORE_CONTINUE, k_key, 0, N_IMAGES, 1, &err, &s);
    CHECK(rc == 0 && s.n_replayed == 0, "resume with an empty journal: %s", rc ? err.msg : "");
    CHECK(files_equal_datasets(path, ref_path), "equals the uninterrupted one");
}

static void test_other_layouts_and_errors(void) {
    // maps = none, insertion only
    char ids[1][PC_METHOD_ID_LEN] = {"pcampm"};
    PcStoreLayout l = {.n_images = 2, .size = SIDE, .steps = STEPS, .n_methods = 1, .method_ids = ids,
                       .maps = PC_MAPS_NONE, .insertion = 1, .deletion = 0};
    PcStoreImages im = images();
    im.n_class_names = 0;
    PcStoreMeta me = meta(k_key);
    PcStore *st;
    PcError err = {{0}};
    const char *path = tmp_path("nomaps.h5");
    int rc = pc_store_open(&st, path, &l, &im, &me, PC_STORE_CONTINUE, &err);
    CHECK(rc == 0, "open without maps: %s", err.msg);
    if (rc == 0) {
        PcImageResult r;
        pc_result_init(&r, &l);
        for (int i = 0; i < 2; i++) {
            pc_result_reset(&r, &l, i);
            r.ins_auc[0] = 0.5 * i;
            CHECK(pc_store_write(st, &r, &err) == 0, "write: %s", err.msg);
        }
        CHECK(pc_store_finish(st, &err) == 0, "finish: %s", err.msg);
        pc_result_free(&r);
    }
    pc_store_close(st);
    CHECK(!h5_exists(path, "/methods/pcampm/map") && !h5_exists(path, "/methods/pcampm/deletion") &&
          h5_exists(path, "/methods/pcampm/insertion/auc") && !h5_exists(path, "/classes"),
          "only the configured datasets exist");

    // finishing with images missing is an error
    path = tmp_path("short.h5");
    rc = pc_store_open(&st, path, &l, &im, &me, PC_STORE_CONTINUE, &err);
    CHECK(rc == 0, "open: %s", err.msg);
    CHECK(rc == 0 && pc_store_finish(st, &err) != 0 && strstr(err.msg, "0 of 2 images done"), "early finish refused: %s",
          err.msg);
    pc_store_close(st);

    // unwritable output
    rc = pc_store_open(&st, "/proc/pc_no_such_dir/out.h5", &l, &im, &me, PC_STORE_CONTINUE, &err);
    CHECK(rc != 0 && strstr(err.msg, "/proc/pc_no_such_dir/out.h5: cannot create folder"), "unwritable: %s", err.msg);
    CHECK(st == NULL, "nothing open after a failed open");

    // a file that is not ours
    path = tmp_path("foreign.h5");
    FILE *f = fopen(path, "w");
    fputs("not hdf5", f);
    fclose(f);
    rc = pc_store_open(&st, path, &l, &im, &me, PC_STORE_CONTINUE, &err);
    CHECK(rc != 0 && strstr(err.msg, "foreign.h5 exists and is not a polycam-eval result file"), "foreign file refused: %s",
          err.msg);
    // --force removes only files polycam-eval wrote
    rc = pc_store_open(&st, path, &l, &im, &me, PC_STORE_FORCE, &err);
    CHECK(rc != 0 && strstr(err.msg, "foreign.h5: not a file polycam-eval wrote") && access(path, F_OK) == 0,
          "--force leaves a foreign file alone: %s", err.msg);
}

// The table of the reference file: means over the "ok" images (0, 1, 3; image 2 is skipped).
static void test_table(void) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/ref/out.h5", g_dir);
    PcTable t;
    PcError err = {{0}};
    int rc = pc_table_from_file(path, &t, &err);
    CHECK(rc == 0, "table: %s", err.msg);
    if (rc) return;
    CHECK(t.n_images == N_IMAGES && t.n_done == N_IMAGES && t.n_ok == 3 && t.complete, "table counts");
    CHECK(t.n_rows == N_METHODS && !strcmp(t.rows[1].id, "pcamp.level.features.3"), "rows in method order");
    // ins_auc = 0.5 + 0.01 i + 0.1 m, del_auc = 0.2 + 0.01 i over i = 0, 1, 3
    double ins0 = (0.50 + 0.51 + 0.53) / 3, ins1 = ins0 + 0.1, del = (0.20 + 0.21 + 0.23) / 3;
    CHECK(fabs(t.rows[0].ins - ins0) < 1e-12 && fabs(t.rows[1].ins - ins1) < 1e-12, "insertion means");
    CHECK(fabs(t.rows[0].del - del) < 1e-12 && t.rows[0].n == 3, "deletion mean, N = 3");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pc_table_print_markdown(f, &t);
    fclose(f);
    CHECK(strstr(buf, "| Method                 | Insertion | Deletion | Ins-Del |    N |") != NULL, "markdown header:\n%s", buf);
    CHECK(strstr(buf, "| pcamp                  |    0.5133 |   0.2133 |  0.3000 |    3 |") != NULL, "markdown row:\n%s", buf);
    free(buf);
    char *csv = pc_table_csv_path(path);
    CHECK(!strcmp(csv + strlen(csv) - 11, "/out.h5.csv"), "csv path %s", csv);
    CHECK(pc_table_write_csv(csv, &t, &err) == 0, "csv: %s", err.msg);
    size_t n;
    char *text = (char *)pc_read_file(csv, &n, &err);
    CHECK(text && strstr(text, "method,insertion,deletion,ins_del,n\npcamp,0.513333,0.213333,0.300000,3\n"), "csv text:\n%s",
          text ? text : "");
    free(text);
    free(csv);
    pc_table_free(&t);
    CHECK(pc_table_from_file(tmp_path("nothing.h5"), &t, &err) != 0 && strstr(err.msg, "cannot open as HDF5"),
          "missing file: %s", err.msg);
}

static void test_utf8_names(void) {
    char *names[N_IMAGES] = {"caf\xe9.jpg", "ok\xc3\xa9.jpg", "c.jpg", "d.jpg"};
    PcStoreLayout l = layout(PC_MAPS_NONE);
    PcStoreImages im = images();
    im.names = names;
    PcStoreMeta me = meta(k_key);
    PcStore *st;
    PcError err = {{0}};
    const char *path = tmp_path("latin1.h5");
    int rc = pc_store_open(&st, path, &l, &im, &me, PC_STORE_CONTINUE, &err);
    CHECK(rc == 0, "open: %s", err.msg);
    if (rc) return;
    PcImageResult r;
    pc_result_init(&r, &l);
    for (int i = 0; i < N_IMAGES; i++) {
        fill_result(&r, &l, i);
        snprintf(r.status, sizeof r.status, "%s: cannot open", names[i]);
        CHECK(pc_store_write(st, &r, &err) == 0, "write: %s", err.msg);
    }
    pc_result_free(&r);
    CHECK(pc_store_finish(st, &err) == 0, "finish: %s", err.msg);
    pc_store_close(st);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/images/name", H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    CHECK(H5Tget_cset(t) == H5T_CSET_UTF8, "names tagged UTF-8");
    size_t n = 0;
    char **got = pc_h5_read_strings(d, 0, &n);
    CHECK(got && n == N_IMAGES && !strcmp(got[0], "caf\\xe9.jpg") && !strcmp(got[1], "ok\xc3\xa9.jpg"),
          "invalid bytes stored as \\xNN, valid UTF-8 kept: '%s' '%s'", got ? got[0] : "", got ? got[1] : "");
    pc_h5_free_strings(got, n);
    H5Tclose(t);
    H5Dclose(d);
    d = H5Dopen2(f, "/images/status", H5P_DEFAULT);
    got = pc_h5_read_strings(d, 0, &n);
    CHECK(got && !strcmp(got[0], "caf\\xe9.jpg: cannot open"), "statuses cleaned too: '%s'", got ? got[0] : "");
    pc_h5_free_strings(got, n);
    H5Dclose(d);
    H5Fclose(f);
    // the same list resumes / finds the file complete (the fingerprint hashes the stored names)
    rc = pc_store_open(&st, path, &l, &im, &me, PC_STORE_CONTINUE, &err);
    CHECK(rc == 0 && pc_store_complete(st), "reopened complete: %s", rc ? err.msg : "");
    pc_store_close(st);
    char *clean = pc_utf8_clean("a\xff\xc3(\xe2\x82\xac\xed\xa0\x80z");
    CHECK(!strcmp(clean, "a\\xff\\xc3(\xe2\x82\xac\\xed\\xa0\\x80z"), "pc_utf8_clean: %s", clean);
    free(clean);
}

int main(void) {
    if (store_fixture_begin("test_store")) return 1;
    test_half();
    test_write_read_back();
    test_table();
    test_resume();
    test_other_layouts_and_errors();
    test_utf8_names();
    store_fixture_end();
    return test_summary();
}
