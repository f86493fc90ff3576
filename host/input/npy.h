// npy.h: NumPy's .npy array format (numpy/lib/format.py, NEP 1) read from memory: the header
// (magic "\x93NUMPY", version 1.0, 2.0 or 3.0, a Python dict literal with exactly the keys 'descr',
// 'fortran_order' and 'shape') and a 2-D saliency map out of it. The caller bounds the buffer
// (npz.c reads one archive member at a time); every size the header claims is checked against the
// buffer before anything is allocated, so memory stays within the buffer's size plus the float32
// map (at most twice the data of a '<f2' array). Errors are one line without the file's name
// (the caller puts "<file>: key '<key>': " before it). No Python, nothing evaluated: the dict is
// parsed by a grammar of string keys, 'strings', True / False and tuples of integers.
#ifndef PC_NPY_H
#define PC_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define PC_NPY_MAX_DIMS 32              // numpy 1.x's NPY_MAXDIMS
#define PC_NPY_MAX_HEADER 65536         // header bytes (numpy itself reads at most 10000 by default)

typedef struct {
    int major, minor;                   // format version: 1.0, 2.0 or 3.0
    char descr[32];                     // '<f4', ... as written
    int fortran_order;
    int rank;
    int64_t shape[PC_NPY_MAX_DIMS];
    size_t data_offset;                 // magic, version, length field and header: where the data starts
} PcNpyHeader;

// Parses the header of the .npy image buf (n bytes). 0, or -1 with err: not a .npy (magic), an
// unknown version, a header longer than the buffer or than PC_NPY_MAX_HEADER, a dict that is not
// the three keys with a string, a bool and a tuple of non-negative integers, a rank above
// PC_NPY_MAX_DIMS.
int pc_npy_header(const unsigned char *buf, size_t n, PcNpyHeader *h, PcError *err);

// A saliency map out of the .npy image buf: dtype '<f2', '<f4' or '<f8' (others refused, named),
// shape (h, w) or with leading dimensions of 1 ((1, 1, h, w) as the reference implementation saves
// torchcam's maps; (1, h, w) as it saves captum's), h, w >= 1, exactly h * w * itemsize bytes of
// data after the header, C or Fortran order. *map is malloc'd float32, (h, w) row-major; a '<f8'
// value beyond float32's range is refused (NaN and Inf are passed through: the caller checks).
// 0, or -1 with err.
int pc_npy_map(const unsigned char *buf, size_t n, float **map, int *h, int *w, PcError *err);

// The shape as numpy prints it, "(1, 1, 14, 14)", "(5,)", "()", into out (cap bytes).
void pc_npy_shape_text(const PcNpyHeader *h, char *out, size_t cap);

#endif
