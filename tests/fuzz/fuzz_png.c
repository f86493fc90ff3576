// fuzz_png.c: the PNG reader of the object masks (host/input/mask.c over libpng: any colour type and
// bit depth to grey, then resampled to the input grid). The image the mask belongs to is given
// the size the PNG header claims when that is at most 4 Mpx (so the resampling runs), else 64 x 64
// (the size check must refuse it before anything that large is allocated). The chunks' CRCs are
// recomputed before the file is written, as PNG fuzzers do: libpng drops a chunk whose CRC is
// wrong, and the mutations would otherwise never reach past it. The resize mode comes from the last
// byte. Seeds: the synthetic set's masks and small PNGs of other colour types (corpus/png).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "mask.h"

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static uint32_t crc32_png(const uint8_t *p, size_t n) {   // the CRC-32 of PNG (ISO 3309), bitwise
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

// Rewrites the CRC of every whole chunk after the 8-byte signature.
static void fix_crcs(uint8_t *p, size_t n) {
    size_t at = 8;
    while (at + 12 <= n) {
        uint32_t len = be32(p + at);
        if (len > n - at - 12) break;
        uint32_t c = crc32_png(p + at + 4, (size_t)len + 4);
        uint8_t *q = p + at + 8 + len;
        q[0] = (uint8_t)(c >> 24), q[1] = (uint8_t)(c >> 16), q[2] = (uint8_t)(c >> 8), q[3] = (uint8_t)c;
        at += (size_t)len + 12;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int w = 64, h = 64;
    if (size >= 24) {   // the IHDR chunk's width and height
        uint64_t hw = be32(data + 16), hh = be32(data + 20);
        if (hw > 0 && hh > 0 && hw * hh <= ((uint64_t)1 << 22)) w = (int)hw, h = (int)hh;
    }
    uint8_t *fixed = malloc(size ? size : 1);
    memcpy(fixed, data, size);
    fix_crcs(fixed, size);
    const char *path = fuzz_file("mask.png", fixed, size);
    free(fixed);
    unsigned char out[16 * 16];
    PcError err = {{0}};
    if (pc_mask_load(path, w, h, (PcResizeMode)(size ? data[size - 1] % 3 : 0), 16, out, &err) != 0 &&
        (!err.msg[0] || strchr(err.msg, '\n')))
        __builtin_trap();   // a refusal is one line
    return 0;
}
