// fuzz_common.h: what the fuzz targets (tests/fuzz/fuzz_<reader>.c) share. Each target defines
// LLVMFuzzerTestOneInput (libFuzzer's entry point); built with clang -fsanitize=fuzzer under
// PC_FUZZ=ON (tools/fuzz.sh), or with replay_main.c as a plain program that runs the committed
// corpus and crash reproducers (CTest fuzz_replay_<reader>, every build). See docs/fuzzing.md.
#ifndef PC_FUZZ_COMMON_H
#define PC_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// The path of `name` in this process's own temporary folder (made once, removed at exit).
const char *fuzz_path(const char *name);
// Writes data[0..size) to fuzz_path(name) (replacing it) and returns that path; for readers
// that take a file name. Aborts when the file cannot be written (a broken harness, not input).
const char *fuzz_file(const char *name, const uint8_t *data, size_t size);
// Reads every byte of n bytes at p, so that ASan checks a buffer the reader handed back.
void fuzz_touch(const void *p, size_t n);

#endif
