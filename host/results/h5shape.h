// h5shape.h: checked reads of datasets from files we did not just write (result files, shards,
// a finished output met again on a resume). Before anything is allocated, a dataset's rank,
// dimensions, kind of element type and storage are compared with what the reader is about to read,
// and the memory the read takes is held to PC_H5_READ_SLACK + PC_H5_READ_RATIO x the file's size
// (the file must hold what it says it holds: a dataset of a billion rows that a few bytes of fill
// value stand for is refused). A mismatch is one line naming the file, the dataset, the expected
// and the found shape:
//   "x.h5: /methods/gradcam/insertion/scores has shape (4, 100000), expected (4, 5) (steps = 5)".
// Rules in docs/hostile-inputs.md.
#ifndef PC_H5SHAPE_H
#define PC_H5SHAPE_H

#include <hdf5.h>

#include "common.h"

#define PC_H5_MAX_RANK 4
#define PC_DIM_ANY ((hsize_t)-1)   // an axis of any length (a string list's count)
#define PC_H5_READ_SLACK (8.0 * 1024 * 1024)
#define PC_H5_READ_RATIO 2.0
// A string of a string dataset counts this many bytes of memory (its pointer and allocation) on
// top of its characters.
#define PC_H5_STRING_COST 64

typedef enum { PC_H5_ANY_KIND = 0, PC_H5_FLOAT, PC_H5_INT, PC_H5_STRING } PcH5Kind;

// What a reader expects of a dataset.
typedef struct {
    const char *file;               // the file's path, for the message
    PcH5Kind kind;
    int rank;                       // 1..PC_H5_MAX_RANK
    hsize_t dims[PC_H5_MAX_RANK];   // PC_DIM_ANY: any length
    const char *why;                // where the expected shape comes from ("steps = 5"), or NULL
} PcH5Want;

// Rank and dimensions of dataset d: the rank (0 for a scalar), -1 when it has none readable or more
// than PC_H5_MAX_RANK axes.
int pc_h5_shape(hid_t d, hsize_t dims[PC_H5_MAX_RANK]);
// d (dataset `name`) against w: kind of type, storage (no external files, no virtual layout),
// rank and dims. 0, or -1 with the one-line message in err.
int pc_h5_check(hid_t d, const char *name, const PcH5Want *w, PcError *err);
// The dataset `name` of loc, checked (pc_h5_check); -1 with err when absent ("... missing") or not
// as expected. The caller closes it.
hid_t pc_h5_open_checked(hid_t loc, const char *name, const PcH5Want *w, PcError *err);
// 0 when a read of `bytes` bytes of memory from the file that obj lives in fits the bound above,
// else -1 with "x.h5: <name> would take 40000 MB of memory, more than the file (2 MB) can hold".
int pc_h5_budget(hid_t obj, const char *file, const char *name, double bytes, PcError *err);
// The whole dataset `name`, checked against w and the memory bound, converted to memtype (elem
// bytes each): malloc'd, NULL with err. *count (when not NULL) gets the number of elements.
void *pc_h5_read_checked(hid_t loc, const char *name, const PcH5Want *w, hid_t memtype, size_t elem,
                         size_t *count, PcError *err);
// Every string of a 1-D string dataset `name` (w->kind and rank are taken as a string list), checked
// and bounded (its count and its characters): malloc'd strings (free with pc_h5_free_strings), the
// count in *n; NULL with err.
char **pc_h5_read_strings_checked(hid_t loc, const char *name, const PcH5Want *w, size_t *n, PcError *err);

#endif
