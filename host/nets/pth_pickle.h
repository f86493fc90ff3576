// pth_pickle.h: a strict, non-executing reader of the pickle (protocol 2) that torch.save writes as
// data.pkl: a state dict {name: tensor} whose tensors are `_rebuild_tensor_v2(storage, offset,
// size, stride, ...)` calls (`_rebuild_tensor(storage, offset, size, stride)` before PyTorch 0.4)
// over storages named by persistent ids ('storage', torch.FloatStorage, key, location, numel[,
// None in legacy files]). Only the opcodes torch.save uses are understood; classes and callables are
// matched by name against a whitelist and never run. Used by pth.c, which reads the storages.
#ifndef PC_PTH_PICKLE_H
#define PC_PTH_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "state_dict.h"

typedef struct {
    const char *key;            // storage key, the entry data/<key> of the archive (NUL-terminated)
    PcDtype dtype;              // of the storage class: F32, F16, BF16 or I64
    int64_t numel;              // elements the persistent id declares
} PthStorageRef;

typedef struct {
    const char *name;           // state-dict key (NUL-terminated, no NUL inside)
    const PthStorageRef *storage;
    int64_t offset;             // in elements
    int ndim;
    int64_t shape[PC_MAX_DIMS], stride[PC_MAX_DIMS];   // stride in elements
} PthTensorRef;

typedef struct {
    int n;
    PthTensorRef *tensors;      // in the pickle's order
    int n_keys;                 // PTH_WANT_STR_LIST: the strings
    const char **keys;
    int64_t value_int;          // PTH_WANT_ANY: the value when it is an int, else -1
    size_t mem;                 // bytes the reader allocated, counted against its memory limit
    void *pool;                 // every allocation of the reader, freed at once
} PthPickle;

typedef enum { PTH_WANT_STATE_DICT = 0, PTH_WANT_STR_LIST, PTH_WANT_ANY } PthWant;

// Limits that keep a hostile pickle's memory and time bounded (besides: no string longer than the
// bytes left, no object without an opcode that made it). Documented in docs/fuzzing.md, Limits.
#define PTH_MAX_MARK_DEPTH 64           // torch.save nests 3 deep
#define PTH_MAX_NAME 256                // GLOBAL module / name lines
#define PTH_MAX_STACK 65536             // stack items; torch.save batches 1000 dict / list items per MARK
#define PTH_MAX_PICKLE_MIB 256          // bytes of one pickle (zip: data.pkl; legacy: each of its pickles)
#define PTH_MAX_PICKLE ((size_t)PTH_MAX_PICKLE_MIB << 20)
// Memory of the reader (objects, strings, item arrays, stack, memo): at most PTH_MEM_FACTOR times the
// pickle's size + 1 MiB, and never more than PTH_MEM_CAP_MIB. torch.save's state dicts need about
// 9 times their pickle's size (tiny_resnet.pth: 1 kB per tensor), so the cap admits ~60000 tensors.
#define PTH_MEM_FACTOR 16
#define PTH_MEM_CAP_MIB 64
#define PTH_STR_(x) #x
#define PTH_STR(x) PTH_STR_(x)

// Reads the pickle p[0..n) into out. `where` names it in messages ("x.pth: data.pkl"). The
// result must be a dict whose keys are strings and values tensors.
int pth_unpickle(const unsigned char *p, size_t n, const char *where, PthPickle *out, PcError *err);
// One pickle of several in a row (legacy files: magic number, protocol, system info, the state
// dict, the storage keys): reads from p[0] up to its STOP, *used gets the bytes it spans.
// mem_limit: the memory it may use (0: PTH_MEM_FACTOR * n + 1 MiB, at most PTH_MEM_CAP_MIB), so
// that the pickles of one file can share one budget (pth_mem_limit of the file's size).
int pth_unpickle_next(const unsigned char *p, size_t n, const char *where, PthWant want, size_t mem_limit,
                      PthPickle *out, size_t *used, PcError *err);
// The memory limit of the reader for an input of n bytes.
size_t pth_mem_limit(size_t n);
void pth_pickle_free(PthPickle *pk);

#endif
