// test_store_failures.c: the failure policy of the result store (issue 14 and the write-path
// audit): one writer per output (a second one refused naming the first's pid, also through the
// early lock of the 8-bit runs, whose release removes the folders it made when nothing was
// written), a full disk or file size limit (every failure named with its reason, no file claiming
// completeness, the previous CSV kept, no truncated overlay PNG), rewritten weights, --force on
// foreign files, the skipped images of a resumed run, refusals naming the list entry, --table on a
// running output.
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "h5util.h"
#include "journal.h"
#include "overlay.h"
#include "store_fixture.h"
#include "table.h"

// Issue 14 defects: one writer per output, disk full, weights content, --force on foreign files,
// skipped images after a resume, non-UTF-8 names, refusals naming the list entry, --table on a
// running output, CSV that cannot be written.

static PcStoreMeta meta_w(const char *key, const char *weights) {
    PcStoreMeta m = meta(key);
    m.weights_checksum = weights;
    return m;
}

static void test_one_writer(void) {
    const char *path = tmp_path("locked.h5");
    PcStoreLayout l = layout(PC_MAPS_F16);
    PcStoreImages im = images();
    PcStoreMeta me = meta(k_key);
    PcStore *a, *b;
    PcError err = {{0}};
    int rc = pc_store_open(&a, path, &l, &im, &me, PC_STORE_CONTINUE, &err);
    CHECK(rc == 0, "first writer: %s", err.msg);
    char want[64];
    snprintf(want, sizeof want, "(pid %ld) is writing this output", (long)getpid());
    // flock is per open file: a second open in the same process conflicts like another process
    rc = pc_store_open(&b, path, &l, &im, &me, PC_STORE_CONTINUE, &err);
    CHECK(rc != 0 && strstr(err.msg, want) && strstr(err.msg, "another polycam-eval"), "second writer refused: %s",
          err.msg);
    rc = pc_store_open(&b, path, &l, &im, &me, PC_STORE_FORCE, &err);
    CHECK(rc != 0 && strstr(err.msg, want), "--force does not take over a live run: %s", err.msg);
    CHECK(access(path, F_OK) != 0, "the refused runs created nothing");
    if (a) {
        PcImageResult r;
        pc_result_init(&r, &l);
        for (int i = 0; i < N_IMAGES; i++) {
            fill_result(&r, &l, i);
            CHECK(pc_store_write(a, &r, &err) == 0, "write: %s", err.msg);
        }
        pc_result_free(&r);
        CHECK(pc_store_finish(a, &err) == 0, "finish: %s", err.msg);
    }
    pc_store_close(a);
    double v = 0;
    CHECK(h5_attr_f64(path, "/", "complete", &v) == 0 && v == 1, "the first writer's file is complete");
    char lock[2 * PATH_MAX];
    snprintf(lock, sizeof lock, "%s.lock", path);
    CHECK(access(lock, F_OK) != 0, "lock file removed at the end");
    // a lock left by a killed run does not block the resume (the kernel dropped the flock)
    path = tmp_path("killed_lock.h5");
    crash_after(path, 1);
    snprintf(lock, sizeof lock, "%s.lock", path);
    CHECK(access(lock, F_OK) == 0, "a killed run leaves its lock file");
    StoreInfo s;
    rc = run_store(path, PC_STORE_CONTINUE, k_key, 0, N_IMAGES, 1, &err, &s);
    CHECK(rc == 0 && s.n_replayed == 1, "resume after kill -9 takes the stale lock: %s", rc ? err.msg : "");
}

// pc_store_lock ahead of the opening (the 8-bit runs, before their calibration and guard): a second
// writer is refused while it is held, pc_store_open_held takes it over (the store releases it), the
// missing folder is made, and a released early lock (a failed guard) leaves no lock file, and no
// folder it made (a folder that was there, or that holds files, stays).
static void test_early_lock(void) {
    const char *path = tmp_path("early/sub/out.h5");
    PcStoreLayout l = layout(PC_MAPS_F16);
    PcStoreImages im = images();
    PcStoreMeta me = meta(k_key);
    PcError err = {{0}};
    char lock_path[2 * PATH_MAX], want[64];
    snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    snprintf(want, sizeof want, "(pid %ld) is writing this output", (long)getpid());
    PcLock lock, other;
    PcStore *st = NULL;
    CHECK(pc_store_lock(&lock, path, &err) == 0 && lock.fd >= 0 && access(lock_path, F_OK) == 0, "early lock: %s",
          err.msg);
    CHECK(pc_store_lock(&other, path, &err) == -1 && strstr(err.msg, want) && other.fd < 0 && !other.path,
          "a second early lock refused: %s", err.msg);
    CHECK(pc_store_open(&st, path, &l, &im, &me, PC_STORE_CONTINUE, &err) != 0 && strstr(err.msg, want) &&
              access(path, F_OK) != 0, "a second writer refused, creating nothing: %s", err.msg);
    CHECK(pc_store_open_held(&st, &lock, path, &l, &im, &me, PC_STORE_CONTINUE, &err) == 0, "open held: %s", err.msg);
    CHECK(lock.fd < 0 && !lock.path && access(lock_path, F_OK) == 0, "the store took the lock over");
    pc_store_close(st);
    CHECK(access(lock_path, F_OK) != 0, "closing the store removed the lock file");
    CHECK(access(tmp_path("early/sub/out.h5.journal"), F_OK) == 0, "the unfinished run's journal stays, and its "
          "folder");
    pc_lock_release(&lock);   // not held: nothing happens
    CHECK(pc_store_lock(&lock, path, &err) == 0 && lock.fd >= 0, "lock again: %s", err.msg);
    pc_lock_release(&lock);
    CHECK(access(lock_path, F_OK) != 0, "a released early lock leaves no lock file");
    CHECK(access(tmp_path("early/sub"), F_OK) == 0, "... nor removes a folder it did not make");
    // a failed guard in folders the early lock made: they go with it, the folder above them stays
    mkdir(tmp_path("early2"), 0777);
    CHECK(pc_store_lock(&lock, tmp_path("early2/a/b/out.h5"), &err) == 0 && access(tmp_path("early2/a/b"), F_OK) == 0,
          "early lock in new folders: %s", err.msg);
    pc_lock_release(&lock);
    CHECK(access(tmp_path("early2/a"), F_OK) != 0 && access(tmp_path("early2"), F_OK) == 0,
          "released with nothing written: the folders it made are gone, early2 stays");
    // a file someone put there meanwhile keeps its folder
    CHECK(pc_store_lock(&lock, tmp_path("early2/c/d/out.h5"), &err) == 0, "early lock: %s", err.msg);
    FILE *f = fopen(tmp_path("early2/c/notes.txt"), "w");
    if (f) fclose(f);
    pc_lock_release(&lock);
    CHECK(access(tmp_path("early2/c/d"), F_OK) != 0 && access(tmp_path("early2/c/notes.txt"), F_OK) == 0,
          "the empty folder goes, the one holding a file stays");
}

// A child writing the whole store under a file size limit of `limit` bytes: its exit status (0 or
// 1) and message in msg.
static int store_under_limit(const char *path, long limit, char *msg, size_t cap) {
    fflush(NULL);
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {(rlim_t)limit, (rlim_t)limit};
        setrlimit(RLIMIT_FSIZE, &rl);
        PcError err = {{0}};
        int rc = run_store(path, PC_STORE_CONTINUE, k_key, 0, N_IMAGES, 1, &err, NULL);
        if (rc && write(fds[1], err.msg, strlen(err.msg)) < 0) _exit(5);
        _exit(rc ? 1 : 0);
    }
    close(fds[1]);
    ssize_t n = read(fds[0], msg, cap - 1);
    msg[n > 0 ? n : 0] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Child process with a 16 KB file size limit (SIGXFSZ ignored: writes fail with EFBIG): every
// failure must be reported, naming the reason, and the process must exit normally.
static void test_disk_full(void) {
    char msg[1100] = "";
    int rc = store_under_limit(tmp_path("full/out.h5"), 16384, msg, sizeof msg);
    CHECK(rc == 1, "file size limit: the store fails cleanly (exit %d)", rc);
    CHECK(strstr(msg, "File too large") != NULL, "the message says why: %s", msg);
    int status = 0;
    // the same through exit(): HDF5's atexit close must not crash on the failed file
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {16384, 16384};
        setrlimit(RLIMIT_FSIZE, &rl);
        PcError err;
        int rc = run_store(tmp_path("full2/out.h5"), PC_STORE_CONTINUE, k_key, 0, N_IMAGES, 1, &err, NULL);
        exit(rc ? 1 : 0);
    }
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "exit() after a failed write does not crash (status %d)",
          status);
}

// The disk fills at every point of a run in turn (file size limits from nothing up to more than
// the output needs, 512 bytes apart: the journal's header, the HDF5 file's creation, each image's
// flush; HDF5 writes at the flushes, so the final close has nothing left to write): each run that
// fails says why and leaves no output claiming to be complete (only the journal and .partial,
// which the same run without the limit finishes); one that succeeds wrote it all. A limit of 0
// leaves no folder behind.
static void test_disk_full_anywhere(void) {
    struct stat sb;
    CHECK(stat(tmp_path("ref/out.h5"), &sb) == 0, "reference output");
    int failed = 0, passed = 0, bad = 0;
    for (long limit = 0; limit <= sb.st_size + 4096 && !bad; limit += 512) {
        char name[64], msg[1100];
        snprintf(name, sizeof name, "anywhere/%ld/out.h5", limit);
        const char *path = tmp_path(name);
        int rc = store_under_limit(path, limit, msg, sizeof msg);
        double complete = -1;
        if (rc == 1) {
            failed++;
            bad = !strstr(msg, "File too large") || access(path, F_OK) == 0;
            CHECK(!bad, "limit %ld: says why (%s), no output (%s)", limit, msg, access(path, F_OK) ? "none" : "there");
        } else {
            passed++;
            bad = rc != 0 || h5_attr_f64(path, "/", "complete", &complete) || complete != 1;
            CHECK(!bad, "limit %ld: exit %d, complete", limit, rc);
        }
        if (limit == 0) {
            snprintf(name, sizeof name, "anywhere/%ld", limit);
            CHECK(access(tmp_path(name), F_OK) != 0, "limit 0: nothing written, the folders made are gone");
        }
        if (rc != 1 || limit == 0) continue;
        PcError err = {{0}};
        StoreInfo s;
        rc = run_store(path, PC_STORE_CONTINUE, k_key, 0, N_IMAGES, 1, &err, &s);
        double n_done = -1;
        int ok = rc == 0 && h5_attr_f64(path, "/", "complete", &complete) == 0 && complete == 1 &&
                 h5_attr_f64(path, "/", "n_done", &n_done) == 0 && n_done == N_IMAGES;
        CHECK(ok, "limit %ld: the same run without the limit finishes it (%d images from the journal): %s", limit,
              s.n_replayed, rc ? err.msg : "");
    }
    CHECK(failed > 5 && passed > 0, "the limits cover failures (%d) and a success (%d)", failed, passed);
    printf("disk full at %d points of a run: each failed cleanly\n", failed);
}

// The CSV on a full disk: one error naming it and the reason, the previous CSV as it was, no
// temporary left.
static void test_csv_disk_full(void) {
    PcTable t;
    PcError err = {{0}};
    char csv[PATH_MAX + 64];
    snprintf(csv, sizeof csv, "%s", tmp_path("csvfull.csv"));   // tmp_path's buffer is reused below
    CHECK(pc_table_from_file(tmp_path("ref/out.h5"), &t, &err) == 0, "table: %s", err.msg);
    FILE *f = fopen(csv, "w");
    fputs("previous,csv\n", f);
    fclose(f);
    fflush(NULL);
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {16, 16};   // the CSV is longer
        setrlimit(RLIMIT_FSIZE, &rl);
        int rc = pc_table_write_csv(csv, &t, &err);
        if (write(fds[1], err.msg, strlen(err.msg)) < 0) _exit(5);
        _exit(rc ? 1 : 0);
    }
    close(fds[1]);
    char msg[1100] = "";
    ssize_t n = read(fds[0], msg, sizeof msg - 1);
    msg[n > 0 ? n : 0] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    char want[PATH_MAX + 128], tmp[PATH_MAX + 72];
    snprintf(want, sizeof want, "%s: cannot write (File too large)", csv);
    snprintf(tmp, sizeof tmp, "%s.tmp", csv);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1 && !strcmp(msg, want), "CSV on a full disk: '%s'", msg);
    size_t len = 0;
    char *text = (char *)pc_read_file(csv, &len, &err);
    CHECK(text && !strcmp(text, "previous,csv\n"), "... the previous CSV as it was: '%s'", text ? text : "");
    CHECK(access(tmp, F_OK) != 0, "... no temporary CSV left");
    free(text);
    pc_table_free(&t);
}

// An overlay PNG on a full disk: an error naming it, and no truncated PNG left (the run warns and
// goes on without it).
static void test_overlay_disk_full(void) {
    enum { S = 64 };
    float *x = xcalloc(3 * S * S, sizeof(float)), *map = xcalloc(S * S, sizeof(float));
    for (int i = 0; i < S * S; i++) map[i] = (float)((i * 7919) % 101), x[i] = (float)(i % 13) / 13.0f;
    char path[PATH_MAX + 64], ok_path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s", tmp_path("overlay_full.png"));
    snprintf(ok_path, sizeof ok_path, "%s", tmp_path("overlay_ok.png"));
    PcError err = {{0}};
    if (pc_overlay_write_png(ok_path, x, map, S, &err)) {   // built without libpng: nothing to check
        printf("overlay: %s\n", err.msg);
        free(x), free(map);
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {1024, 1024};   // the PNG is larger
        setrlimit(RLIMIT_FSIZE, &rl);
        _exit(pc_overlay_write_png(path, x, map, S, &err) ? 1 : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    struct stat sb;
    CHECK(stat(ok_path, &sb) == 0 && sb.st_size > 1024, "the overlay needs more than the limit (%lld bytes)",
          (long long)sb.st_size);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "overlay on a full disk fails (status %d)", status);
    CHECK(access(path, F_OK) != 0, "... and leaves no truncated PNG");
    free(x), free(map);
}

static void test_weights_changed(void) {
    const char *path = tmp_path("weights.h5");
    PcStoreLayout l = layout(PC_MAPS_F16);
    PcStoreImages im = images();
    PcStoreMeta me = meta_w(k_key, "00000000000000aa");
    PcStore *st;
    PcError err = {{0}};
    CHECK(pc_store_open(&st, path, &l, &im, &me, PC_STORE_CONTINUE, &err) == 0, "open: %s", err.msg);
    pc_store_close(st);     // an unfinished run
    me.weights_checksum = "00000000000000bb";
    int rc = pc_store_open(&st, path, &l, &im, &me, PC_STORE_CONTINUE, &err);
    CHECK(rc != 0 && strstr(err.msg, "[model] weights: the file's content changed") &&
              strstr(err.msg, "00000000000000aa there, 00000000000000bb now"),
          "resume with rewritten weights refused: %s", err.msg);
    me.weights_checksum = "00000000000000aa";
    rc = pc_store_open(&st, path, &l, &im, &me, PC_STORE_CONTINUE, &err);
    CHECK(rc == 0, "same weights resume: %s", err.msg);
    pc_store_close(st);
    // the fingerprint's names hash is the one files of 0.1.0 have (each name's FNV-1a with its
    // '\0', folded FNV style), so their finished files and journals are continued
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < N_IMAGES; i++) {
        uint64_t hn = 0xcbf29ce484222325ull;
        for (const char *c = g_names[i];; c++) {
            hn = (hn ^ (unsigned char)*c) * 0x100000001b3ull;
            if (!*c) break;
        }
        h = (h ^ hn) * 0x100000001b3ull;
    }
    char want[64];
    snprintf(want, sizeof want, "\nnames_hash = %016llx\n", (unsigned long long)h);
    hid_t f = H5Fopen(tmp_path("ref/out.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    char *key = f >= 0 ? pc_h5_read_root_attr(f, "config_key") : NULL;
    CHECK(key && strstr(key, want), "names hash as in 0.1.0 (%s): %s", want + 1, key ? key : "");
    free(key);
    if (f >= 0) H5Fclose(f);
    // a file written before the checksum existed still matches on the rest
    const char *old = tmp_path("ref/out.h5");
    me.config_key = k_key;
    rc = pc_store_open(&st, old, &l, &im, &me, PC_STORE_CONTINUE, &err);
    CHECK(rc == 0 && pc_store_complete(st), "file without a weights checksum: %s", rc ? err.msg : "");
    pc_store_close(st);
}

static void test_force_foreign(void) {
    PcStoreLayout l = layout(PC_MAPS_F16);
    PcStoreImages im = images();
    PcStoreMeta me = meta(k_key);
    PcStore *st;
    PcError err = {{0}};
    const char *fifo = tmp_path("fifo.h5");
    CHECK(mkfifo(fifo, 0644) == 0, "mkfifo");
    int rc = pc_store_open(&st, fifo, &l, &im, &me, PC_STORE_FORCE, &err);
    struct stat sb;
    CHECK(rc != 0 && strstr(err.msg, "not a regular file") && stat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode),
          "--force on a FIFO refused, FIFO kept: %s", err.msg);
    // a regular file at <file>.journal that is ours goes; an HDF5 file without our attributes stays
    const char *h5 = tmp_path("other.h5");
    hid_t f = H5Fcreate(h5, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    rc = pc_store_open(&st, h5, &l, &im, &me, PC_STORE_FORCE, &err);
    CHECK(rc != 0 && strstr(err.msg, "other.h5: not a file polycam-eval wrote") && access(h5, F_OK) == 0,
          "--force keeps another program's HDF5 file: %s", err.msg);
    // our own finished file is replaced
    rc = run_store(tmp_path("mine.h5"), PC_STORE_CONTINUE, k_key, 0, N_IMAGES, 1, &err, NULL);
    rc = rc || run_store(tmp_path("mine.h5"), PC_STORE_FORCE, k_key, 0, N_IMAGES, 1, &err, NULL);
    CHECK(rc == 0, "--force replaces our own file: %s", err.msg);
}

static void test_skipped_after_resume(void) {
    const char *path = tmp_path("skipped.h5");
    crash_after(path, 3);   // image 2 is skipped (fill_result)
    StoreInfo s;
    PcError err = {{0}};
    int rc = run_store(path, PC_STORE_CONTINUE, k_key, 0, N_IMAGES, 1, &err, &s);
    CHECK(rc == 0 && strstr(s.status[2], "Not a JPEG") && !strcmp(s.status[0], "ok") && s.status[3][0] == 0,
          "statuses of the images stored before the kill: '%s' '%s' '%s'", s.status[0], s.status[2], s.status[3]);
}

static void test_refusals_and_tables(void) {
    PcError err = {{0}};
    // a different image list: the refusal names the entry
    char *names[N_IMAGES] = {"a.jpg", "x.jpg", "c.jpg", "d.jpg"};
    PcStoreLayout l = layout(PC_MAPS_F16);
    PcStoreImages im = images();
    im.names = names;
    PcStoreMeta me = meta(k_key);
    PcStore *st;
    int rc = pc_store_open(&st, tmp_path("ref/out.h5"), &l, &im, &me, PC_STORE_CONTINUE, &err);
    CHECK(rc != 0 && strstr(err.msg, "image 1 of the run is 'sub/b.jpg' there, 'x.jpg' now") &&
              !strstr(err.msg, "names_hash"),
          "finished file, other list: %s", err.msg);
    const char *path = tmp_path("list.h5");
    crash_after(path, 1);
    rc = pc_store_open(&st, path, &l, &im, &me, PC_STORE_CONTINUE, &err);
    CHECK(rc != 0 && strstr(err.msg, "the unfinished run in") && strstr(err.msg, "'sub/b.jpg' there, 'x.jpg' now"),
          "unfinished run, other list: %s", err.msg);
    // --table on the final name of a running output points at the .partial
    PcTable t;
    rc = pc_table_from_file(path, &t, &err);
    CHECK(rc != 0 && strstr(err.msg, "the run is not finished; its results so far are in") &&
              strstr(err.msg, "list.h5.partial"),
          "table of a running output: %s", err.msg);
    char partial[2 * PATH_MAX];
    snprintf(partial, sizeof partial, "%s.partial", path);
    rc = pc_table_from_file(partial, &t, &err);
    CHECK(rc == 0 && t.n_done == 1 && !t.complete, "table of the .partial: %s", rc ? err.msg : "");
    // a CSV that cannot be written: one error, no file left
    if (rc == 0) {
        const char *csv = "/proc/pc_no_such_dir.csv";
        CHECK(pc_table_write_csv(csv, &t, &err) != 0 && strstr(err.msg, "pc_no_such_dir.csv: cannot create"),
              "unwritable CSV: %s", err.msg);
        pc_table_free(&t);
    }
}

int main(void) {
    if (store_fixture_begin("test_store_failures")) return 1;
    // the reference file some refusals are checked against
    PcError err = {{0}};
    CHECK(run_store(tmp_path("ref/out.h5"), PC_STORE_CONTINUE, k_key, 0, N_IMAGES, 1, &err, NULL) == 0,
          "reference run: %s", err.msg);
    test_one_writer();
    test_early_lock();
    test_disk_full();
    test_disk_full_anywhere();
    test_csv_disk_full();
    test_overlay_disk_full();
    test_weights_changed();
    test_force_foreign();
    test_skipped_after_resume();
    test_refusals_and_tables();
    store_fixture_end();
    return test_summary();
}
