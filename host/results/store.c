// store.c: opening, resuming, writing and finishing a run's output (rules in store.h). The HDF5
// layout is layout.c's, the journal and the writer lock journal.c's; this file decides which
// files to trust, refuses what does not match (naming the key or list entry that differs), and
// removes only files polycam-eval itself wrote.
#define _GNU_SOURCE
#include "store.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "h5util.h"
#include "safe_text.h"
#include "journal.h"

struct PcStore {
    char *path, *partial_path, *journal_path, *lock_path;
    PcStoreLayout layout;   // own copy of the method ids
    char **names;           // (n_images) as stored (valid UTF-8)
    char *key;              // fingerprint
    PcLock lock;
    PcJournal journal;
    PcLayoutWriter *w;
    unsigned char *record;  // (pc_result_bytes) journal payload buffer
    unsigned char *done;    // (n_images) 1 = results stored
    char **status;          // (n_images) status of the done images
    int n_done, complete, n_replayed;
    long dropped;
};

// ---- fingerprint ------------------------------------------------------------------------------

#define WEIGHTS_LINE "weights_checksum = "

// config_key plus what the store itself depends on (image count and names, map and curve shape,
// method ids) and the weights' content.
static char *build_key(const char *config_key, const PcStoreLayout *l, char *const *names, const char *weights) {
    // each name's own FNV-1a (with its '\0') folded in FNV style, as files since 0.1.0 have it
    uint64_t h = PC_HASH64_INIT;
    for (int i = 0; i < l->n_images; i++) h = (h ^ pc_hash64(names[i], strlen(names[i]) + 1, PC_HASH64_INIT)) * 0x100000001b3ull;
    size_t cap = strlen(config_key) + 512 + (size_t)l->n_methods * (PC_METHOD_ID_LEN + 1);
    char *k = xmalloc(cap);
    size_t n = (size_t)snprintf(k, cap, "%s\n[store]\nimages = %d\nnames_hash = %016llx\nmap_side = %d\nsteps = %d\n"
                                "methods = ", config_key, l->n_images, (unsigned long long)h, l->size, l->steps);
    for (int i = 0; i < l->n_methods; i++) n += (size_t)snprintf(k + n, cap - n, "%s%s", i ? "," : "", l->method_ids[i]);
    n += (size_t)snprintf(k + n, cap - n, "\n");
    if (weights && weights[0]) snprintf(k + n, cap - n, WEIGHTS_LINE "%s\n", weights);
    return k;
}

char *pc_store_key_config_part(const char *fingerprint) {
    char *key = strdup(fingerprint);
    char *store_part = strstr(key, "\n[store]\n");   // build_key's "%s\n[store]\n"
    if (store_part) *store_part = 0;
    return key;
}

// Equal fingerprints; a file written before the weights checksum existed matches on the rest.
static int keys_match(const char *old_key, const char *new_key) {
    if (!strcmp(old_key, new_key)) return 1;
    const char *w = strstr(new_key, "\n" WEIGHTS_LINE);
    if (!w || strstr(old_key, "\n" WEIGHTS_LINE)) return 0;
    size_t head = (size_t)(w - new_key) + 1;
    const char *end = strchr(w + 1, '\n');
    return !strncmp(old_key, new_key, head) && !strcmp(old_key + head, end ? end + 1 : "");
}

int pc_store_keys_match(const char *old_key, const char *new_key) { return keys_match(old_key, new_key); }

// The first line that differs between two fingerprints, with its section.
static void first_difference(const char *a, const char *b, char *sec, size_t sec_n, const char **la_out,
                             size_t *la_n, const char **lb_out, size_t *lb_n) {
    char sec_a[64] = "", sec_b[64] = "";
    *la_out = *lb_out = NULL;
    while (*a || *b) {
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
        if (la && a[0] == '[') snprintf(sec_a, sizeof sec_a, "%.*s", (int)la, a);
        if (lb && b[0] == '[') snprintf(sec_b, sizeof sec_b, "%.*s", (int)lb, b);
        if (la != lb || memcmp(a, b, la) || strcmp(sec_a, sec_b)) {
            snprintf(sec, sec_n, "%s", sec_b);
            *la_out = a, *la_n = la, *lb_out = b, *lb_n = lb;
            return;
        }
        a = ea ? ea + 1 : a + la;
        b = eb ? eb + 1 : b + lb;
    }
}

void pc_store_key_difference(const char *a, const char *b, char *out, size_t n) {
    char sec[64];
    const char *la, *lb;
    size_t na = 0, nb = 0;
    first_difference(a, b, sec, sizeof sec, &la, &na, &lb, &nb);
    if (!lb) snprintf(out, n, "(no difference)");
    else snprintf(out, n, "%s '%.*s' there, %s '%.*s' now", sec, (int)(na > 200 ? 200 : na), la, sec,
                  (int)(nb > 200 ? 200 : nb), lb);
}

// What differs in the image list: the first entry that differs, or the counts.
static int list_difference(char *out, size_t n, char *const *old, int n_old, char *const *now, int n_now) {
    for (int i = 0; i < n_old && i < n_now; i++) {
        if (strcmp(old[i], now[i])) {
            snprintf(out, n, ": image %d of the run is '%.200s' there, '%.200s' now", i, old[i], now[i]);
            return 1;
        }
    }
    if (n_old == n_now) return 0;
    snprintf(out, n, ": the run has %d images there, %d now", n_old, n_now);
    return 1;
}

// "<what> was made with a different configuration: [metrics] 'steps = 224' there, [metrics]
// 'steps = 16' now; ..." naming the key, the list entry or the weights that differ.
static int refuse(const PcStore *st, PcError *err, const char *what, const char *old_key, char *const *old_names,
                  int n_old) {
    char detail[700] = "", sec[64];
    const char *a, *b;
    size_t la = 0, lb = 0;
    first_difference(old_key, st->key, sec, sizeof sec, &a, &la, &b, &lb);
    int is_list = b && (!strncmp(b, "images = ", 9) || !strncmp(b, "names_hash = ", 13));
    if (b && !strncmp(b, WEIGHTS_LINE, strlen(WEIGHTS_LINE))) {
        return pc_fail(err, "%s was made with other weights: [model] weights: the file's content changed (checksum "
                       "%.*s there, %.*s now); use --force to start over or set another [output] file", what,
                       (int)(la > 19 ? la - 19 : 0), a + (la > 19 ? 19 : la), (int)(lb - 19), b + 19);
    }
    if (is_list && old_names && list_difference(detail, sizeof detail, old_names, n_old, st->names, st->layout.n_images))
        return pc_fail(err, "%s was made with a different image list%s ([data] list, offset, limit, [run] shard); use "
                       "--force to start over or set another [output] file", what, detail);
    if (b)
        snprintf(detail, sizeof detail, ": %s '%.*s' there, %s '%.*s' now", sec, (int)(la > 200 ? 200 : la), a, sec,
                 (int)(lb > 200 ? 200 : lb), b);
    return pc_fail(err, "%s was made with a different configuration%s; use --force to start over or set another "
                   "[output] file", what, detail);
}

// ---- files ------------------------------------------------------------------------------------

static char *suffixed(const char *path, const char *suffix) {
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *s = xmalloc(n);
    snprintf(s, n, "%s%s", path, suffix);
    return s;
}

static int exists(const char *p) {
    struct stat s;
    return lstat(p, &s) == 0;
}

static int is_regular(const char *p) {
    struct stat s;
    return lstat(p, &s) == 0 && S_ISREG(s.st_mode);
}

// Creates the missing folders of path's folder; *made (when not NULL) gets the topmost folder it
// created (malloc'd), for the lock's release to remove when nothing was written (journal.h).
static int make_parent_dirs(const char *path, char **made, PcError *err) {
    char *dir = strdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        free(dir);
        return 0;
    }
    *slash = 0;
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != 0) continue;
        char c = *p;
        *p = 0;
        int made_now = mkdir(dir, 0777) == 0;
        if (!made_now && errno != EEXIST) {
            int rc = pc_fail(err, "%s: cannot create folder %s (%s)", path, dir, strerror(errno));
            free(dir);
            return rc;
        }
        if (made_now && made && !*made) *made = strdup(dir);
        *p = c;
        if (!c) break;
    }
    free(dir);
    return 0;
}

// A finished result file polycam-eval wrote: a regular HDF5 file with a config_key attribute.
static int is_our_result(const char *p) {
    if (!pc_h5_has_signature(p)) return 0;
    hid_t f = pc_h5_open_read(p);
    if (f < 0) return 0;
    int ours = H5Aexists(f, "config_key") > 0;
    H5Fclose(f);
    return ours;
}

// --force: removes the output, .partial and journal, but only files polycam-eval wrote (a result
// file, a regular .partial, a journal); anything else at those paths is refused untouched. (A
// stale .update is removed by the caller when it is a copy polycam-eval made, h5util.h.)
static int remove_previous(const PcStore *st, PcError *err) {
    char *sanity = suffixed(st->path, ".sanity.journal");   // an interrupted sanity check's steps (sanity.c)
    struct {
        const char *path;
        int ours;
    } f[4] = {{st->path, is_our_result(st->path)}, {st->partial_path, is_regular(st->partial_path)},
              {st->journal_path, pc_journal_has_signature(st->journal_path) || is_regular(st->journal_path)},
              {sanity, pc_journal_has_signature(sanity)}};
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++)
        if (exists(f[i].path) && !f[i].ours)
            rc = pc_fail(err, "%s: not a file polycam-eval wrote; --force removes only its own result files "
                         "(remove it yourself or set another [output] file)", f[i].path);
    PcError e;
    if (rc == 0 && pc_h5_update_remove_stale(st->path, &e) < 0)
        rc = pc_fail(err, "%s; --force removes only its own files", e.msg);
    for (int i = 0; i < 4 && rc == 0; i++)
        if (exists(f[i].path) && unlink(f[i].path) != 0)
            rc = pc_fail(err, "%s: cannot remove (%s)", f[i].path, strerror(errno));
    free(sanity);
    return rc;
}

// ---- opening ----------------------------------------------------------------------------------

static PcStore *store_new(const char *path, const PcStoreLayout *layout, const PcStoreImages *im,
                          const PcStoreMeta *meta) {
    PcStore *st = xcalloc(1, sizeof *st);
    st->path = strdup(path);
    st->partial_path = suffixed(path, ".partial");
    st->journal_path = suffixed(path, ".journal");
    st->lock_path = suffixed(path, ".lock");
    st->lock.fd = -1;
    st->layout = *layout;
    size_t m = (size_t)(layout->n_methods > 0 ? layout->n_methods : 1), n = (size_t)(layout->n_images > 0 ? layout->n_images : 1);
    st->layout.method_ids = xmalloc(m * sizeof *st->layout.method_ids);
    memcpy(st->layout.method_ids, layout->method_ids, (size_t)layout->n_methods * sizeof *st->layout.method_ids);
    st->names = xcalloc(n, sizeof(char *));
    for (int i = 0; i < layout->n_images; i++) st->names[i] = pc_utf8_clean(im->names[i]);
    st->done = xcalloc(n, 1);
    st->status = xcalloc(n, sizeof(char *));
    st->key = build_key(meta->config_key ? meta->config_key : "", &st->layout, st->names, meta->weights_checksum);
    return st;
}

// The output exists: the same configuration finished = nothing to do; anything else is refused.
static int open_finished(PcStore *st, PcError *err) {
    if (!pc_h5_has_signature(st->path))
        return pc_fail(err, "%s exists and is not a polycam-eval result file; remove it yourself or set another "
                       "[output] file", st->path);
    PcResultFile rf;
    PcError e;
    if (pc_results_open(&rf, st->path, &e)) {
        pc_results_close(&rf);
        return pc_fail(err, "%s exists and is not a readable polycam-eval result file (%s); use --force to overwrite "
                       "it or set another [output] file", st->path, e.msg);
    }
    int rc = 0;
    if (!keys_match(rf.config_key, st->key)) rc = refuse(st, err, st->path, rf.config_key, rf.names, rf.n);
    else if (!rf.complete) rc = pc_fail(err, "%s exists but is not complete; use --force to start over", st->path);
    pc_results_close(&rf);
    if (rc) return rc;
    st->complete = 1;
    st->n_done = st->layout.n_images;
    memset(st->done, 1, (size_t)st->layout.n_images);
    // a journal left by a crash between the final rename and its removal
    if (pc_journal_has_signature(st->journal_path)) unlink(st->journal_path);
    return 0;
}

static void mark_done(PcStore *st, const PcImageResult *r) {
    if (!st->done[r->index]) {
        st->done[r->index] = 1;
        st->n_done++;
    }
    free(st->status[r->index]);
    st->status[r->index] = strdup(r->status);
}

// Replays every intact record of the journal into the fresh .partial and cuts a torn tail off.
static int replay_journal(PcStore *st, PcError *err) {
    const PcStoreLayout *l = &st->layout;
    size_t bytes = pc_result_bytes(l);
    PcImageResult r;
    pc_result_init(&r, l);
    int index, rc = 0;
    while (rc == 0 && pc_journal_next(&st->journal, l->n_images, &index, st->record, bytes)) {
        pc_result_reset(&r, l, index);
        pc_result_unpack(l, st->record, &r);
        mark_done(st, &r);
        rc = pc_layout_write(st->w, &r, st->n_done, err);
        st->n_replayed += rc == 0;
    }
    pc_result_free(&r);
    if (rc || pc_journal_cut(&st->journal, &st->dropped, err)) return -1;
    return pc_layout_flush(st->w, err);
}

static PcStoreImages stored_images(const PcStore *st, const PcStoreImages *im) {
    PcStoreImages s = *im;
    s.names = st->names;
    return s;
}

// A journal is there: continue its run (same fingerprint) or refuse. Returns 1 when the journal
// was torn before its first record (the caller starts afresh).
static int resume(PcStore *st, const PcStoreImages *im, const PcStoreMeta *meta, PcError *err) {
    PcJournalHeader h;
    int valid = pc_journal_open(&st->journal, st->journal_path, &h, err);
    if (valid <= 0) return valid < 0 ? -1 : 1;
    int rc = 0;
    if (!keys_match(h.key, st->key)) {
        char what[1200];
        snprintf(what, sizeof what, "the unfinished run in %s", st->journal_path);
        rc = refuse(st, err, what, h.key, h.names, h.n_names);
    }
    PcStoreImages s = stored_images(st, im);
    if (!rc) st->w = pc_layout_create(st->partial_path, &st->layout, &s, meta, st->key, h.start_time, err);
    pc_journal_header_free(&h);
    if (rc || !st->w) return -1;
    return replay_journal(st, err);
}

static int start_fresh(PcStore *st, const PcStoreImages *im, const PcStoreMeta *meta, PcError *err) {
    PcJournalHeader h = {.key = st->key, .n_names = st->layout.n_images, .names = st->names};
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(h.start_time, sizeof h.start_time, "%Y-%m-%dT%H:%M:%SZ", &tm);
    PcStoreImages s = stored_images(st, im);
    if (pc_journal_create(&st->journal, st->journal_path, &h, err) == 0 &&
        (st->w = pc_layout_create(st->partial_path, &st->layout, &s, meta, st->key, h.start_time, err)) != NULL)
        return 0;
    // a fresh journal holds no results yet: leave no half-made output behind
    pc_journal_close(&st->journal);
    unlink(st->journal_path);
    unlink(st->partial_path);
    return -1;
}

// held: the writer lock taken by pc_store_lock (taken over), or NULL / not held: taken here.
static int store_open(PcStore *st, PcLock *held, const PcStoreImages *im, const PcStoreMeta *meta, PcStoreMode mode,
                      PcError *err) {
    const int have_lock = held && held->fd >= 0;
    if (have_lock) {
        st->lock = *held;   // the store releases it from now on
        *held = (PcLock){.fd = -1};
    }
    if (st->layout.n_images < 1) return pc_fail(err, "%s: no images to store", st->path);
    if (exists(st->path) && !is_regular(st->path))
        return pc_fail(err, "%s: not a regular file; set another [output] file", st->path);
    if (make_parent_dirs(st->path, have_lock ? NULL : &st->lock.made_folder, err)) return -1;
    if (!have_lock && pc_lock_take(&st->lock, st->lock_path, st->path, err)) {
        // a finished output in a folder this user cannot write to: reading it needs no lock
        int read_only = st->lock.open_errno == EACCES || st->lock.open_errno == EROFS;
        return read_only && mode != PC_STORE_FORCE && exists(st->path) ? open_finished(st, err) : -1;
    }
    if (mode == PC_STORE_FORCE && remove_previous(st, err)) return -1;
    // <file>.update: a copy left by a run killed while it added /sanity (h5util.h); <file> is whole
    if (pc_h5_update_remove_stale(st->path, err) == 1)
        fprintf(stderr, "%s.update: removed (a copy left by a run stopped while it changed %s, which stays as it was)\n",
                st->path, st->path);
    if (exists(st->path)) return open_finished(st, err);
    st->record = xmalloc(pc_result_bytes(&st->layout));
    if (exists(st->journal_path)) {
        int rc = resume(st, im, meta, err);
        if (rc <= 0) return rc;
        // torn header: the previous run died before its first image; start afresh
    }
    return start_fresh(st, im, meta, err);
}

int pc_store_lock(PcLock *lock, const char *path, PcError *err) {
    *lock = (PcLock){.fd = -1};
    if (make_parent_dirs(path, &lock->made_folder, err)) return -1;
    char *lock_path = suffixed(path, ".lock");
    int rc = pc_lock_take(lock, lock_path, path, err);
    free(lock_path);
    // a folder this user cannot write to: no lock file, and pc_store_open decides (a finished
    // output there is read without one)
    if (rc && (lock->open_errno == EACCES || lock->open_errno == EROFS)) rc = 0;
    if (rc || lock->fd < 0) pc_lock_release(lock);
    return rc;
}

int pc_store_open_held(PcStore **out, PcLock *held, const char *path, const PcStoreLayout *layout,
                       const PcStoreImages *images, const PcStoreMeta *meta, PcStoreMode mode, PcError *err) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);   // failures are reported through PcError
    PcStore *st = store_new(path, layout, images, meta);
    if (store_open(st, held, images, meta, mode, err)) {
        pc_store_close(st);
        *out = NULL;
        return -1;
    }
    *out = st;
    return 0;
}

int pc_store_open(PcStore **out, const char *path, const PcStoreLayout *layout, const PcStoreImages *images,
                  const PcStoreMeta *meta, PcStoreMode mode, PcError *err) {
    return pc_store_open_held(out, NULL, path, layout, images, meta, mode, err);
}

// ---- writing ----------------------------------------------------------------------------------

int pc_store_write(PcStore *st, const PcImageResult *r, PcError *err) {
    if (!st->w) return pc_fail(err, "%s: not open for writing", st->path);
    if (r->index < 0 || r->index >= st->layout.n_images)
        return pc_fail(err, "%s: image index %d out of range", st->path, r->index);
    pc_result_pack(&st->layout, r, st->record);
    if (pc_journal_append(&st->journal, r->index, st->record, pc_result_bytes(&st->layout), err)) return -1;
    mark_done(st, r);
    if (pc_layout_write(st->w, r, st->n_done, err)) return -1;
    return pc_layout_flush(st->w, err);
}

int pc_store_finish(PcStore *st, PcError *err) {
    if (st->complete) return 0;
    if (st->n_done != st->layout.n_images)
        return pc_fail(err, "%s: %d of %d images done; cannot finish", st->path, st->n_done, st->layout.n_images);
    // The journal is deleted below: the file must be complete on disk first. A failed flush or
    // close (disk full) keeps .partial and journal, so a rerun rebuilds the file from the journal.
    // Before the journal goes, the file's data and then its new name must be on the disk too (a
    // power cut must not leave the journal gone and the output empty); a failure here keeps the
    // journal, and a rerun finds the output complete or rebuilds it.
    PcLayoutWriter *w = st->w;
    st->w = NULL;
    if (pc_layout_finish(w, err)) return -1;
    if (pc_fsync_path(st->partial_path) != 0)
        return pc_fail(err, "%s: cannot flush to the disk (%s)", st->partial_path, strerror(errno));
    if (rename(st->partial_path, st->path) != 0)
        return pc_fail(err, "%s: cannot rename to %s (%s)", st->partial_path, st->path, strerror(errno));
    if (pc_fsync_parent(st->path) != 0)
        return pc_fail(err, "%s: written, but its folder cannot be flushed to the disk (%s)", st->path,
                       strerror(errno));
    pc_journal_close(&st->journal);
    unlink(st->journal_path);
    st->complete = 1;
    return 0;
}

void pc_store_close(PcStore *st) {
    if (!st) return;
    pc_layout_close(st->w);
    pc_journal_close(&st->journal);
    pc_lock_release(&st->lock);
    for (int i = 0; i < st->layout.n_images; i++) {
        free(st->names[i]);
        free(st->status[i]);
    }
    char *p[] = {st->path, st->partial_path, st->journal_path, st->lock_path, st->key, (char *)st->record,
                 (char *)st->done, (char *)st->names, (char *)st->status, (char *)st->layout.method_ids};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
    free(st);
}

// ---- accessors --------------------------------------------------------------------------------

int pc_store_complete(const PcStore *st) { return st->complete; }
int pc_store_n_done(const PcStore *st) { return st->n_done; }
int pc_store_is_done(const PcStore *st, int i) { return i >= 0 && i < st->layout.n_images && st->done[i]; }
const char *pc_store_status(const PcStore *st, int i) { return pc_store_is_done(st, i) ? st->status[i] : NULL; }
int pc_store_n_replayed(const PcStore *st) { return st->n_replayed; }
long pc_store_dropped_bytes(const PcStore *st) { return st->dropped; }
const char *pc_store_journal_path(const PcStore *st) { return st->journal_path; }
const PcStoreLayout *pc_store_layout(const PcStore *st) { return &st->layout; }
