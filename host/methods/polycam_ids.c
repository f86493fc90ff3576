// polycam_ids.c: the Poly-CAM family's method ids (polycam_ids.h).
#include "polycam_ids.h"

#include <stdio.h>
#include <string.h>

static int add(PcPolycamRef *refs, char (*ids)[PC_METHOD_ID_LEN], int n, int v, PcPolycamPart part, int layer,
               const char *suffix, const char *name) {
    refs[n] = (PcPolycamRef){v, part, layer};
    snprintf(ids[n], PC_METHOD_ID_LEN, "%s%s%s", pc_variant_ids[v], suffix, name);
    return n + 1;
}

int pc_polycam_ids(const int variants[PC_N_VARIANTS], int levels, int cams, int no_lnorm, const PcTargets *tg,
                   const PcTargets *cam_tg, PcPolycamRef *refs, char (*ids)[PC_METHOD_ID_LEN]) {
    int n = 0;
    for (int v = 0; v < PC_N_VARIANTS; v++)
        if (variants[v]) n = add(refs, ids, n, v, PC_PCAM_MAP, 0, "", "");
    for (int v = 0; v < PC_N_VARIANTS; v++) {
        if (!variants[v]) continue;
        for (int l = 0; levels && l < tg->n_targets; l++) n = add(refs, ids, n, v, PC_PCAM_LEVEL, l, ".level.", tg->names[l]);
        for (int l = 0; cams && l < cam_tg->n_targets; l++) n = add(refs, ids, n, v, PC_PCAM_CAM, l, ".cam.", cam_tg->names[l]);
        if (no_lnorm) n = add(refs, ids, n, v, PC_PCAM_NO_LNORM, 0, ".no_lnorm", "");
    }
    return n;
}

const float *pc_polycam_pick(const PcExplanation *e, const PcPolycamRef *ref) {
    switch (ref->part) {
    case PC_PCAM_MAP: return e->map[ref->variant];
    case PC_PCAM_LEVEL: return e->levels[ref->variant] + (size_t)ref->layer * e->size * e->size;
    case PC_PCAM_CAM: return e->cams[ref->variant][ref->layer];
    case PC_PCAM_NO_LNORM: return e->map_no_lnorm[ref->variant];
    }
    return NULL;
}

int pc_polycam_parse(const char *id, int *variant, const char **layer) {
    static const struct {
        const char *suffix;
        PcPolycamPart part;
    } parts[] = {{".level.", PC_PCAM_LEVEL}, {".cam.", PC_PCAM_CAM}, {".no_lnorm", PC_PCAM_NO_LNORM}, {"", PC_PCAM_MAP}};
    for (int v = 0; v < PC_N_VARIANTS; v++) {
        const size_t n = strlen(pc_variant_ids[v]);
        if (strncmp(id, pc_variant_ids[v], n)) continue;
        for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
            const size_t s = strlen(parts[k].suffix);
            if (strncmp(id + n, parts[k].suffix, s)) continue;
            const char *rest = id + n + s;
            const int has_layer = parts[k].part == PC_PCAM_LEVEL || parts[k].part == PC_PCAM_CAM;
            if (has_layer ? !rest[0] : rest[0] != 0) continue;
            *variant = v;
            if (layer) *layer = has_layer ? rest : NULL;
            return parts[k].part;
        }
    }
    return -1;
}
