// common.c: error formatting, checked allocation, timing and small file helpers.
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
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

unsigned char *pc_read_file(const char *path, size_t *size, PcError *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        pc_fail(err, "%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        pc_fail(err, "%s: cannot seek (%s)", path, strerror(errno));
        return NULL;
    }
    long n = ftell(f);
    rewind(f);
    if (n < 0) {
        fclose(f);
        pc_fail(err, "%s: cannot tell size", path);
        return NULL;
    }
    unsigned char *buf = xmalloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    if (got != (size_t)n) {
        free(buf);
        pc_fail(err, "%s: short read (%zu of %ld bytes)", path, got, n);
        return NULL;
    }
    buf[n] = 0;
    *size = (size_t)n;
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

int pc_default_threads(void) {
    const char *env = getenv("PC_THREADS");
    if (env && atoi(env) > 0) return atoi(env);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
