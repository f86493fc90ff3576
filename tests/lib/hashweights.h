// hashweights.h: the deterministic pseudo-random weights of fixtures/README.md ("hash weights"),
// so tests and benchmarks build full VGG16 / ResNet50 in memory with no weight file; and the
// shapes of the small fixture networks.
#ifndef PC_HASHWEIGHTS_H
#define PC_HASHWEIGHTS_H

#include <stdint.h>

#include "model.h"

// u(name, i) in [-1, 1) as defined in fixtures/README.md.
float pc_hash_uniform(const char *name, uint32_t i);

// Generates every expected tensor of net: T[i] = base + bound * u(name, i). Rules are looked up by
// tensor name in (names, base, bound); tensors with no rule get the README's default rule
// (conv/linear weight bound sqrt(6/fan_in), bias 0.05, bn weight 1+-0.1 (bn3 0.2+-0.02),
// bn bias 0.1, running mean 0.1, running var 1+-0.2). n_rules may be 0.
int pc_hash_state_dict(const PcNet *net, int n_rules, const char *const *names,
                       const float *base, const float *bound, PcStateDict *out, PcError *err);

// The fixture networks: "tiny_vgg", "tiny_resnet" (fixtures/README.md, reference_golden.h5
// tiny/), "synth_vgg", "synth_resnet" (synthetic.h5), or a torchvision name ("vgg16", ...). The
// one definition of their shapes for tests and benchmarks.
int pc_fixture_arch_spec(const char *model, PcArchSpec *s, PcError *err);

#endif
