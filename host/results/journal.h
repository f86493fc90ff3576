// journal.h: the crash journal of a run, the one-writer lock of an output, and the 64-bit checksum
// both the journal and the weights fingerprint use.
//
// <file>.journal: append-only, the truth while a run goes on (store.h says how it is used).
//   header : "PCJRNL02", u64 key length, key, u64 start-time length, start time,
//            u64 image count, the image names each ending in '\0', u64 checksum of all of that
//   records: u32 magic "JRCR", u32 image index, u64 payload bytes, u64 payload checksum, payload
// A record whose length or checksum does not match (a kill in the middle of a write) ends the
// journal; it and everything after it are cut off when the run resumes. Version 1 journals
// ("PCJRNL01", no image names) are still read.
//
// <file>.lock: held with flock(2) for the life of a run that writes <file> (its pid inside). The
// kernel releases it when the process dies, so a run killed with SIGKILL never blocks a resume.
#ifndef PC_JOURNAL_H
#define PC_JOURNAL_H

#include <stdint.h>
#include <stdio.h>

#include "common.h"

// FNV-1a, 64 bits: h = (h ^ byte) * 0x100000001b3 from h = PC_HASH64_INIT.
#define PC_HASH64_INIT 0xcbf29ce484222325ull
uint64_t pc_hash64(const void *data, size_t n, uint64_t h);

// Checksum of a whole file's content, for the weights fingerprint: FNV-1a over the file's 64-bit
// little-endian words in 4 interleaved lanes (so it runs at memory speed: ~0.3 s for VGG16's
// 528 MB), the tail bytes folded into lane 0, and the four lanes and the length hashed together.
// Not cryptographic: it tells a rewritten weights file from the old one, not an attack.
int pc_hash_file(const char *path, uint64_t *out, PcError *err);

typedef struct {
    char *key;              // the store's fingerprint
    char start_time[64];
    int n_names;            // image names of the run (0 / NULL in a version 1 journal)
    char **names;
} PcJournalHeader;

void pc_journal_header_free(PcJournalHeader *h);

typedef struct {
    char *path;
    FILE *f;
    long good_end;          // end of the last intact record read or written
} PcJournal;

// Creates (truncates) the journal and writes the header.
int pc_journal_create(PcJournal *j, const char *path, const PcJournalHeader *h, PcError *err);
// Opens an existing journal: 1 = valid, header returned, positioned at the first record; 0 = a
// torn header or not a journal (nothing open: start afresh); -1 = cannot open (err).
int pc_journal_open(PcJournal *j, const char *path, PcJournalHeader *h, PcError *err);
// pc_journal_open for reading only (a report of a running output, results_journal.h): the file is
// never written, so pc_journal_append and pc_journal_cut must not be called on it.
int pc_journal_open_read(PcJournal *j, const char *path, PcJournalHeader *h, PcError *err);
// Appends one record and flushes it to the operating system.
int pc_journal_append(PcJournal *j, int index, const void *payload, size_t bytes, PcError *err);
// The next intact record (index < n_images, exactly `bytes` of payload): 1, or 0 at the end.
int pc_journal_next(PcJournal *j, int n_images, int *index, void *payload, size_t bytes);
// Cuts everything after the last intact record; *dropped gets the bytes removed.
int pc_journal_cut(PcJournal *j, long *dropped, PcError *err);
void pc_journal_close(PcJournal *j);
// 1 when path is a regular file starting with a journal's magic.
int pc_journal_has_signature(const char *path);

typedef struct {
    int fd;                 // -1 = not held
    char *path;
    int open_errno;         // why the lock file could not be created (0 = it could)
    char *made_folder;      // the topmost folder made for the output by its taker (store.c), or NULL
} PcLock;

// Takes the writer lock of an output: refuses with one line naming the process that holds it.
int pc_lock_take(PcLock *l, const char *path, const char *output, PcError *err);
// Removes the lock file and releases the lock (no-op when not held); then the folders from the
// lock file's up to made_folder, those that are empty (a run that stopped before it wrote anything
// leaves no folder it made; one that wrote keeps its files and their folder).
void pc_lock_release(PcLock *l);

#endif
