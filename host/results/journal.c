// journal.c: the crash journal, the writer lock and the checksums of journal.h.
#define _GNU_SOURCE
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define JOURNAL_MAGIC_V1 "PCJRNL01"
#define JOURNAL_MAGIC "PCJRNL02"
#define RECORD_MAGIC 0x5243524Au    // "JRCR"
#define FNV_PRIME 0x100000001b3ull

typedef struct {
    uint32_t magic;
    uint32_t index;
    uint64_t payload_bytes;
    uint64_t payload_hash;
} RecordHeader;

uint64_t pc_hash64(const void *data, size_t n, uint64_t h) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

int pc_hash_file(const char *path, uint64_t *out, PcError *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return pc_fail(err, "%s: cannot open (%s)", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    uint64_t *buf = xmalloc(CHUNK), lane[4] = {PC_HASH64_INIT, PC_HASH64_INIT ^ 1, PC_HASH64_INIT ^ 2,
                                                 PC_HASH64_INIT ^ 3};
    uint64_t total = 0;
    size_t got;
    while ((got = fread(buf, 1, CHUNK, f)) > 0) {
        size_t words = got / 8;
        for (size_t i = 0; i < words; i++) lane[i & 3] = (lane[i & 3] ^ buf[i]) * FNV_PRIME;   // little-endian hosts
        lane[0] = pc_hash64((const unsigned char *)buf + words * 8, got - words * 8, lane[0]);
        total += got;
        if (got < CHUNK) break;
    }
    int bad = ferror(f);
    fclose(f);
    free(buf);
    if (bad) return pc_fail(err, "%s: cannot read", path);
    uint64_t h = pc_hash64(lane, sizeof lane, PC_HASH64_INIT);
    *out = pc_hash64(&total, sizeof total, h);
    return 0;
}

void pc_journal_header_free(PcJournalHeader *h) {
    free(h->key);
    for (int i = 0; i < h->n_names; i++) free(h->names[i]);
    free(h->names);
    memset(h, 0, sizeof *h);
}

// ---- header -----------------------------------------------------------------------------------

// Writes a u64 length and the bytes, hashing both.
static int put_blob(FILE *f, const void *p, uint64_t n, uint64_t *h) {
    *h = pc_hash64(p, n, pc_hash64(&n, 8, *h));
    return fwrite(&n, 8, 1, f) == 1 && fwrite(p, 1, n, f) == n;
}

int pc_journal_create(PcJournal *j, const char *path, const PcJournalHeader *hd, PcError *err) {
    memset(j, 0, sizeof *j);
    j->path = strdup(path);
    j->f = fopen(path, "w+b");
    if (!j->f) return pc_fail(err, "%s: cannot create (%s)", path, strerror(errno));
    uint64_t h = PC_HASH64_INIT, n = (uint64_t)hd->n_names;
    int ok = fwrite(JOURNAL_MAGIC, 8, 1, j->f) == 1 && put_blob(j->f, hd->key, strlen(hd->key), &h) &&
             put_blob(j->f, hd->start_time, strlen(hd->start_time), &h);
    h = pc_hash64(&n, 8, h);
    ok = ok && fwrite(&n, 8, 1, j->f) == 1;
    for (int i = 0; ok && i < hd->n_names; i++) {
        size_t len = strlen(hd->names[i]) + 1;
        h = pc_hash64(hd->names[i], len, h);
        ok = fwrite(hd->names[i], 1, len, j->f) == len;
    }
    ok = ok && fwrite(&h, 8, 1, j->f) == 1 && fflush(j->f) == 0;
    if (!ok) return pc_fail(err, "%s: cannot write (%s)", path, strerror(errno));
    j->good_end = ftell(j->f);
    return 0;
}

// Reads a u64 length (at most max) and that many bytes into a malloc'd string.
static char *get_blob(FILE *f, uint64_t max, uint64_t *h) {
    uint64_t n;
    if (fread(&n, 8, 1, f) != 1 || n > max) return NULL;
    char *s = xmalloc(n + 1);
    if (fread(s, 1, n, f) != n) {
        free(s);
        return NULL;
    }
    s[n] = 0;
    *h = pc_hash64(s, n, pc_hash64(&n, 8, *h));
    return s;
}

// The names of a version 2 header (count, then '\0'-terminated strings).
static int get_names(FILE *f, PcJournalHeader *hd, uint64_t *h) {
    uint64_t n;
    if (fread(&n, 8, 1, f) != 1 || n > (1u << 26)) return -1;
    *h = pc_hash64(&n, 8, *h);
    hd->names = xcalloc((size_t)n, sizeof(char *));
    char buf[4096];
    for (uint64_t i = 0; i < n; i++) {
        size_t len = 0;
        int c;
        while ((c = fgetc(f)) != EOF && c != 0 && len < sizeof buf - 1) buf[len++] = (char)c;
        if (c != 0) return -1;
        buf[len] = 0;
        *h = pc_hash64(buf, len + 1, *h);
        hd->names[hd->n_names++] = strdup(buf);
    }
    return 0;
}

static int read_header(FILE *f, PcJournalHeader *hd) {
    char magic[8];
    uint64_t h = PC_HASH64_INIT, stored;
    if (fread(magic, 8, 1, f) != 1) return 0;
    int v2 = !memcmp(magic, JOURNAL_MAGIC, 8);
    if (!v2 && memcmp(magic, JOURNAL_MAGIC_V1, 8)) return 0;
    hd->key = get_blob(f, 1u << 24, &h);
    char *start = hd->key ? get_blob(f, sizeof hd->start_time - 1, &h) : NULL;
    if (!start) return 0;
    snprintf(hd->start_time, sizeof hd->start_time, "%s", start);
    free(start);
    if (!v2) {   // version 1: the key and start time were hashed apart and xor-ed
        uint64_t kl = strlen(hd->key), sl = strlen(hd->start_time);
        h = pc_hash64(hd->key, kl, PC_HASH64_INIT) ^ pc_hash64(hd->start_time, sl, PC_HASH64_INIT);
    } else if (get_names(f, hd, &h)) {
        return 0;
    }
    return fread(&stored, 8, 1, f) == 1 && stored == h;
}

static int journal_open(PcJournal *j, const char *path, const char *mode, PcJournalHeader *hd, PcError *err) {
    memset(j, 0, sizeof *j);
    memset(hd, 0, sizeof *hd);
    j->f = fopen(path, mode);
    if (!j->f) return pc_fail(err, "%s: cannot open (%s)", path, strerror(errno));
    j->path = strdup(path);
    if (!read_header(j->f, hd)) {
        pc_journal_header_free(hd);
        pc_journal_close(j);
        return 0;
    }
    j->good_end = ftell(j->f);
    return 1;
}

int pc_journal_open(PcJournal *j, const char *path, PcJournalHeader *hd, PcError *err) {
    return journal_open(j, path, "r+b", hd, err);
}

int pc_journal_open_read(PcJournal *j, const char *path, PcJournalHeader *hd, PcError *err) {
    return journal_open(j, path, "rb", hd, err);
}

// ---- records ----------------------------------------------------------------------------------

int pc_journal_append(PcJournal *j, int index, const void *payload, size_t bytes, PcError *err) {
    RecordHeader h = {RECORD_MAGIC, (uint32_t)index, bytes, pc_hash64(payload, bytes, PC_HASH64_INIT)};
    if (fwrite(&h, sizeof h, 1, j->f) != 1 || fwrite(payload, 1, bytes, j->f) != bytes || fflush(j->f) != 0) {
        int e = errno;
        // leave the journal ending at its last whole record, so this run's next append is readable
        clearerr(j->f);
        if (ftruncate(fileno(j->f), j->good_end) == 0) fseek(j->f, j->good_end, SEEK_SET);
        return pc_fail(err, "%s: cannot write (%s)", j->path, strerror(e));
    }
    j->good_end = ftell(j->f);
    return 0;
}

int pc_journal_next(PcJournal *j, int n_images, int *index, void *payload, size_t bytes) {
    RecordHeader h;
    if (fread(&h, sizeof h, 1, j->f) != 1) return 0;
    if (h.magic != RECORD_MAGIC || h.payload_bytes != bytes || h.index >= (uint32_t)n_images) return 0;
    if (fread(payload, 1, bytes, j->f) != bytes) return 0;
    if (pc_hash64(payload, bytes, PC_HASH64_INIT) != h.payload_hash) return 0;
    *index = (int)h.index;
    j->good_end = ftell(j->f);
    return 1;
}

int pc_journal_cut(PcJournal *j, long *dropped, PcError *err) {
    fseek(j->f, 0, SEEK_END);
    long end = ftell(j->f);
    *dropped = end > j->good_end ? end - j->good_end : 0;
    if (*dropped && ftruncate(fileno(j->f), j->good_end) != 0)
        return pc_fail(err, "%s: cannot cut the torn last record (%s)", j->path, strerror(errno));
    fseek(j->f, j->good_end, SEEK_SET);
    return 0;
}

void pc_journal_close(PcJournal *j) {
    if (j->f) fclose(j->f);   // nothing left to write: every record was flushed when appended
    free(j->path);
    memset(j, 0, sizeof *j);
}

int pc_journal_has_signature(const char *path) {
    struct stat s;
    if (lstat(path, &s) != 0 || !S_ISREG(s.st_mode)) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[8];
    int ok = fread(magic, 1, 8, f) == 8 && (!memcmp(magic, JOURNAL_MAGIC, 8) || !memcmp(magic, JOURNAL_MAGIC_V1, 8));
    fclose(f);
    return ok;
}

// ---- the writer lock --------------------------------------------------------------------------

int pc_lock_take(PcLock *l, const char *path, const char *output, PcError *err) {
    l->fd = -1;
    l->open_errno = 0;
    l->path = strdup(path);
    for (int attempt = 0; attempt < 5; attempt++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            l->open_errno = errno;
            return pc_fail(err, "%s: cannot create the lock file (%s)", path, strerror(errno));
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            char pid[32] = "";
            ssize_t n = read(fd, pid, sizeof pid - 1);
            pid[n > 0 ? n : 0] = 0;
            pid[strcspn(pid, "\n")] = 0;
            close(fd);
            if (e == EWOULDBLOCK)
                return pc_fail(err, "%s: another polycam-eval (pid %s) is writing this output; wait for it to finish "
                               "or set another [output] file", output, pid[0] ? pid : "unknown");
            return pc_fail(err, "%s: cannot lock (%s)", path, strerror(e));
        }
        // The holder before us may have removed the file after we opened it: lock the file that is
        // at the path now, or try again.
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
            char pid[32];
            int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || write(fd, pid, (size_t)n) != n) {
                // the lock itself is held; the pid is only for the message of a second run
            }
            l->fd = fd;
            return 0;
        }
        close(fd);
    }
    return pc_fail(err, "%s: cannot lock (the lock file keeps changing)", path);
}

// rmdir of the folder holding `inside`, then of its parents up to and including top (a prefix of
// inside), stopping at the first that is not empty.
static void remove_empty_folders(const char *inside, const char *top) {
    char *dir = strdup(inside);
    const size_t top_len = strlen(top);
    for (char *slash; (slash = strrchr(dir, '/')) != NULL && slash > dir;) {
        *slash = 0;
        if (strlen(dir) < top_len || strncmp(dir, top, top_len) || rmdir(dir) != 0) break;
        if (strlen(dir) == top_len) break;
    }
    free(dir);
}

void pc_lock_release(PcLock *l) {
    if (l->fd >= 0) {
        unlink(l->path);    // while still holding it: a waiting run then retries on a fresh file
        close(l->fd);
    }
    if (l->path && l->made_folder) remove_empty_folders(l->path, l->made_folder);
    free(l->path);
    free(l->made_folder);
    l->fd = -1;
    l->path = NULL;
    l->made_folder = NULL;
}
