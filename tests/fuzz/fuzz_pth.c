// fuzz_pth.c: the torch.save reader (host/nets/pth.c) on whole files: zip archives (libzip, data.pkl,
// storages) and the legacy format (pickles then raw storages). A file that opens has every
// tensor's bytes read back (ASan checks the arena). libzip checks each record's CRC-32, which
// would stop nearly every mutation of a record's bytes: the harness rewrites the CRCs of stored
// (uncompressed) records in the local and central headers first, except for inputs whose size is
// 3 mod 4 (so that the CRC check itself stays fuzzed too). Seeds: tests/fixtures/pth's small files
// (corpus/pth).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "pth.h"

static uint32_t le(const uint8_t *p, int k) {
    uint32_t v = 0;
    for (int i = k - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t crc32_zip(const uint8_t *p, size_t n) {   // the CRC-32 of zip (ISO 3309), bitwise
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

// The CRC of every stored record whose bytes lie inside the file, in its local header and in the
// central directory entry that points at that header.
static void fix_zip_crcs(uint8_t *p, size_t n) {
    enum { MAX = 64 };
    size_t at[MAX];
    uint32_t crc[MAX];
    int k = 0;
    for (size_t i = 0; i + 30 <= n && k < MAX;) {   // local headers, one after the other
        if (le(p + i, 4) != 0x04034b50u) break;
        size_t data = i + 30 + le(p + i + 26, 2) + le(p + i + 28, 2), len = le(p + i + 18, 4);
        if (data > n || len > n - data) break;
        if (le(p + i + 8, 2) == 0) {   // stored
            at[k] = i, crc[k] = crc32_zip(p + data, len);
            put32(p + i + 14, crc[k++]);
        }
        i = data + len;
    }
    for (size_t i = 0; i + 46 <= n; i++) {   // central directory entries
        if (le(p + i, 4) != 0x02014b50u) continue;
        for (int j = 0; j < k; j++)
            if (le(p + i + 42, 4) == at[j]) put32(p + i + 16, crc[j]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    if (size % 4 != 3) fix_zip_crcs(buf, size);
    const char *path = fuzz_file("in.pth", buf, size);
    free(buf);
    PcStateDict sd;
    PcError err = {{0}};
    if (pc_pth_open(path, &sd, &err) == 0) {
        for (int i = 0; i < sd.n; i++) {
            const PcTensor *t = &sd.tensors[i];
            fuzz_touch(t->name, strlen(t->name));
            fuzz_touch(t->data, (size_t)t->numel * (t->dtype == PC_DT_I64 ? 8 : 4));
        }
        pc_state_dict_free(&sd);
    } else if (!err.msg[0] || strchr(err.msg, '\n')) {
        __builtin_trap();   // a refusal is one line
    }
    return 0;
}
