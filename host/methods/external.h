// external.h: a file of saliency maps made elsewhere, the source of method ext:NAME
// (docs/external-maps.md). Two kinds, told apart by their first bytes:
//   * a NumPy .npz keyed by image name, as the reference implementation saves its explanations
//     (aenglebert/polycam @8003dc6, generate_explanations.py: np.savez(file, **{name: map}) with
//     name the image list's line as written, extension included); each map (h, w), or with
//     leading 1s as the (1, 1, h, w) of its torchcam maps; '<f2', '<f4' or '<f8' (npy.h);
//   * a polycam-eval result file (layout.h): /methods/<method>/map rows of the images whose
//     /images/done is 1 and whose status is usable, matched by /images/name; an all-NaN map (the
//     source's "NaN map" of a constant map) counts as no map.
// Opened once per run with the run's image names: every image's map is read and checked once
// (finite values; the .npz reader checks rank, size and dtype), so a bad map stops the run
// before its first image with one line naming the file, the key and the problem. An image the
// file has no map for is counted (pc_external_missing); the run records it per method.
#ifndef PC_EXTERNAL_H
#define PC_EXTERNAL_H

#include "common.h"

typedef struct PcExternal PcExternal;

// Opens path for the n run images `names` (kept: they must outlive the source). method: the
// /methods id of a result file ("" = NAME when the file has it, else its only method); ignored
// for an .npz. NULL with err (one line naming the file): unreadable, neither kind, a result file
// without stored maps or without that method, a bad map, or no map for any of the images.
PcExternal *pc_external_open(const char *path, const char *name, const char *method, char *const *names, int n,
                             PcError *err);
void pc_external_close(PcExternal *x);

// The run images without a map in the file: count, and image index k-th of them (k < count).
int pc_external_missing(const PcExternal *x);
int pc_external_missing_at(const PcExternal *x, int k);
// "NumPy .npz" or "polycam-eval result file, method gradcam": what was opened.
const char *pc_external_kind(const PcExternal *x);

// The map of the image called name: 0 with *map malloc'd float32 (h, w); 1 when the file has no
// map for it; -1 with err (the file changed since it was opened and the map is now bad).
int pc_external_map(PcExternal *x, const char *name, float **map, int *h, int *w, PcError *err);

// The first non-finite value of an (h, w) map as one error line "<file>: key '<key>': NaN at
// (row r, column c) ..."; 0 when every value is finite.
int pc_external_check_finite(const char *file, const char *key, const float *m, int h, int w, PcError *err);

#endif
