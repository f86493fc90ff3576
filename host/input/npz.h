// npz.h: NumPy .npz archives (np.savez, np.savez_compressed) read with libzip: a zip archive with
// one member "<key>.npy" per array (npy.h). np.savez writes zip64 local headers and stored
// members, np.savez_compressed deflated ones; libzip reads both, checks each member's CRC, and
// this reader bounds every member before it is read: a stored member at most the archive's size,
// a deflated one at most deflate's largest ratio (1032:1) times its compressed size and
// PC_NPZ_MAX_MEMBER, so a small hostile file cannot make the reader allocate much. One member is
// held in memory at a time. Keys are the member names without ".npy"; members with other names
// are not arrays (numpy's NpzFile reads them as bytes) and are left out.
#ifndef PC_NPZ_H
#define PC_NPZ_H

#include <stddef.h>

#include "common.h"

#define PC_NPZ_MAX_MEMBER ((size_t)1 << 30)

typedef struct PcNpz PcNpz;

// Opens the archive at path, or the n bytes at buf (kept, not copied: they must outlive the
// reader; label names it in messages). NULL with err (one line naming the file): not a zip
// archive, an encrypted member, a compression method other than stored / deflate, a key twice.
PcNpz *pc_npz_open(const char *path, PcError *err);
PcNpz *pc_npz_open_buffer(const void *buf, size_t n, const char *label, PcError *err);
void pc_npz_close(PcNpz *z);

// The array keys, sorted (bytes); index i in 0 .. count - 1.
int pc_npz_count(const PcNpz *z);
const char *pc_npz_key(const PcNpz *z, int i);
// The index of key, or -1.
int pc_npz_find(const PcNpz *z, const char *key);
// Members in the archive that are not arrays (their names do not end in ".npy").
int pc_npz_n_other(const PcNpz *z);

// The map of array i (npy.h: pc_npy_map): *map malloc'd float32 (h, w). 0, or -1 with err as
// "<file>: key '<key>': <problem>".
int pc_npz_read_map(PcNpz *z, int i, float **map, int *h, int *w, PcError *err);

// The whole reader on n bytes in memory (the fuzzing entry point, tests/fuzz): opens the archive
// and reads every map. The number of maps, or -1 with err at the first problem.
int pc_npz_read_all(const void *buf, size_t n, const char *label, PcError *err);

#endif
