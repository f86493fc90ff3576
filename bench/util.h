// util.h: what the CPU benchmark programs share: the networks they time and CPU-time helpers.
#ifndef PC_BENCH_UTIL_H
#define PC_BENCH_UTIL_H

#include "model.h"

// A network with weights: a fixture network "tiny_vgg" / "tiny_resnet" / "synth_vgg" /
// "synth_resnet" (pc_fixture_arch_spec, with data/models/<name>.safetensors), else a torchvision
// arch name ("vgg16", "resnet50", ...) with the fixtures' hash weights. On failure the net is
// freed and err set.
int bench_net(const char *name, PcNet *net, PcError *err);

// CPU seconds of this process (all threads).
double bench_cpu_seconds(void);

// qsort comparison of doubles, ascending.
int bench_cmp_double(const void *a, const void *b);

#endif
