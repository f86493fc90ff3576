// store.h: the HDF5 result file of a run, written image by image so a killed run can be resumed.
//
// Crash safety: while a run is going the results live in two files beside the output:
//   <file>.journal  append-only binary journal, one checksummed record per finished image (the
//                   truth; format in journal.h)
//   <file>.partial  the HDF5 file being filled (flushed after every image, done flag written last;
//                   layout in layout.h)
// and <file>.lock, held by the one process writing the output (a second run on the same output
// is refused, naming the first one's pid). An HDF5 1.10 file killed in the middle of a write can
// be left unreadable or silently inconsistent, so a resumed run never trusts the old .partial: it
// rebuilds it from the journal (dropping a torn last record) and continues with the images the
// journal lacks. When every image is done the .partial is closed, renamed to <file> and the
// journal removed.
//
// The fingerprint (config_key attribute, journal header) is the configuration's result keys plus
// the image count and a hash of their names, map side, steps, method ids and a checksum of the
// weights file's content: a run continues a file only when all of these are equal.
#ifndef PC_STORE_H
#define PC_STORE_H

#include "journal.h"    // PcLock
#include "layout.h"

typedef enum {
    PC_STORE_CONTINUE = 0,  // default: continue a run of the same config, refuse a different one
    PC_STORE_RESUME,        // --resume: the same (named for scripts that want to say it)
    PC_STORE_FORCE,         // --force: delete the previous output (files polycam-eval wrote) first
} PcStoreMode;

typedef struct PcStore PcStore;

// Opens the output for a run (see the header comment) into *out. On a config mismatch returns -1
// with a message naming the first differing key or list entry (*out NULL, nothing left behind).
// Creates the output folder when missing. With pc_store_complete(*out), the caller has nothing to
// compute. Close with pc_store_close.
int pc_store_open(PcStore **out, const char *path, const PcStoreLayout *layout, const PcStoreImages *images,
                  const PcStoreMeta *meta, PcStoreMode mode, PcError *err);
// The output's writer lock taken ahead of the opening, by a run that spends minutes before it opens
// its output (the 8-bit calibration and accuracy guard), so that a second run on the same output is
// refused at once, as pc_store_open refuses it, and the output cannot change under the first one
// meanwhile. Creates the output's folder, as pc_store_open does. 0 with *lock held, or not held
// (fd -1) in a folder this user cannot write to (pc_store_open then decides); -1 with err naming
// the process that holds it. Hand it to pc_store_open_held, or release it (pc_lock_release).
int pc_store_lock(PcLock *lock, const char *path, PcError *err);
// pc_store_open with the lock of pc_store_lock (taken over: released by pc_store_close, also when
// the opening fails; *held is left not held). A held that is not held: pc_store_open.
int pc_store_open_held(PcStore **out, PcLock *held, const char *path, const PcStoreLayout *layout,
                       const PcStoreImages *images, const PcStoreMeta *meta, PcStoreMode mode, PcError *err);
// Appends r to the journal, writes it into the HDF5 file and marks the image done (last), then
// flushes both.
int pc_store_write(PcStore *st, const PcImageResult *r, PcError *err);
// Every image done: writes end_time and complete, closes, renames <file>.partial to <file> and
// removes the journal.
int pc_store_finish(PcStore *st, PcError *err);
// Releases handles, the lock and memory (the files stay as they are; a later run resumes them).
void pc_store_close(PcStore *st);

// The configuration part of a fingerprint (a file's config_key attribute): the result keys without
// the store's own part. malloc'd.
char *pc_store_key_config_part(const char *fingerprint);

// 1 when a run of fingerprint new_key continues one of old_key: equal, or old_key from a file
// written before the weights checksum was part of it and equal on the rest.
int pc_store_keys_match(const char *old_key, const char *new_key);

// "[metrics] 'steps = 8' there, [metrics] 'steps = 4' now": the first line of fingerprint b that
// differs from a, with its section.
void pc_store_key_difference(const char *a, const char *b, char *out, size_t n);

int pc_store_complete(const PcStore *st);           // the finished output already exists
int pc_store_n_done(const PcStore *st);
int pc_store_is_done(const PcStore *st, int index);
// The stored status ("ok" or why the image was skipped) of a done image of this run or of the run
// it resumed; NULL when not done (or the output was already complete).
const char *pc_store_status(const PcStore *st, int index);
int pc_store_n_replayed(const PcStore *st);         // records recovered from the journal on open
long pc_store_dropped_bytes(const PcStore *st);     // torn tail removed from the journal
const char *pc_store_journal_path(const PcStore *st);
const PcStoreLayout *pc_store_layout(const PcStore *st);

#endif
