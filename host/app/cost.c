// cost.c: forward-pass equivalents per image of a whole run (cost.h).
#include "cost.h"

#include <stdio.h>
#include <string.h>

#include "sanity.h"

// Poly-CAM: one tapped pass, then one masked pass per channel of every target layer for the
// "plus" masks (PCAM+, PCAM+-) and one for the "minus" masks (PCAM-, PCAM+-). Dead channels are
// skipped by the engine, so this is an upper bound.
// The isolated CAMs' own layers (cams, NULL = none) add theirs (pc_engine_channels).
static double polycam_cost(const PcTargets *tg, const PcTargets *cams, int plus, int minus) {
    if (!plus && !minus) return 0;
    return 1.0 + (double)pc_engine_channels(tg, cams) * (plus + minus);
}

// The sanity check per checked image: every step (the original and one per re-initialised layer)
// classifies once and computes its methods' maps.
static double sanity_cost(const PcNet *net, const PcTargets *tg, const PcMethodSettings *set,
                          const PcSanitySettings *ss) {
    int plus = 0, minus = 0, nodes[1024];
    double maps = 0;
    for (int m = 0; m < ss->n_methods; m++) {
        for (int v = 0; v < PC_N_VARIANTS; v++)
            if (!strcmp(ss->ids[m], pc_variant_ids[v])) {
                plus |= v != PC_VARIANT_MINUS;   // PCAM+ and PCAM+- need the plus images' passes
                minus |= v != PC_VARIANT_PLUS;   // PCAM- and PCAM+- the minus images'
            }
        const PcMethodDesc *d = pc_method_find(ss->ids[m]);
        if (d && d->native && d->cost) maps += d->cost(net, set);
    }
    const int steps = 1 + pc_sanity_order(net, nodes, 1024);
    return steps * (1.0 + polycam_cost(tg, NULL, plus, minus) + maps);
}

void pc_run_cost(const PcConfig *cfg, const PcNet *net, const PcTargets *tg, const PcTargets *cam_tg,
                 const PcMethodDesc *const *others, int n_others, const PcMethodSettings *set, int n_maps,
                 const PcRobustness *rob, const PcSanitySettings *ss, PcRunCost *out) {
    *out = (PcRunCost){0};
    out->polycam = polycam_cost(tg, cam_tg, cfg->variants[PC_VARIANT_PLUS] || cfg->variants[PC_VARIANT_PM],
                                cfg->variants[PC_VARIANT_MINUS] || cfg->variants[PC_VARIANT_PM]);
    for (int m = 0; m < n_others; m++)
        if (others[m]->cost) out->others += others[m]->cost(net, set);
    // SPEC §8: one pass per step and per curve
    out->curves = (double)n_maps * cfg->insdel.steps * (cfg->insertion + cfg->deletion);
    const PcPerturbOptions *po = &cfg->perturb;   // the perturbation metrics' passes per map, + X once
    if (pc_perturb_any(po))
        out->curves += 1.0 + (double)n_maps * (po->road * 2.0 * po->road_n + po->adcc +
                                               po->flip * 2.0 * pc_perturb_flip_steps(po, cfg->size) +
                                               po->region * 2.0 * pc_perturb_region_steps(po, cfg->size));
    // sensitivity-max (sensitivity.h): each perturbed input explained again by every method
    if (rob && rob->sensitivity) out->sensitivity = rob->samples * (out->polycam + out->others);
    out->total = out->polycam + out->others + out->curves + out->sensitivity;
    if (ss && ss->enabled) out->sanity = sanity_cost(net, tg, set, ss);
}

void pc_format_duration(double s, char *buf, size_t n) {
    if (s >= 2 * 3600.0) snprintf(buf, n, "about %.1f h", s / 3600.0);
    else if (s >= 120.0) snprintf(buf, n, "about %.0f min", s / 60.0);
    else snprintf(buf, n, "about %.0f s", s);
}

// Forward rates (images per second, logits only, best batch) of torchvision's networks on one NVIDIA
// H100 80GB HBM3: bench/RESULTS.md, "Forward throughput", run 2 (commit 143c8cc, 2026-11-26).
static const struct {
    const char *arch;
    double fp16, fp32;
} k_h100[] = {{"vgg16", 13303.0, 1054.0}, {"resnet50", 24977.0, 3983.0}};

int pc_h100_projection(const PcNet *net, double passes, int n_images, char *buf, size_t n) {
    for (size_t i = 0; i < sizeof k_h100 / sizeof k_h100[0]; i++) {
        if (strcmp(net->spec.arch, k_h100[i].arch) || net->in_h != 224 || net->n_classes != 1000) continue;
        char fp16[64], fp32[64];
        pc_format_duration(passes / k_h100[i].fp16, fp16, sizeof fp16);
        pc_format_duration(passes / k_h100[i].fp32, fp32, sizeof fp32);
        snprintf(buf, n, "projected GPU time (not measured; the passes at %s's forward rate on one H100, "
                 "bench/RESULTS.md): fp16 %s, fp32 %s for %d image%s", k_h100[i].arch, fp16, fp32, n_images,
                 n_images == 1 ? "" : "s");
        return 1;
    }
    return 0;
}
