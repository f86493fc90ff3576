// common.h: error reporting, checked allocation and the per-library check macros shared by
// every host module. Errors travel as a PcError filled by the failing function (one line, naming
// the file or tensor and the problem); library calls that "cannot fail" are checked with a macro
// that prints the statement, file and line and exits.
#ifndef PC_COMMON_H
#define PC_COMMON_H

#include <stddef.h>

#define PC_VERSION "0.1.0"

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

// Number of worker threads the CPU code may use (PC_THREADS env, else online cores).
int pc_default_threads(void);

#endif
