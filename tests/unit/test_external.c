// test_external.c: maps made elsewhere, method ext:NAME (host/methods/external.c, methods_external.c,
// config_external.c; docs/external-maps.md).
//   * up(): every accepted array of tests/fixtures/ext_maps/npy_variants.npz (written by numpy,
//     tools/make_ext_fixtures.py) through the registry's ext: entry on the CPU backend equals
//     torch's F.interpolate(bilinear, align_corners=False) to 64 x 64 in npy_variants.h5 (up and
//     down: 13x9 ... 96x80);
//   * bad maps numpy wrote (NaN, Inf, int64, rank 1, three maps, size zero, structured) stop the
//     open with one line naming the file, the key and the problem; an image without a key is
//     counted, gives PC_METHOD_NO_MAP, and no key at all is an error;
//   * a polycam-eval result file as the source: rows done and usable, the method picked by id,
//     all-NaN maps count as none, a partly NaN map is an error, maps = none refused;
//   * the image status with NaN and no-map parts (layout.h);
//   * [external NAME] in the configuration: paths, --set forms, errors, the canonical text.
#define _GNU_SOURCE
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "external.h"
#include "layout.h"
#include "method_config.h"
#include "methods.h"
#include "testutil.h"

static char g_dir[PATH_MAX];

static const char *tmp_path(const char *name) {
    static char buf[PATH_MAX + 64];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static char g_npz[PATH_MAX], g_h5[PATH_MAX];

static const char *const OK_KEYS[] = {"f4_c", "f8_rank3", "f2_rank4", "f4_fortran", "f8_fortran_rank4",
                                      "f4_v2", "f4_v3", "f4_big", "f4_one"};
#define N_OK ((int)(sizeof OK_KEYS / sizeof OK_KEYS[0]))

// Every accepted variant brought to 64 x 64 by the ext: entry equals torch's up().
static void test_resample(PcBackend *be) {
    PcError err = {{0}};
    PcExternal *x = pc_external_open(g_npz, "v", "", (char *const *)OK_KEYS, N_OK, &err);
    CHECK(x != NULL, "open the variants: %s", err.msg);
    if (!x) return;
    CHECK(pc_external_missing(x) == 0 && !strcmp(pc_external_kind(x), "NumPy .npz"), "all found, %s",
          pc_external_kind(x));
    const PcMethodDesc *d = pc_method_find("ext:v");
    CHECK(d && d->family == PC_FAMILY_EXTERNAL && d->native && d->open && !d->cost, "ext:v in the registry");
    float *map = xmalloc(64 * 64 * sizeof(float));
    for (int k = 0; d && k < N_OK; k++) {
        PcMethodCtx ctx = {.be = be, .size = 64, .name = OK_KEYS[k], .state = x};
        int rc = pc_method_compute(d, &ctx, map, &err);
        char dset[96];
        snprintf(dset, sizeof dset, "up64/%s", OK_KEYS[k]);
        size_t n;
        int64_t dims[8];
        int nd;
        float *want = h5_read_f32(g_h5, dset, &n, dims, &nd);
        double diff = want && n == 64 * 64 ? max_abs_diff_f32(map, want, n) : INFINITY;
        CHECK(rc == 0 && diff <= 2e-6, "%s: up() to 64 x 64 vs torch: max |diff| %.3g (%s)", OK_KEYS[k], diff, err.msg);
        printf("  %-18s -> 64x64, max |diff| to torch %.2g\n", OK_KEYS[k], diff);
        free(want);
    }
    PcMethodCtx none = {.be = be, .size = 64, .name = "not_a_key", .state = x};
    CHECK(d && pc_method_compute(d, &none, map, &err) == PC_METHOD_NO_MAP, "an image without a key: no map");
    free(map);
    pc_external_close(x);
}

// One bad array among good ones: the open fails with one line naming file, key and problem.
static void test_bad_maps(void) {
    static const char *const bad[][2] = {
        {"nan", "key 'nan': NaN at (row 3, column 4) of its 13x9 map"},
        {"inf", "key 'inf': -Inf at (row 2, column 5) of its 13x9 map"},
        {"i8", "key 'i8': dtype '<i8'"},
        {"rank1", "key 'rank1': shape (5,): rank 1, not a 2-D map"},
        {"three_maps", "key 'three_maps': shape (3, 4, 4): more than one map"},
        {"empty", "key 'empty': shape (0, 5): an empty map (size zero)"},
        {"structured", "key 'structured': a structured dtype"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        const char *names[3] = {"f4_c", bad[k][0], "f4_v2"};
        PcError err = {{0}};
        PcExternal *x = pc_external_open(g_npz, "v", "", (char *const *)names, 3, &err);
        CHECK(!x && !strncmp(err.msg, g_npz, strlen(g_npz)) && strstr(err.msg, bad[k][1]) && !strchr(err.msg, '\n'),
              "%s: %s", bad[k][0], err.msg);
        printf("  %-12s -> %s\n", bad[k][0], err.msg + strlen(g_npz));
        pc_external_close(x);
    }
    const char *absent[2] = {"a.jpg", "b.jpg"};
    PcError err = {{0}};
    PcExternal *x = pc_external_open(g_npz, "v", "", (char *const *)absent, 2, &err);
    CHECK(!x && strstr(err.msg, "no map for any of the run's 2 images") && strstr(err.msg, "its keys are 'bool', "),
          "no key matches: %s", err.msg);
    const char *some[3] = {"a.jpg", "f4_c", "b.jpg"};
    x = pc_external_open(g_npz, "v", "", (char *const *)some, 3, &err);
    CHECK(x && pc_external_missing(x) == 2 && pc_external_missing_at(x, 0) == 0 && pc_external_missing_at(x, 1) == 2,
          "two of three missing: %s", x ? "" : err.msg);
    pc_external_close(x);
    x = pc_external_open(tmp_path("none.npz"), "v", "", (char *const *)some, 3, &err);
    CHECK(!x && strstr(err.msg, "none.npz: cannot open (No such file or directory)"), "missing file: %s", err.msg);
    FILE *f = fopen(tmp_path("text.npz"), "w");
    fputs("hello", f);
    fclose(f);
    x = pc_external_open(tmp_path("text.npz"), "v", "", (char *const *)some, 3, &err);
    CHECK(!x && strstr(err.msg, "text.npz: neither a NumPy .npz archive nor a polycam-eval result file"), "%s", err.msg);
    f = fopen(tmp_path("one.npy"), "w");
    fputs("\x93NUMPY\x01", f);
    fclose(f);
    x = pc_external_open(tmp_path("one.npy"), "v", "", (char *const *)some, 3, &err);
    CHECK(!x && strstr(err.msg, "a single .npy array"), "a .npy: %s", err.msg);
}

// ---- a result file as the source -------------------------------------------------------------

// A result file of 4 images, methods gradcam and ixg, 8 x 8 maps: a.jpg ok; b.jpg skipped; c.jpg
// with gradcam's map all NaN (a NaN-map status); d.jpg ok with one NaN in gradcam's map only when
// partly_nan. maps = PC_MAPS_NONE writes none.
static void write_results(const char *path, PcMapsFormat maps, int partly_nan) {
    char ids[2][PC_METHOD_ID_LEN] = {"gradcam", "ixg"};
    PcStoreLayout l = {.n_images = 4, .size = 8, .steps = 3, .n_methods = 2, .method_ids = ids, .maps = maps,
                       .insertion = 1, .deletion = 1};
    char *names[4] = {"a.jpg", "b.jpg", "c.jpg", "d.jpg"};
    int labels[4] = {-1, -1, -1, -1}, index[4] = {0, 1, 2, 3};
    PcStoreImages im = {.names = names, .labels = labels, .list_index = index};
    PcStoreMeta meta = {.config = "", .config_key = "k", .config_source = "", .version = "t", .libraries = "",
                        .device = "", .weights_checksum = ""};
    PcError err = {{0}};
    PcLayoutWriter *w = pc_layout_create(path, &l, &im, &meta, "k", "now", &err);
    CHECK(w != NULL, "%s: %s", path, err.msg);
    PcImageResult r;
    pc_result_init(&r, &l);
    for (int i = 0; w && i < 4; i++) {
        pc_result_reset(&r, &l, i);
        for (int k = 0; k < 2 * 64; k++) r.maps[k] = (float)(k % 64) + 100.0f * i + 1000.0f * (k / 64);
        if (i == 1) snprintf(r.status, sizeof r.status, "b.jpg: not a JPEG file");
        if (i == 2) {
            const char *nan_id = "gradcam";
            pc_status_nan_maps(r.status, sizeof r.status, &nan_id, 1);
            for (int k = 0; k < 64; k++) r.maps[k] = NAN;
        }
        if (i == 3 && partly_nan) r.maps[9] = NAN;
        CHECK(pc_layout_write(w, &r, i + 1, &err) == 0, "write row %d: %s", i, err.msg);
    }
    CHECK(w && pc_layout_finish(w, &err) == 0, "finish: %s", err.msg);
    pc_result_free(&r);
}

static void test_result_file(PcBackend *be) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s", tmp_path("run.h5"));
    write_results(path, PC_MAPS_F32, 0);
    const char *names[5] = {"d.jpg", "c.jpg", "b.jpg", "a.jpg", "e.jpg"};
    PcError err = {{0}};
    PcExternal *x = pc_external_open(path, "back", "gradcam", (char *const *)names, 5, &err);
    CHECK(x && !strcmp(pc_external_kind(x), "polycam-eval result file, method gradcam"), "open: %s", err.msg);
    // c (all NaN), b (skipped) and e (not in the file) have no map
    CHECK(x && pc_external_missing(x) == 3 && pc_external_missing_at(x, 0) == 1 && pc_external_missing_at(x, 1) == 2 &&
          pc_external_missing_at(x, 2) == 4, "c, b and e without a map");
    float *m = NULL;
    int h = 0, w = 0;
    CHECK(x && pc_external_map(x, "d.jpg", &m, &h, &w, &err) == 0 && h == 8 && w == 8 && m[9] == 9.0f + 300.0f &&
          m[63] == 363.0f, "d.jpg: gradcam's map as stored");
    free(m);
    const PcMethodDesc *d = pc_method_find("ext:back");
    float *out = xmalloc(16 * 16 * sizeof(float)), *ref = xmalloc(16 * 16 * sizeof(float));
    PcMethodCtx ctx = {.be = be, .size = 16, .name = "a.jpg", .state = x};
    float a[64];
    for (int k = 0; k < 64; k++) a[k] = (float)k;
    pc_method_up(&ctx, a, 8, 8, 16, 16, ref);
    CHECK(x && pc_method_compute(d, &ctx, out, &err) == 0 && max_abs_diff_f32(out, ref, 256) == 0,
          "a.jpg's 8 x 8 map brought to 16 x 16 with up()");
    free(out);
    free(ref);
    pc_external_close(x);
    x = pc_external_open(path, "ixg", "", (char *const *)names, 5, &err);
    CHECK(x && !strcmp(pc_external_kind(x), "polycam-eval result file, method ixg") && pc_external_missing(x) == 2,
          "method empty: NAME (ixg); c has ixg's map (%s)", x ? "" : err.msg);
    pc_external_close(x);
    x = pc_external_open(path, "other", "", (char *const *)names, 5, &err);
    CHECK(!x && strstr(err.msg, "no method 'other' among its maps (gradcam, ixg); set [external other] method"),
          "several methods, none named: %s", err.msg);
    write_results(path, PC_MAPS_F32, 1);
    x = pc_external_open(path, "back", "gradcam", (char *const *)names, 5, &err);
    CHECK(!x && strstr(err.msg, "run.h5: key 'd.jpg': NaN at (row 1, column 1) of its 8x8 map"), "partly NaN: %s",
          err.msg);
    write_results(path, PC_MAPS_NONE, 0);
    x = pc_external_open(path, "back", "gradcam", (char *const *)names, 5, &err);
    CHECK(!x && strstr(err.msg, "run.h5: no maps stored"), "maps = none: %s", err.msg);
    printf("  result file: rows, method, NaN and maps = none checked\n");
    unlink(path);
}

// ---- status -----------------------------------------------------------------------------------

static void test_status(void) {
    char s[512];
    const char *nan[2] = {"gradcam", "ixg"}, *absent[1] = {"ext:a"};
    pc_status_partial_maps(s, sizeof s, nan, 2, absent, 1);
    CHECK(!strcmp(s, "gradcam, ixg" PC_STATUS_NAN_MAP "; ext:a" PC_STATUS_NO_MAP), "both parts: %s", s);
    CHECK(pc_status_usable(s) && pc_status_is_nan_map(s) && pc_status_is_no_map(s), "usable, NaN and no map");
    pc_status_partial_maps(s, sizeof s, NULL, 0, absent, 1);
    CHECK(!strcmp(s, "ext:a: no map in the external file") && pc_status_usable(s) && !pc_status_is_nan_map(s) &&
          pc_status_is_no_map(s), "no map only: %s", s);
    pc_status_nan_maps(s, sizeof s, nan, 1);
    CHECK(!strcmp(s, "gradcam" PC_STATUS_NAN_MAP) && pc_status_is_nan_map(s) && !pc_status_is_no_map(s),
          "NaN only, as before: %s", s);
    CHECK(!pc_status_usable("x.jpg: not a JPEG; ext:a" PC_STATUS_NO_MAP) && !pc_status_usable("saliency: out of memory"),
          "an error part: not usable");
    const char *many[40];
    char idbuf[40][32];
    for (int i = 0; i < 40; i++) snprintf(idbuf[i], sizeof idbuf[i], "ext:long_method_name_%02d", i), many[i] = idbuf[i];
    pc_status_partial_maps(s, sizeof s, many, 20, many + 20, 20);
    CHECK(strlen(s) < sizeof s && pc_status_usable(s) && pc_status_is_nan_map(s) && pc_status_is_no_map(s) &&
          strstr(s, " more: NaN map") && strstr(s, " more: no map"), "40 ids fit in 512 bytes: %s", s);
}

// ---- configuration ----------------------------------------------------------------------------

static const char *write_text(const char *name, const char *text) {
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

static int load(const char *text, int n_sets, char **sets, PcConfig *cfg, PcError *err) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s", write_text("x.ini", text));
    return pc_config_load(path, n_sets, sets, cfg, err);
}

static void expect_config_error(const char *text, int n_sets, char **sets, const char *want, int want_rc) {
    PcConfig cfg;
    PcError err = {{0}};
    int rc = load(text, n_sets, sets, &cfg, &err);
    CHECK(rc == want_rc && strstr(err.msg, want) && !strchr(err.msg, '\n'), "want %d '%s', got %d '%s'", want_rc, want,
          rc, err.msg);
    if (rc == 0) pc_config_free(&cfg);
}

static void test_config(void) {
    write_text("maps.npz", "bytes of a file");
    const char *base = "[model]\nweights = w.safetensors\n[data]\nlist = l.txt\n[saliency]\nmethods = gradcam, ext:tc\n";
    char text[2048];
    snprintf(text, sizeof text, "%s[external tc]\nfile = maps.npz\n", base);
    PcConfig cfg;
    PcError err = {{0}};
    int rc = load(text, 0, NULL, &cfg, &err);
    CHECK(rc == 0 && cfg.n_external == 1 && !strcmp(cfg.external[0].file, tmp_path("maps.npz")),
          "file resolved against the config's folder: %s", rc ? err.msg : cfg.external[0].file);
    char *canon = rc == 0 ? pc_config_canonical(&cfg, 1) : NULL;
    char want[2 * PATH_MAX];
    snprintf(want, sizeof want, "\n[external tc]\nfile = %s\nmethod = \nchecksum = ", tmp_path("maps.npz"));
    CHECK(canon && strstr(canon, want) && strlen(strstr(canon, "checksum = ")) == 11 + 16 + 1,
          "canonical text with the checksum: %s", canon ? strstr(canon, "[external") : "");
    free(canon);
    if (rc == 0) pc_config_free(&cfg);
    // --set forms: relative to the current folder
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    CHECK(chdir(g_dir) == 0, "chdir");
    char *s1[] = {"external.tc.file=maps.npz", "external.tc.method=gradcam"};
    rc = load(base, 2, s1, &cfg, &err);
    CHECK(rc == 0 && cfg.n_external == 1 && !strcmp(cfg.external[0].method, "gradcam"), "--set external.tc.*: %s",
          rc ? err.msg : "");
    if (rc == 0) pc_config_free(&cfg);
    char *s2[] = {"external tc.file=maps.npz"};
    rc = load(base, 1, s2, &cfg, &err);
    CHECK(rc == 0 && cfg.n_external == 1, "--set \"external tc.file=...\": %s", rc ? err.msg : "");
    if (rc == 0) pc_config_free(&cfg);
    CHECK(chdir(cwd) == 0, "chdir back");
    // errors
    expect_config_error(base, 0, NULL, "x.ini:6: [saliency] methods names ext:tc, but there is no [external tc] section",
                        -1);
    snprintf(text, sizeof text, "%s[external tc]\nfile = gone.npz\n", base);
    snprintf(want, sizeof want, "x.ini:8: [external tc] file: %s: cannot open (No such file or directory)",
             tmp_path("gone.npz"));
    expect_config_error(text, 0, NULL, want, -1);
    snprintf(text, sizeof text, "%s[external tc]\nmethod = gradcam\n", base);
    expect_config_error(text, 0, NULL, "x.ini: [external tc] file is not set (add it, or --set external.tc.file=FILE)",
                        -1);
    snprintf(text, sizeof text, "%s[external tc]\nfile = maps.npz\nfile = maps.npz\n", base);
    expect_config_error(text, 0, NULL, "x.ini:9: duplicate key 'file' in [external tc] (first set on line 8)", -1);
    snprintf(text, sizeof text, "%s[external tc]\nfile = maps.npz\nlayer = x\n", base);
    expect_config_error(text, 0, NULL, "x.ini:9: unknown key 'layer' in [external tc] (expected file or method)", -1);
    snprintf(text, sizeof text, "%s[external t.c]\nfile = maps.npz\n", base);
    expect_config_error(text, 0, NULL, "x.ini:7: bad section [external t.c] (expected [external NAME]", -1);
    char *s3[] = {"external.tc.files=x"};
    expect_config_error(base, 1, s3, "--set external.tc.files=x: unknown key 'files' in [external tc]", -2);
    char *s4[] = {"external.tc.file=nowhere.npz"};
    expect_config_error(base, 1, s4, "--set external.tc.file=nowhere.npz: [external tc] file: ", -2);
    char *s5[] = {"external.file=x"};
    expect_config_error(base, 1, s5, "--set external.file=x: bad section [external]", -2);
    expect_config_error("[model]\nweights = w\n[data]\nlist = l\n[saliency]\nmethods = ext:a.b\n", 0, NULL,
                        "bad value 'ext:a.b' for [saliency] methods", -1);
    expect_config_error("[model]\nweights = w\n[data]\nlist = l\n[saliency]\nmethods = ext:\n", 0, NULL,
                        "bad value 'ext:' for [saliency] methods", -1);
    snprintf(text, sizeof text, "%s[external tc]\nfile = maps.npz\n[sanity]\nmethods = ext:tc\n", base);
    expect_config_error(text, 0, NULL, "bad value 'ext:tc' for [sanity] methods", -1);
    // the sanity check's default list (the run's methods) leaves ext: out
    snprintf(text, sizeof text, "%s[external tc]\nfile = maps.npz\n", base);
    rc = load(text, 0, NULL, &cfg, &err);
    PcSanitySettings ss;
    CHECK(rc == 0 && pc_sanity_settings_from_config(&cfg, &ss, &err) == 0 && ss.n_methods == 1 &&
          !strcmp(ss.ids[0], "gradcam"), "sanity methods by default: gradcam only");
    if (rc == 0) pc_config_free(&cfg);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/pc_test_external_XXXXXX");
    if (!mkdtemp(g_dir)) test_skip("cannot create a temporary folder");
    snprintf(g_npz, sizeof g_npz, "%s", fixture_path("ext_maps/npy_variants.npz"));
    snprintf(g_h5, sizeof g_h5, "%s", fixture_path("ext_maps/npy_variants.h5"));
    PcBackend *be = test_cpu_backend();
    if (!be) return test_summary();
    printf("up() of numpy's arrays:\n");
    test_resample(be);
    printf("bad maps:\n");
    test_bad_maps();
    printf("result file:\n");
    test_result_file(be);
    test_status();
    test_config();
    be->destroy(be);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", g_dir);
    return test_summary();
}
