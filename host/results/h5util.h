// h5util.h: small checked helpers over the HDF5 C API used by the result file modules (layout.c,
// store.c, merge.c, table.c): string and integer attributes, row reads and writes of 1..3-D
// datasets, whole-column reads, the IEEE half type, UTF-8 clean-up of stored strings, and the
// operating system's reason behind a failed HDF5 call ("No space left on device").
#ifndef PC_H5UTIL_H
#define PC_H5UTIL_H

#include <hdf5.h>
#include <stdint.h>

#include "common.h"

// Round-to-nearest-even float -> IEEE half bits (maps are stored as float16 by default), and back.
uint16_t pc_f32_to_f16(float f);
float pc_f16_to_f32(uint16_t h);

// Variable-length string type of character set cset (caller closes).
hid_t pc_h5_str_type(H5T_cset_t cset);
// Scalar root/group attributes, created or overwritten. Strings are stored as UTF-8 (cleaned).
int pc_h5_set_str_attr(hid_t loc, const char *name, const char *value);
int pc_h5_set_i64_attr(hid_t loc, const char *name, int64_t value);
// 1-D int64 attribute of n values.
int pc_h5_set_i64s_attr(hid_t loc, const char *name, const int64_t *v, int n);
// A string attribute (malloc'd), NULL when absent or not one string (an array of them, a number).
char *pc_h5_read_root_attr(hid_t loc, const char *name);
int64_t pc_h5_read_i64_attr(hid_t loc, const char *name, int64_t fallback);
// n int64 values of a 1-D attribute: 0, or -1 when absent or of another size.
int pc_h5_read_i64s_attr(hid_t loc, const char *name, int64_t *v, int n);

// IEEE binary16, the type h5py and numpy read as float16 (caller closes).
hid_t pc_h5_half_type(void);
// Dataset of shape dims (rank 1..3) with a fill value; chunk != NULL makes it chunked + shuffled
// + deflated.
hid_t pc_h5_create_dataset(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
                           const hsize_t *chunk, const void *fill);
// Closes an object the caller wrote to (dataset, group, attribute or file; id < 0: nothing to
// do): HDF5 writes a dataset's cached chunks and a file's cached metadata at close, and a dataset
// whose close failed has dropped them, so a later flush of the file can succeed with the data
// missing. 0, or -1 with the reason kept for pc_h5_why. Read-only handles, the clean-up after an
// earlier failure and groups (whose close writes nothing: the file's flush or close writes their
// metadata, and that is checked) close without it.
int pc_h5_close_written(hid_t id);
// The dataset when it exists, else -1.
hid_t pc_h5_open_if(hid_t loc, const char *name);
// Writes / reads row `index` (along the first dimension) of a rank 1..3 dataset from / into buf
// of memory type memtype. Returns 0, or -1 when the row is out of range or the call fails.
int pc_h5_write_row(hid_t d, hsize_t index, hid_t memtype, const void *buf);
int pc_h5_read_row(hid_t d, hsize_t index, hid_t memtype, void *buf);
// Whole 1-D dataset `name` of exactly n values, converted; malloc'd, NULL when absent or unreadable.
int *pc_h5_read_ints(hid_t loc, const char *name, size_t n);
double *pc_h5_read_f64(hid_t loc, const char *name, size_t n);
// First dimension of dataset `name` and its rank's last dimension; -1 when absent.
int pc_h5_dims(hid_t loc, const char *name, hsize_t *first, hsize_t *last);

// Every string of a 1-D variable-length string dataset (is_attr = 0) or attribute (is_attr = 1),
// read in the stored character set (HDF5 1.10 does not convert ASCII <-> UTF-8). Returns a
// malloc'd array of malloc'd strings (free with pc_h5_free_strings) and the count in *n, or NULL.
char **pc_h5_read_strings(hid_t obj, int is_attr, size_t *n);
void pc_h5_free_strings(char **s, size_t n);

// Opens an existing file read-only without HDF5's file locking (a running polycam-eval holds its
// .partial locked; readers only peek at flushed data). -1 when it cannot be opened.
hid_t pc_h5_open_read(const char *path);
// 1 when path is a regular file starting with the HDF5 signature (no user block), else 0.
int pc_h5_has_signature(const char *path);

// Crash-safe change of a finished file: pc_h5_update_begin copies path to "<path>.update" and
// returns that name (malloc'd; NULL with err) for the caller to open, change and close;
// pc_h5_update_end(ok = 1) flushes it to disk, renames it over path and flushes the folder (so a
// caller may then remove what the change made redundant), ok = 0 removes it. A kill or a power
// cut at any moment leaves path as it was or as changed, never half-changed (HDF5 1.10 files are
// not safe to kill in the middle of a write). Frees tmp.
char *pc_h5_update_begin(const char *path, PcError *err);
// A "<path>.update" left by a process killed between begin and end (never the only copy of
// anything: path is replaced only by a complete copy). 0: none; 1: a copy polycam-eval made (a
// regular file, empty or starting as an HDF5 file), removed; -1 with err: something else there,
// left alone. pc_h5_update_begin calls it first; the caller must hold the output's writer lock.
int pc_h5_update_remove_stale(const char *path, PcError *err);
int pc_h5_update_end(const char *path, char *tmp, int ok, PcError *err);

// The reason of the last failed HDF5 call in this thread, as " (No space left on device)" when
// the HDF5 error stack (or the helpers above, when they failed) holds a system error, else "".
// Points into a thread-local buffer; the reason is given once (the next call starts afresh).
const char *pc_h5_why(void);

#endif
