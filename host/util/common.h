// common.h: error reporting, checked allocation and the per-library check macros shared by
// every host module. Errors travel as a PcError filled by the failing function (one line, naming
// the file or tensor and the problem); library calls that "cannot fail" are checked with a macro
// that prints the statement, file and line and exits.
#ifndef PC_COMMON_H
#define PC_COMMON_H

#include <stddef.h>
#include <stdio.h>

#define PC_VERSION "0.1.0"

#ifdef __cplusplus   // cuda/ (nvcc compiles .cu as C++) calls pc_fail and the allocators
extern "C" {
#endif

// One-line error message carried back to the caller.
typedef struct {
    char msg[1024];
} PcError;

// Formats msg into err (when err is non-NULL) and returns -1, so `return pc_fail(err, ...)`.
int pc_fail(PcError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Aborting allocation: out of host memory is not recoverable for this program.
void *pc_xmalloc(size_t bytes, const char *file, int line);
void *pc_xcalloc(size_t n, size_t size, const char *file, int line);
#define xmalloc(bytes) pc_xmalloc((bytes), __FILE__, __LINE__)
#define xcalloc(n, size) pc_xcalloc((n), (size), __FILE__, __LINE__)

// Prints "[what] error: stmt at file:line (detail)" and exits(1). Used by the check macros.
void pc_die(const char *what, const char *stmt, const char *file, int line, const char *detail)
    __attribute__((noreturn));

// HDF5 calls return a negative value on failure.
#define hdf5Check(stmt)                                                                     \
    do {                                                                                    \
        if ((long long)(stmt) < 0) pc_die("HDF5", #stmt, __FILE__, __LINE__, "negative status"); \
    } while (0)

// Wall-clock seconds (monotonic).
double pc_now(void);

// Reads a whole regular file; returns NULL and fills err on failure ("<path>: not a regular file
// (a directory)" for directories, FIFOs and devices, which are never read, so a FIFO cannot block).
// *size gets the byte count; the buffer has one extra NUL byte.
unsigned char *pc_read_file(const char *path, size_t *size, PcError *err);

// "dir/rel" unless rel is absolute; result malloc'd.
char *pc_join_path(const char *dir, const char *rel);

// Durability of a file that replaces or is about to replace another (a crash or power cut must
// leave the old file or the whole new one, never an empty one): pc_fsync_path flushes path's data
// to the disk, pc_fsync_parent the folder holding path (after a rename or unlink in it; a file
// system that cannot flush folders counts as done). 0, or -1 with errno set.
int pc_fsync_path(const char *path);
int pc_fsync_parent(const char *path);

// Finishes a file written through the stream f at tmp and puts it at path: the stream's error flag,
// its flush, fsync and close are all checked, then tmp is renamed over path. On any failure tmp is
// removed, path stays as it was and err says "<path>: cannot write (<reason>)" ("cannot create"
// when the rename fails). f is closed in every case.
int pc_commit_file(FILE *f, const char *tmp, const char *path, PcError *err);

// Number of worker threads the CPU code may use (PC_THREADS env, else online cores).
int pc_default_threads(void);

#ifdef __cplusplus
}
#endif

#endif
