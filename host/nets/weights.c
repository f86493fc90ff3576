// weights.c: opening a weights file of either format (weights.h): the first bytes decide between a
// torch.save checkpoint (pth.h) and a safetensors file (safetensors.h).
#include "weights.h"

#include <stdio.h>
#include <string.h>

#include "pth.h"
#include "safetensors.h"

int pc_weights_open(const char *path, PcStateDict *sd, PcError *err) {
    unsigned char head[16] = {0};
    size_t got = 0;
    FILE *f = fopen(path, "rb");
    int opened = f != NULL;
    if (f) {
        got = fread(head, 1, sizeof head, f);
        fclose(f);
    }
    const char *ext = strrchr(path, '.');
    int torch_ext = ext && (!strcmp(ext, ".pth") || !strcmp(ext, ".pt"));
    // The content decides; a .pth that looks like neither goes to the .pth reader for its message.
    int kind = pc_pth_sniff(head, got);
    if (kind > 0 || (kind == 0 && opened && torch_ext)) return pc_pth_open(path, sd, err);
    return pc_safetensors_open(path, sd, err);
}
