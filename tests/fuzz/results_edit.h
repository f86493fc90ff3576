// results_edit.h: structure-aware edits of a result file for fuzz_results.c: the fuzz input read
// four bytes at a time as edits made through the HDF5 API (reshape, retype, delete or fill a
// dataset; set, retype or delete a root attribute), so that the readers meet well-formed HDF5
// whose datasets and attributes disagree with each other.
#ifndef PC_FUZZ_RESULTS_EDIT_H
#define PC_FUZZ_RESULTS_EDIT_H

#include <stddef.h>
#include <stdint.h>

// Applies the edits of data[0..size) (at most 16) to the file at path, in place. -1 when the
// file could not be opened or written (the input is then skipped).
int results_edit(const char *path, const uint8_t *data, size_t size);

#endif
