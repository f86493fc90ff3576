// cuda_unavailable.c: stands in for the CUDA backend in builds without nvcc/cuDNN, so callers get a
// clear error instead of a link failure.
#include "cuda_backend.h"

PcBackend *pc_backend_cuda_create(const PcBackendOptions *opt, PcError *err) {
    (void)opt;
    pc_fail(err, "this polycam-eval was built without the CUDA backend (no nvcc/cuDNN at configure time)");
    return NULL;
}

int pc_backend_cuda_compiled(void) { return 0; }
