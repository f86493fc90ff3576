// fuzz_npz.c: the reader of maps made elsewhere (host/input/npz.c over libzip, host/input/npy.c:
// the .npy header dict, dtypes, shapes, Fortran order, the size checks before any allocation). An
// input starting with numpy's magic \x93NUMPY is one .npy (pc_npy_map); anything else an .npz
// archive whose every map is read (pc_npz_read_all). Zip CRCs are not recomputed: libzip's check is
// part of the reader, and the corpus holds archives with stored and deflated members.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "npy.h"
#include "npz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    PcError err = {{0}};
    if (size >= 6 && !memcmp(data, "\x93NUMPY", 6)) {
        float *map = NULL;
        int h = 0, w = 0;
        if (pc_npy_map(data, size, &map, &h, &w, &err) == 0) {
            if (h < 1 || w < 1 || !map) __builtin_trap();
            fuzz_touch(map, (size_t)h * (size_t)w * sizeof(float));
            free(map);
        } else if (!err.msg[0] || strchr(err.msg, '\n')) {
            __builtin_trap();   // a refusal is one line
        }
        return 0;
    }
    if (pc_npz_read_all(data, size, "fuzz.npz", &err) < 0 && (!err.msg[0] || strchr(err.msg, '\n')))
        __builtin_trap();
    return 0;
}
