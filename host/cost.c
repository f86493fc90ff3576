// cost.c: forward-pass equivalents per image of a whole run (cost.h).
#include "cost.h"

#include <stdio.h>

void pc_run_cost(const PcConfig *cfg, const PcNet *net, const PcTargets *tg, const PcMethodDesc *const *others,
                 int n_others, const PcMethodSettings *set, int n_maps, PcRunCost *out) {
    *out = (PcRunCost){0};
    // Poly-CAM: one tapped pass, then one masked pass per channel of every target layer for the
    // "plus" masks (PCAM+, PCAM+-) and one for the "minus" masks (PCAM-, PCAM+-). Dead channels
    // are skipped by the engine, so this is an upper bound.
    const int plus = cfg->variants[PC_VARIANT_PLUS] || cfg->variants[PC_VARIANT_PM];
    const int minus = cfg->variants[PC_VARIANT_MINUS] || cfg->variants[PC_VARIANT_PM];
    if (plus || minus) {
        double channels = 0;
        for (int l = 0; l < tg->n_targets; l++) channels += tg->c[l];
        out->polycam = 1.0 + channels * (plus + minus);
    }
    for (int m = 0; m < n_others; m++)
        if (others[m]->cost) out->others += others[m]->cost(net, set);
    // SPEC §8: one pass per step and per curve
    out->curves = (double)n_maps * cfg->insdel.steps * (cfg->insertion + cfg->deletion);
    out->total = out->polycam + out->others + out->curves;
}

void pc_format_duration(double s, char *buf, size_t n) {
    if (s >= 2 * 3600.0) snprintf(buf, n, "about %.1f h", s / 3600.0);
    else if (s >= 120.0) snprintf(buf, n, "about %.0f min", s / 60.0);
    else snprintf(buf, n, "about %.0f s", s);
}
