// state_dict.c: the state dict of state_dict.h: lookup, release, dtype names and the conversion of
// one element of an F32 / F16 / BF16 / I64 tensor to float.
#include "state_dict.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

const char *pc_dtype_name(PcDtype dt) {
    switch (dt) {
    case PC_DT_F32: return "F32";
    case PC_DT_F16: return "F16";
    case PC_DT_BF16: return "BF16";
    case PC_DT_I64: return "I64";
    }
    return "?";
}

// ---- access ----------------------------------------------------------------------------------

const PcTensor *pc_state_dict_get(const PcStateDict *sd, const char *name) {
    for (int i = 0; i < sd->n; i++)
        if (strcmp(sd->tensors[i].name, name) == 0) return &sd->tensors[i];
    return NULL;
}

void pc_state_dict_free(PcStateDict *sd) {
    if (!sd) return;
    for (int i = 0; i < sd->n; i++) free(sd->tensors[i].name);
    free(sd->tensors);
    if (sd->map) munmap(sd->map, sd->map_size);
    free(sd->owned);
    free(sd->path);
    memset(sd, 0, sizeof *sd);
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {   // subnormal: renormalise
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((man & 0x3FF) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float pc_tensor_get_f32(const PcTensor *t, int64_t i) {
    // Tensors inside a mapped file need not be aligned: read through memcpy.
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case PC_DT_F32: {
        float f;
        memcpy(&f, p + 4 * i, 4);
        return f;
    }
    case PC_DT_F16: {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        return half_to_float(h);
    }
    case PC_DT_BF16: {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        uint32_t bits = (uint32_t)h << 16;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    case PC_DT_I64: {
        int64_t v;
        memcpy(&v, p + 8 * i, 8);
        return (float)v;
    }
    }
    return 0.0f;
}
