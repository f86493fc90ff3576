// safetensors.h: the safetensors format's reader and writer.
#ifndef PC_SAFETENSORS_H
#define PC_SAFETENSORS_H

#include "common.h"
#include "state_dict.h"

// Opens a safetensors file (8-byte little-endian header length, JSON header, data). Every offset is
// checked against the file size; dtypes F32/F16/BF16/I64 are accepted, any other is an error
// naming the tensor. Data stays in the mapping (no copy).
int pc_safetensors_open(const char *path, PcStateDict *sd, PcError *err);

// Writes a state dict to a safetensors file (tests use it to craft bad files; tools to convert).
int pc_safetensors_write(const char *path, const PcStateDict *sd, PcError *err);

#endif
