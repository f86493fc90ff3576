// test_results_journal.c: --report and --table of a running or interrupted output count what a
// resume counts (results_journal.h, issue 25). A run killed after its .partial had 2 images, whose
// journal holds 2 more (appended as a run appends them before writing the .partial) and a torn
// record: the readers see 4 done images with the journal's values, the table's means include them,
// a resume replays the same 4, and nothing was written: the .partial, the journal and the lock
// file are byte for byte and time for time as they were, also while a writer holds the lock. A
// journal of another configuration is left out with one line; one older than the weights checksum,
// continued by a run that has one, counts.
#define _GNU_SOURCE
#include <math.h>
#include <sys/stat.h>

#include "h5util.h"
#include "journal.h"
#include "results_journal.h"
#include "store_fixture.h"
#include "table.h"

// Appends image i's record to the journal at path, as pc_store_write does before it writes the
// .partial (a run killed in between leaves exactly this).
static void append_record(const char *path, int i) {
    PcStoreLayout l = layout(PC_MAPS_F16);
    PcJournal j;
    PcJournalHeader h;
    PcError err;
    CHECK(pc_journal_open(&j, path, &h, &err) == 1, "journal %s opens", path);
    size_t bytes = pc_result_bytes(&l);
    unsigned char *rec = xmalloc(bytes);
    int index;
    while (pc_journal_next(&j, N_IMAGES, &index, rec, bytes)) {}
    long dropped = 0;
    CHECK(pc_journal_cut(&j, &dropped, &err) == 0 && dropped == 0, "journal positioned at its end");
    PcImageResult r;
    pc_result_init(&r, &l);
    fill_result(&r, &l, i);
    pc_result_pack(&l, &r, rec);
    CHECK(pc_journal_append(&j, i, rec, bytes, &err) == 0, "record of image %d appended", i);
    pc_result_free(&r);
    pc_journal_close(&j);
    pc_journal_header_free(&h);
    free(rec);
}

// Half a record at the end: a kill in the middle of the writer's append.
static void append_torn(const char *path) {
    FILE *f = fopen(path, "ab");
    unsigned char junk[200];
    memcpy(junk, "JRCR", 4);
    memset(junk + 4, 0, sizeof junk - 4);
    CHECK(f && fwrite(junk, 1, sizeof junk, f) == sizeof junk && fclose(f) == 0, "torn record appended");
}

typedef struct {
    off_t size;
    struct timespec mtime, ctime;
    uint64_t hash;
} FileState;

static FileState file_state(const char *path) {
    FileState s = {0};
    struct stat st;
    PcError e;
    if (stat(path, &st) == 0) s = (FileState){st.st_size, st.st_mtim, st.st_ctim, 0};
    if (pc_hash_file(path, &s.hash, &e)) s.hash = 0;
    return s;
}

static int same_state(FileState a, FileState b) {
    return a.size == b.size && a.hash == b.hash && a.mtime.tv_sec == b.mtime.tv_sec &&
           a.mtime.tv_nsec == b.mtime.tv_nsec && a.ctime.tv_sec == b.ctime.tv_sec && a.ctime.tv_nsec == b.ctime.tv_nsec;
}

// The values of the images added from the journal are the records' (maps at f16 precision).
static void check_added_values(PcResultFile *rf) {
    PcStoreLayout l = layout(PC_MAPS_F16);
    PcImageResult want, got;
    pc_result_init(&want, &l);
    pc_result_init(&got, &l);
    for (int m = 0; m < N_METHODS; m++) {
        double *ins = pc_results_auc(rf, m, 0), *del = pc_results_auc(rf, m, 1);
        float *sc = pc_results_scores(rf, m, 1, NULL);
        for (int i = 0; i < N_IMAGES; i++) {
            fill_result(&want, &l, i);
            CHECK(ins && del && (ins[i] == want.ins_auc[m] || (isnan(ins[i]) && isnan(want.ins_auc[m]))) &&
                      (del[i] == want.del_auc[m] || (isnan(del[i]) && isnan(want.del_auc[m]))),
                  "image %d method %d: AUCs %g %g, want %g %g", i, m, ins ? ins[i] : -1, del ? del[i] : -1,
                  want.ins_auc[m], want.del_auc[m]);
            int same = sc != NULL;
            for (int t = 0; same && t < STEPS; t++) {
                float a = sc[i * STEPS + t], b = want.del_scores[m * STEPS + t];
                same = a == b || (isnan(a) && isnan(b));
            }
            CHECK(same, "image %d method %d: deletion scores are the record's", i, m);
        }
        free(ins);
        free(del);
        free(sc);
    }
    fill_result(&want, &l, 3);
    float map[SIDE * SIDE];
    int same = pc_results_map(rf, 1, 3, map) == 0;
    for (int k = 0; same && k < SIDE * SIDE; k++) same = map[k] == pc_f16_to_f32(pc_f32_to_f16(want.maps[SIDE * SIDE + k]));
    CHECK(same, "image 3's map of method 1 is read back from the journal");
    PcError err;
    CHECK(pc_results_read(rf, 3, &got, &err) == 0 && got.cls == want.cls && got.score == want.score &&
              got.ins_auc[1] == want.ins_auc[1] && !strcmp(got.status, "ok"),
          "pc_results_read of image 3: the record's class %d, score %g", got.cls, got.score);
    pc_result_free(&want);
    pc_result_free(&got);
}

static void test_counts_the_journal(void) {
    const char *path = tmp_path("run.h5");
    char partial[PATH_MAX + 80], journal[PATH_MAX + 80], lock[PATH_MAX + 80];
    snprintf(partial, sizeof partial, "%s.partial", path);
    snprintf(journal, sizeof journal, "%s.journal", path);
    snprintf(lock, sizeof lock, "%s.lock", path);
    crash_after(path, 2);           // the .partial and the journal hold images 0 and 1
    append_record(journal, 2);      // 2 (a skipped image) and 3 reached the journal only
    append_record(journal, 3);
    append_torn(journal);           // and a record torn by the kill
    FileState p0 = file_state(partial), j0 = file_state(journal), k0 = file_state(lock);

    PcResultFile rf;
    PcError err;
    CHECK(pc_results_open(&rf, partial, &err) == 0, "the .partial opens: %s", err.msg);
    CHECK(rf.n_done == 2, "the .partial alone shows 2 done images (%d): the count this issue was about", rf.n_done);
    int added = -1;
    CHECK(pc_results_add_journal(&rf, &added, &err) == 0, "journal added: %s", err.msg);
    CHECK(added == 2 && rf.n_done == 4, "2 images added from the journal (%d), 4 done (%d)", added, rf.n_done);
    CHECK(rf.done[2] == 1 && rf.done[3] == 1 && !strcmp(rf.status[3], "ok") &&
              !strcmp(rf.status[2], "c.jpg: Not a JPEG file: starts with 0x89 0x50"),
          "their done flags and statuses are the records' ('%s')", rf.status[2]);
    check_added_values(&rf);
    pc_results_close(&rf);

    // the table: 4 done, 3 usable (image 2 was skipped), the means over images 0, 1 and 3
    PcTable t;
    CHECK(pc_table_from_file(partial, &t, &err) == 0, "table of the .partial: %s", err.msg);
    double want_ins = (0.5 + 0.5 + 0.01 + 0.5 + 0.03) / 3;   // fill_result: 0.5 + 0.01 i + 0.1 m, m = 0
    CHECK(t.n_done == 4 && t.n_ok == 3 && t.n_journal == 2 && t.n_rows == N_METHODS && t.rows[0].n == 3 &&
              fabs(t.rows[0].ins - want_ins) < 1e-12,
          "table: %d done, %d ok, %d from the journal, N %d, insertion %.6f (want 4, 3, 2, 3, %.6f)", t.n_done, t.n_ok,
          t.n_journal, t.n_rows ? t.rows[0].n : -1, t.n_rows ? t.rows[0].ins : NAN, want_ins);
    pc_table_free(&t);

    // read-only: nothing changed, also while a writer holds the lock (the reader never takes it)
    CHECK(same_state(p0, file_state(partial)) && same_state(j0, file_state(journal)) &&
              same_state(k0, file_state(lock)),
          "the .partial, the journal and the lock file are unchanged (content and times)");
    PcLock held = {.fd = -1};
    CHECK(pc_lock_take(&held, lock, path, &err) == 0, "a writer takes the lock: %s", err.msg);
    CHECK(pc_results_open(&rf, partial, &err) == 0 && pc_results_add_journal(&rf, &added, &err) == 0 && added == 2 &&
              rf.n_done == 4,
          "read while the writer holds the lock: 4 done");
    pc_results_close(&rf);
    PcLock second = {.fd = -1};
    CHECK(pc_lock_take(&second, lock, path, &err) != 0, "the writer still holds its lock afterwards");
    pc_lock_release(&second);
    pc_lock_release(&held);
    CHECK(same_state(p0, file_state(partial)) && same_state(j0, file_state(journal)),
          "the .partial and the journal are unchanged");

    // what a resume counts: the same 4 images (the torn record dropped)
    StoreInfo s;
    CHECK(run_store(path, PC_STORE_RESUME, k_key, 0, 0, 0, &err, &s) == 0 && s.n_replayed == 4 && s.n_done == 4 &&
              s.n_dropped_bytes == 200,
          "a resume replays the same 4 images (%d) and drops the torn record (%ld bytes)", s.n_replayed,
          s.n_dropped_bytes);
}

// A journal of another configuration beside the .partial: left out, with one line naming it.
static void test_other_run_left_out(void) {
    char path[PATH_MAX + 80], other[PATH_MAX + 80];   // (tmp_path's buffer is static)
    snprintf(path, sizeof path, "%s", tmp_path("other.h5"));
    snprintf(other, sizeof other, "%s", tmp_path("other_cfg.h5"));
    char partial[PATH_MAX + 96], journal[PATH_MAX + 96], other_journal[PATH_MAX + 96];
    snprintf(partial, sizeof partial, "%s.partial", path);
    snprintf(journal, sizeof journal, "%s.journal", path);
    crash_after(path, 1);
    snprintf(other_journal, sizeof other_journal, "%s.journal", other);
    PcError err;
    CHECK(run_store(other, PC_STORE_CONTINUE, "[metrics]\nsteps = 5\nbaseline = grey\n", 0, 3, 0, &err, NULL) == 0,
          "a run of another configuration: %s", err.msg);
    CHECK(rename(other_journal, journal) == 0, "its journal put beside the first .partial");
    PcResultFile rf;
    int added = -1;
    CHECK(pc_results_open(&rf, partial, &err) == 0, "the .partial opens");
    int rc = pc_results_add_journal(&rf, &added, &err);
    CHECK(rc == -1 && added == 0 && rf.n_done == 1 && strstr(err.msg, journal) && strstr(err.msg, "left out") &&
              !strchr(err.msg, '\n'),
          "left out in one line naming it (rc %d, %d done): %s", rc, rf.n_done, err.msg);
    pc_results_close(&rf);
    // a finished file reads no journal
    CHECK(run_store(tmp_path("done.h5"), PC_STORE_CONTINUE, k_key, 0, N_IMAGES, 1, &err, NULL) == 0, "finished run");
    CHECK(pc_results_open(&rf, tmp_path("done.h5"), &err) == 0 && pc_results_add_journal(&rf, &added, &err) == 0 &&
              added == 0 && rf.n_done == N_IMAGES,
          "a finished file: nothing added");
    pc_results_close(&rf);
}

// A journal older than the weights checksum, resumed by a run that has one: the .partial the resume
// rebuilt carries the newer key, and the journal still counts (as the resume continued it).
static void test_older_journal_key(void) {
    char path[PATH_MAX + 80], partial[PATH_MAX + 96], journal[PATH_MAX + 96];
    snprintf(path, sizeof path, "%s", tmp_path("older.h5"));
    snprintf(partial, sizeof partial, "%s.partial", path);
    snprintf(journal, sizeof journal, "%s.journal", path);
    crash_after(path, 1);   // fixture meta: no weights checksum in the key
    PcStoreLayout l = layout(PC_MAPS_F16);
    PcStoreImages im = images();
    PcStoreMeta me = meta(k_key);
    me.weights_checksum = "0123456789abcdef";
    PcStore *st = NULL;
    PcError err;
    CHECK(pc_store_open(&st, path, &l, &im, &me, PC_STORE_CONTINUE, &err) == 0 && pc_store_n_replayed(st) == 1,
          "a run with a weights checksum resumes the older journal: %s", st ? "" : err.msg);
    pc_store_close(st);
    append_record(journal, 2);
    PcResultFile rf;
    int added = -1;
    CHECK(pc_results_open(&rf, partial, &err) == 0 && strstr(rf.config_key, "weights_checksum = 0123456789abcdef"),
          "the rebuilt .partial has the newer key");
    int rc = pc_results_add_journal(&rf, &added, &err);
    CHECK(rc == 0 && added == 1 && rf.n_done == 2, "the older journal counts: rc %d, %d added, %d done (%s)", rc, added,
          rf.n_done, rc ? err.msg : "");
    pc_results_close(&rf);
}

int main(void) {
    if (store_fixture_begin("results_journal")) return 1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    test_counts_the_journal();
    test_other_run_left_out();
    test_older_journal_key();
    store_fixture_end();
    return test_summary();
}
