// store_fixture.h: the fixture that tests/unit/test_store.c and tests/unit/test_store_failures.c share: a
// 4-image, 2-method layout with 8x8 maps and 5 curve steps, its deterministic results
// (fill_result), a store run writing images [from, to) (run_store), a child killed by SIGKILL after
// n images (crash_after), and the temporary folder every path lives in (store_fixture_begin / _end).
#ifndef PC_STORE_FIXTURE_H
#define PC_STORE_FIXTURE_H

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "testutil.h"

#define N_IMAGES 4
#define SIDE 8
#define STEPS 5
#define N_METHODS 2

static char g_dir[PATH_MAX];
static char g_ids[N_METHODS][PC_METHOD_ID_LEN] = {"pcamp", "pcamp.level.features.3"};
static char *g_names[N_IMAGES] = {"a.jpg", "sub/b.jpg", "c.jpg", "d.jpg"};
static const int g_labels[N_IMAGES] = {3, -1, 0, 1};
static const int g_list_index[N_IMAGES] = {10, 11, 12, 13};
static char *g_classes[4] = {"disk", "square", "triangle", "cross"};

static const char *tmp_path(const char *name) {
    static char buf[PATH_MAX + 64];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static PcStoreLayout layout(PcMapsFormat maps) {
    PcStoreLayout l = {.n_images = N_IMAGES, .size = SIDE, .steps = STEPS, .n_methods = N_METHODS,
                       .method_ids = g_ids, .maps = maps, .insertion = 1, .deletion = 1};
    return l;
}

static PcStoreImages images(void) {
    PcStoreImages im = {.names = g_names, .labels = g_labels, .list_index = g_list_index, .n_class_names = 4,
                        .class_names = g_classes};
    return im;
}

static PcStoreMeta meta(const char *key) {
    PcStoreMeta m = {.config = "[metrics]\nsteps = 5\n", .config_key = key, .config_source = "src",
                     .version = "test", .git_commit = "abc", .libraries = "libs", .device = "cpu"};
    return m;
}

static const char *k_key = "[metrics]\nsteps = 5\nbaseline = blur\n";

// Deterministic results of image i (what a run would compute).
static void fill_result(PcImageResult *r, const PcStoreLayout *l, int i) {
    pc_result_reset(r, l, i);
    if (i == 2) {
        snprintf(r->status, sizeof r->status, "c.jpg: Not a JPEG file: starts with 0x89 0x50");
        return;
    }
    r->cls = i + 1;
    r->score = 0.25f * (float)(i + 1);
    for (int m = 0; m < l->n_methods; m++) {
        for (int k = 0; k < SIDE * SIDE; k++) r->maps[(m * SIDE * SIDE) + k] = (float)(k * (i + 1) + m) / 7.0f;
        r->ins_auc[m] = 0.5 + 0.01 * i + 0.1 * m;
        r->del_auc[m] = 0.2 + 0.01 * i;
        for (int t = 0; t < STEPS; t++) {
            r->ins_scores[m * STEPS + t] = (float)t / STEPS + (float)i;
            r->del_scores[m * STEPS + t] = 1.0f - (float)t / STEPS;
        }
    }
}

// What a store run found and did.
typedef struct {
    int n_replayed, complete, n_done;
    long n_dropped_bytes;
    char status[N_IMAGES][512];     // pc_store_status after open ("" = not done)
} StoreInfo;

// Opens, writes images [from, to), and (finish) finishes.
static int run_store(const char *path, PcStoreMode mode, const char *key, int from, int to, int finish, PcError *err,
                     StoreInfo *out_state) {
    PcStoreLayout l = layout(PC_MAPS_F16);
    PcStoreImages im = images();
    PcStoreMeta me = meta(key);
    PcStore *st;
    int rc = pc_store_open(&st, path, &l, &im, &me, mode, err);
    if (rc == 0 && out_state) {
        for (int i = 0; i < N_IMAGES; i++)
            snprintf(out_state->status[i], sizeof out_state->status[i], "%s",
                     pc_store_status(st, i) ? pc_store_status(st, i) : "");
    }
    if (rc == 0 && !pc_store_complete(st)) {
        PcImageResult r;
        pc_result_init(&r, &l);
        for (int i = from; i < to && rc == 0; i++) {
            if (pc_store_is_done(st, i)) continue;
            fill_result(&r, &l, i);
            rc = pc_store_write(st, &r, err);
        }
        pc_result_free(&r);
        if (rc == 0 && finish) rc = pc_store_finish(st, err);
    }
    if (out_state && st) {
        out_state->n_replayed = pc_store_n_replayed(st);
        out_state->n_dropped_bytes = pc_store_dropped_bytes(st);
        out_state->complete = pc_store_complete(st);
        out_state->n_done = pc_store_n_done(st);
    }
    pc_store_close(st);
    return rc;
}

// Child: writes images [0, n) and is killed by SIGKILL before finishing.
static void crash_after(const char *path, int n) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        PcError err;
        PcStoreLayout l = layout(PC_MAPS_F16);
        PcStoreImages im = images();
        PcStoreMeta me = meta(k_key);
        PcStore *st;
        if (pc_store_open(&st, path, &l, &im, &me, PC_STORE_CONTINUE, &err)) _exit(3);
        PcImageResult r;
        pc_result_init(&r, &l);
        for (int i = 0; i < n; i++) {
            fill_result(&r, &l, i);
            if (pc_store_write(st, &r, &err)) _exit(4);
        }
        raise(SIGKILL);
        _exit(5);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child killed by SIGKILL (status %d)", status);
}

// The temporary folder of the test (test_tmp_dir: the test fails when it cannot be made).
static int store_fixture_begin(const char *name) {
    snprintf(g_dir, sizeof g_dir, "%s", test_tmp_dir(name));
    return 0;
}

static void store_fixture_end(void) { test_tmp_remove(); }

#endif
