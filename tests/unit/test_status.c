// test_status.c: images with a NaN map (a constant map before torchcam's min-max, issue 9). The
// status names every such method (pc_status_nan_maps, also when the list is too long for the
// status), and the table, its CSV and the report leave the image out of those methods' rows only,
// also for a file written before the status named every method (one id: the last NaN method).
#define _GNU_SOURCE
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "report.h"
#include "store.h"
#include "table.h"
#include "testutil.h"

#define N_IMAGES 4
#define SIDE 8
#define STEPS 3
#define N_METHODS 3

static char g_ids[N_METHODS][PC_METHOD_ID_LEN] = {"gradcam", "gradcampp", "ixg"};
static char *g_names[N_IMAGES] = {"a.jpg", "b.jpg", "c.jpg", "d.jpg"};
static const int g_labels[N_IMAGES] = {0, 1, 2, 3};
static const int g_index[N_IMAGES] = {0, 1, 2, 3};

static void test_status_text(void) {
    const char *ids[] = {"gradcam", "gradcampp", "ixg"};
    char buf[512];
    pc_status_nan_maps(buf, sizeof buf, ids, 2);
    CHECK(!strcmp(buf, "gradcam, gradcampp: NaN map (constant before min-max, as the library)"), "two ids: %s", buf);
    CHECK(pc_status_is_nan_map(buf) && pc_status_usable(buf), "a NaN-map status is usable");
    CHECK(pc_status_usable("ok") && !pc_status_is_nan_map("ok"), "ok");
    CHECK(!pc_status_usable("a.jpg: not a JPEG file") && !pc_status_usable("gradcam: out of memory"),
          "an error is not usable");
    CHECK(!pc_status_usable(PC_STATUS_NAN_MAP + 2), "the suffix alone names no method");
    // more ids than fit: the rest counted, the suffix whole
    const char *many[40];
    for (int i = 0; i < 40; i++) many[i] = "pcampm.level.layer4.2.conv3";
    char small[160];
    pc_status_nan_maps(small, sizeof small, many, 40);
    CHECK(strstr(small, " more: NaN map (constant before min-max, as the library)") && pc_status_is_nan_map(small) &&
              strlen(small) < sizeof small,
          "too many ids: %s", small);
}

// A finished file: image 0 ok; image 1 a NaN map of gradcam and gradcampp (the new status);
// image 2 unreadable; image 3 the old status (only gradcampp named) of the same two NaN maps.
static int write_file(const char *path, PcError *err) {
    PcStoreLayout l = {.n_images = N_IMAGES, .size = SIDE, .steps = STEPS, .n_methods = N_METHODS,
                       .method_ids = g_ids, .maps = PC_MAPS_F32, .insertion = 1, .deletion = 1};
    PcStoreImages im = {.names = g_names, .labels = g_labels, .list_index = g_index};
    PcStoreMeta me = {.config = "x", .config_key = "k", .config_source = "s", .version = "t", .git_commit = "c",
                      .libraries = "l", .device = "cpu"};
    PcStore *st;
    if (pc_store_open(&st, path, &l, &im, &me, PC_STORE_FORCE, err)) return -1;
    PcImageResult r;
    pc_result_init(&r, &l);
    int rc = 0;
    for (int i = 0; i < N_IMAGES && rc == 0; i++) {
        pc_result_reset(&r, &l, i);
        r.cls = 1, r.score = 0.5f;
        for (int m = 0; m < N_METHODS; m++) {
            int nan = (i == 1 || i == 3) && m < 2;
            for (int k = 0; k < SIDE * SIDE; k++) r.maps[m * SIDE * SIDE + k] = nan ? NAN : (float)k;
            if (nan) continue;
            r.ins_auc[m] = 0.5 + 0.1 * i + 0.01 * m;
            r.del_auc[m] = 0.2 + 0.1 * i;
            for (int t = 0; t < STEPS; t++) r.ins_scores[m * STEPS + t] = r.del_scores[m * STEPS + t] = 0.5f;
        }
        const char *nan_ids[] = {"gradcam", "gradcampp"};
        if (i == 1) pc_status_nan_maps(r.status, sizeof r.status, nan_ids, 2);
        if (i == 2) snprintf(r.status, sizeof r.status, "c.jpg: not a JPEG file"), r.cls = -1;
        if (i == 3) snprintf(r.status, sizeof r.status, "gradcampp" PC_STATUS_NAN_MAP);   // before this change
        rc = pc_store_write(st, &r, err);
    }
    pc_result_free(&r);
    if (rc == 0) rc = pc_store_finish(st, err);
    pc_store_close(st);
    return rc;
}

static void test_table_and_report(const char *dir) {
    char path[PATH_MAX], out[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/nan.h5", dir);
    PcError err = {{0}};
    CHECK(write_file(path, &err) == 0, "write: %s", err.msg);
    PcTable t;
    int rc = pc_table_from_file(path, &t, &err);
    CHECK(rc == 0, "table: %s", err.msg);
    if (rc) return;
    CHECK(t.n_ok == 3 && t.n_nan_map == 2, "3 images used (2 with NaN maps): %d, %d", t.n_ok, t.n_nan_map);
    // gradcam, gradcampp: image 0 only; ixg: images 0, 1, 3 (ins 0.5 + 0.1 i + 0.02, del 0.2 + 0.1 i)
    CHECK(t.rows[0].n == 1 && t.rows[1].n == 1 && fabs(t.rows[0].ins - 0.5) < 1e-12, "NaN rows: N = 1 (%d, %d)",
          t.rows[0].n, t.rows[1].n);
    CHECK(t.rows[2].n == 3 && fabs(t.rows[2].ins - (0.52 + 0.62 + 0.82) / 3) < 1e-12 &&
              fabs(t.rows[2].del - (0.2 + 0.3 + 0.5) / 3) < 1e-12,
          "ixg keeps the images with another method's NaN map: N = %d, ins %.6f", t.rows[2].n, t.rows[2].ins);
    char *csv = pc_table_csv_path(path);
    CHECK(pc_table_write_csv(csv, &t, &err) == 0, "csv: %s", err.msg);
    size_t n;
    char *text = (char *)pc_read_file(csv, &n, &err);
    CHECK(text && strstr(text, "gradcam,0.500000,0.200000,0.300000,1\n") && strstr(text, "\nixg,0.653333,0.333333,"),
          "csv:\n%s", text ? text : "");
    free(text);
    free(csv);
    pc_table_free(&t);
    snprintf(out, sizeof out, "%s/rep", dir);
    PcReportOptions opt;
    pc_report_default_options(&opt);
    char *files[] = {path};
    rc = pc_report(out, 1, files, &opt, &err);
    CHECK(rc == 0, "report: %s", err.msg);
    snprintf(out, sizeof out, "%s/rep/report.md", dir);
    text = rc == 0 ? (char *)pc_read_file(out, &n, &err) : NULL;
    // the paper's layout (docs/report.md): one image gives no interval; ixg's Ins-Del is 0.32 on each
    CHECK(text && strstr(text, "| gradcam (GradCAM) | 0.5000 | 0.2000 | 0.3000 | 1 |") &&
              strstr(text, "| ixg (InputXGrad) | 0.6533 [") && strstr(text, "| 0.3200 [0.3200, 0.3200] | 3 |\n"),
          "report rows:\n%s", text ? text : "");
    CHECK(text && strstr(text, "2 of the images used have a NaN map of some method"), "report says why N differs");
    free(text);
}

int main(void) {
    char dir[] = "/tmp/pc_test_status_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    test_status_text();
    test_table_and_report(dir);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_summary();
}
