// bench_write_hashnet.c: not a timing. Writes a torchvision network with the fixtures' hash weights
// (tests/fixtures/README.md) as a safetensors file, so polycam-eval itself can run full-size VGG16 /
// ResNet50 without downloaded weights (bench/quant_drift.sh measures the 8-bit drift on them).
// Usage: bench_write_hashnet <arch> <out.safetensors>     e.g. bench_write_hashnet vgg16 /tmp/vgg16.safetensors
#include <stdio.h>

#include "hashweights.h"
#include "weights.h"
#include "safetensors.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <arch> <out.safetensors>\n", argv[0]);
        return 2;
    }
    PcArchSpec spec;
    PcNet net;
    PcStateDict sd;
    PcError err;
    if (pc_arch_from_name(argv[1], &spec, &err) || pc_net_create(&spec, &net, &err) ||
        pc_hash_state_dict(&net, 0, NULL, NULL, NULL, &sd, &err) || pc_safetensors_write(argv[2], &sd, &err)) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        return 1;
    }
    pc_state_dict_free(&sd);
    pc_net_free(&net);
    fprintf(stderr, "%s with hash weights written to %s\n", argv[1], argv[2]);
    return 0;
}
