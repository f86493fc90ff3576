// gpu_quant.c: see gpu_quant.h.
#include "gpu_quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "cost.h"
#include "method_config.h"
#include "methods.h"
#include "quant_scheme.h"
#include "saliency.h"

#ifdef PC_HAVE_CUDA
int pc_cuda_quant_fallbacks(const PcBackendNet *bn, int *nodes, int max);   // cuda/cuda_quant.cu
#endif

static int eligible(const PcNode *nd) {
    return nd->op == PC_NODE_CONV && pc_quant_eligible(nd->input, nd->p.conv.cin, nd->p.conv.cout);
}

int bench_quant_setup(PcBackend *be, PcBackendNet *bn, const PcNet *net, const float *d_x, int n, PcPrecision prec,
                      int *n8, PcError *err) {
    *n8 = 0;
    if (prec != PC_PREC_FP8 && prec != PC_PREC_INT8) return 0;
    if (!be->net_set_quant) return pc_fail(err, "the %s backend has no net_set_quant", be->name);
    const PcQuantFormat f = prec == PC_PREC_FP8 ? PC_QUANT_FP8 : PC_QUANT_INT8;
    const int nn = net->n_nodes;
    int *taps = xmalloc((size_t)nn * sizeof(int)), nt = 0, rc = 0;
    float **bufs = xcalloc((size_t)nn, sizeof(float *)), *scales = xcalloc((size_t)nn, sizeof(float));
    for (int i = 0; i < nn && !rc; i++) {
        if (!eligible(&net->nodes[i])) continue;
        const PcNode *src = &net->nodes[net->nodes[i].input];
        taps[nt] = net->nodes[i].input;
        bufs[nt] = be->alloc(be, (size_t)n * src->c * src->h * src->w * sizeof(float));
        if (!bufs[nt++]) rc = pc_fail(err, "calibration: out of device memory");
    }
    if (!rc) rc = be->forward(be, bn, d_x, n, NULL, nt, taps, bufs, err);
    for (int t = 0, i = 0; !rc && i < nn; i++) {
        if (!eligible(&net->nodes[i])) continue;
        const PcNode *src = &net->nodes[net->nodes[i].input];
        size_t count = (size_t)n * src->c * src->h * src->w;
        float *h = xmalloc(count * sizeof(float)), amax = 0.0f;
        be->download(be, h, bufs[t++], count * sizeof(float));
        for (size_t j = 0; j < count; j++) amax = fmaxf(amax, fabsf(h[j]));
        scales[i] = amax > 0.0f ? amax / pc_q_max(f) : 1.0f;
        free(h);
    }
    for (int t = 0; t < nt; t++)
        if (bufs[t]) be->release(be, bufs[t]);
    PcQuant q = {f, nn, scales};
    if (!rc) rc = be->net_set_quant(be, bn, &q, err);
    if (!rc) *n8 = nt;
    free(taps), free(bufs), free(scales);
    return rc;
}

int bench_quant_fallbacks(const PcBackendNet *bn) {
#ifdef PC_HAVE_CUDA
    return pc_cuda_quant_fallbacks(bn, NULL, 0);
#else
    (void)bn;
    return -1;
#endif
}

int bench_paper_passes(const char *name, const PcNet *net, double *passes, PcError *err) {
    char path[1024], *sets[2] = {"model.weights=hash-weights", "data.root=/nonexistent"};
    snprintf(path, sizeof path, "%s/configs/%s.ini", PC_SOURCE_DIR, name);
    PcConfig cfg;
    if (pc_config_load(path, 2, sets, &cfg, err)) return -1;
    PcTargets tg, cams;
    PcMethodSettings set;
    PcRobustness rob;
    const PcMethodDesc *others[64];
    char layers[PC_MAX_TARGETS][64], cam_layers[PC_MAX_TARGETS][64];
    memcpy(layers, cfg.layers, sizeof layers);
    memcpy(cam_layers, cfg.cam_layers, sizeof cam_layers);
    int n_others = pc_method_config_ids(&cfg, others, 64, err);
    int rc = n_others < 0 || pc_targets_resolve(net, cfg.n_layers, layers, &tg, err) ||
             pc_method_settings_from_config(&cfg, &set, err) || pc_robustness_from_config(&cfg, &rob, err) ||
             (n_others > 0 && pc_method_settings_resolve(&set, net, err));
    if (!rc) cams = tg;
    if (!rc && cfg.n_cam_layers) rc = pc_targets_resolve(net, cfg.n_cam_layers, cam_layers, &cams, err);
    if (!rc) {
        // the method ids of run.c: per variant its map, levels, isolated CAMs and no-LNorm map
        int n_maps = n_others;
        for (int v = 0; v < PC_N_VARIANTS; v++)
            if (cfg.variants[v])
                n_maps += 1 + (cfg.ablate_levels ? tg.n_targets : 0) + (cfg.ablate_cams ? cams.n_targets : 0) +
                          cfg.ablate_no_lnorm;
        PcRunCost c;
        pc_run_cost(&cfg, net, &tg, cfg.ablate_cams ? &cams : NULL, others, n_others, &set, n_maps, &rob, NULL, &c);
        *passes = c.total;   // sensitivity-max included (cost.c); the sanity check is not a table's
    }
    pc_config_free(&cfg);
    return rc ? -1 : 0;
}
