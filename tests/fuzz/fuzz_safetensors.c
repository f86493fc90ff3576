// fuzz_safetensors.c: the safetensors reader (host/nets/safetensors.c): the 8-byte header length, the JSON
// header (names, dtypes, shapes, data offsets) and the bounds of every tensor in the file. A file
// that opens has every tensor's bytes read back.
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "safetensors.h"
#include "weights.h"

static size_t dtype_bytes(PcDtype dt) {
    return dt == PC_DT_I64 ? 8 : (dt == PC_DT_F16 || dt == PC_DT_BF16) ? 2 : dt == PC_DT_F32 ? 4 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("in.safetensors", data, size);
    PcStateDict sd;
    PcError err = {{0}};
    if (pc_safetensors_open(path, &sd, &err) == 0) {
        for (int i = 0; i < sd.n; i++) {
            const PcTensor *t = &sd.tensors[i];
            fuzz_touch(t->name, strlen(t->name));
            fuzz_touch(t->data, (size_t)t->numel * dtype_bytes(t->dtype));
        }
        pc_state_dict_free(&sd);
    } else if (!err.msg[0] || strchr(err.msg, '\n')) {
        __builtin_trap();   // a refusal is one line
    }
    return 0;
}
