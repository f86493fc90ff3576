// fuzz_pickle.c: the pickle machine of the .pth reader (host/nets/pth_pickle.c) on bare pickles, the
// bytes that fuzz_pth reaches only through libzip's CRC check. The first byte picks what the
// pickle must hold (a state dict, a list of storage keys, anything: the three uses in pth.c) and,
// when its bit 2 is set, a small shared memory budget as legacy files have; the rest is the pickle.
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "pth_pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    PthWant want = (PthWant)(data[0] % 3);
    size_t budget = data[0] & 4 ? (size_t)64 << 10 : 0;   // 0: the default limit of the pickle's size
    PthPickle pk;
    PcError err = {{0}};
    size_t used = 0;
    if (pth_unpickle_next(data + 1, size - 1, "fuzz.pth: data.pkl", want, budget, &pk, &used, &err) == 0) {
        if (used > size - 1) __builtin_trap();   // the reader says it read past its input
        for (int i = 0; i < pk.n; i++) {
            const PthTensorRef *t = &pk.tensors[i];
            fuzz_touch(t->name, strlen(t->name) + 1);
            fuzz_touch(t->storage->key, strlen(t->storage->key) + 1);
            if (t->ndim < 0 || t->ndim > PC_MAX_DIMS) __builtin_trap();
        }
        for (int i = 0; i < pk.n_keys; i++) fuzz_touch(pk.keys[i], strlen(pk.keys[i]) + 1);
        pth_pickle_free(&pk);
    } else if (!err.msg[0] || strchr(err.msg, '\n')) {
        __builtin_trap();   // a refusal is one line
    }
    return 0;
}
