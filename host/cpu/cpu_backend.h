// cpu_backend.h: the entry points of the CPU backend (the plain-C reference of every op).
#ifndef PC_CPU_BACKEND_H
#define PC_CPU_BACKEND_H

#include <stddef.h>

#include "backend.h"

// Creates the CPU backend (always available).
PcBackend *pc_backend_cpu_create(const PcBackendOptions *opt, PcError *err);

// The CPU backend's numeric library and the kernel set it runs, as recorded in every result file:
// "<openblas_get_config()> (kernels <core>)", e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY
// Haswell MAX_THREADS=64 (kernels Haswell)".
void pc_backend_cpu_libraries(char *buf, size_t n);

#endif
