// common.c: error formatting, checked allocation, timing and small file helpers.
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

int pc_fail(PcError *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void pc_die(const char *what, const char *stmt, const char *file, int line, const char *detail) {
    fprintf(stderr, "[%s error] %s at %s:%d (%s)\n", what, stmt, file, line, detail ? detail : "");
    exit(1);
}

void *pc_xmalloc(size_t bytes, const char *file, int line) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) pc_die("alloc", "malloc", file, line, strerror(errno));
    return p;
}

void *pc_xcalloc(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) pc_die("alloc", "calloc", file, line, strerror(errno));
    return p;
}

double pc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// What a path that is not a regular file is, for the one-line refusal.
static const char *file_kind(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a plain file";
}

unsigned char *pc_read_file(const char *path, size_t *size, PcError *err) {
    // O_NONBLOCK: opening a FIFO without a writer must not wait; fstat then refuses it before any
    // read. Only regular files are read, so the size from fstat is the byte count (a directory's
    // or a device's st_size means nothing).
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        pc_fail(err, "%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        pc_fail(err, "%s: cannot stat (%s)", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(sb.st_mode)) {
        pc_fail(err, "%s: not a regular file (%s)", path, file_kind(sb.st_mode));
        close(fd);
        return NULL;
    }
    size_t n = (size_t)sb.st_size, got = 0;
    unsigned char *buf = malloc(n + 1);
    if (!buf) {
        pc_fail(err, "%s: cannot read (%zu bytes: out of memory)", path, n);
        close(fd);
        return NULL;
    }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r < 0) pc_fail(err, "%s: cannot read (%s)", path, strerror(errno));
            else pc_fail(err, "%s: short read (%zu of %zu bytes)", path, got, n);
            free(buf);
            close(fd);
            return NULL;
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *size = n;
    return buf;
}

char *pc_join_path(const char *dir, const char *rel) {
    if (!rel) return NULL;
    if (rel[0] == '/' || !dir || !dir[0]) return strdup(rel);
    size_t a = strlen(dir), b = strlen(rel);
    char *out = xmalloc(a + b + 2);
    memcpy(out, dir, a);
    out[a] = '/';
    memcpy(out + a + 1, rel, b + 1);
    return out;
}

// fsync of fd, where the file system can: one that cannot flush this kind of file (EINVAL,
// ENOTSUP) counts as done. 0, or -1 with errno set.
static int sync_fd(int fd) {
    return fsync(fd) == 0 || errno == EINVAL || errno == ENOTSUP ? 0 : -1;
}

// sync_fd of the file or folder at path, opened read-only.
static int sync_path(const char *path, int flags) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
    if (fd < 0) return -1;
    int rc = sync_fd(fd), e = errno;
    close(fd);
    errno = e;
    return rc;
}

int pc_fsync_path(const char *path) { return sync_path(path, 0); }

int pc_fsync_parent(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash == path ? strdup("/") : slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    int rc = sync_path(dir, O_DIRECTORY), e = errno;
    free(dir);
    errno = e;
    return rc;
}

int pc_commit_file(FILE *f, const char *tmp, const char *path, PcError *err) {
    errno = 0;
    int rc = 0, e = 0;
    // a flush after an earlier failed write fails again, with the reason (ENOSPC, EFBIG)
    if (fflush(f) != 0 || ferror(f) || sync_fd(fileno(f)) != 0) rc = -1, e = errno;
    if (fclose(f) != 0 && rc == 0) rc = -1, e = errno;
    const char *what = "write";
    if (rc == 0 && rename(tmp, path) != 0) rc = -1, e = errno, what = "create";   // a folder there, say
    if (rc == 0) return 0;
    unlink(tmp);
    return pc_fail(err, "%s: cannot %s (%s)", path, what, strerror(e ? e : EIO));
}

int pc_default_threads(void) {
    const char *env = getenv("PC_THREADS");
    if (env && atoi(env) > 0) return atoi(env);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
