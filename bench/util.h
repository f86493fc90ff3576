// util.h: what the CPU benchmark programs share: the networks they time and CPU-time helpers.
#ifndef PC_BENCH_UTIL_H
#define PC_BENCH_UTIL_H

#include "backend.h"
#include "model.h"

// A network with weights: a fixture network "tiny_vgg" / "tiny_resnet" / "synth_vgg" /
// "synth_resnet" (pc_fixture_arch_spec, with data/models/<name>.safetensors), else a torchvision
// arch name ("vgg16", "resnet50", ...) with the fixtures' hash weights. On failure the net is
// freed and err set.
int bench_net(const char *name, PcNet *net, PcError *err);

// bench_net(name) prepared on be for the largest of batches[], and an input batch of that size
// (2 x the hash values "bench_input"): 0, or -1 with one line "<name>: <error>" on stderr.
typedef struct {
    PcNet net;
    PcBackendNet *bn;
    float *x;            // (max_batch, 3, in_h, in_w) host
    int max_batch;
} BenchModel;
int bench_model_open(PcBackend *be, const char *name, const int *batches, int n_batches, BenchModel *m);
void bench_model_close(PcBackend *be, BenchModel *m);

// The CPU backend in fp32 (PC_NO_DIRECT_CONV and the other options from the environment when
// from_env, as the program reads them), or NULL with the error on stderr.
PcBackend *bench_cpu_backend(int from_env);

// Median wall and CPU seconds of `runs` calls of fn(arg) after one warm-up call (page faults,
// caches); a call returning nonzero stops the runs (fn reports its own error).
typedef struct {
    double wall, cpu;
} BenchTiming;
BenchTiming bench_median(int (*fn)(void *arg), void *arg, int runs);

// CPU seconds of this process (all threads).
double bench_cpu_seconds(void);

// qsort comparison of doubles, ascending.
int bench_cmp_double(const void *a, const void *b);

#endif
