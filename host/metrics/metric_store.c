// metric_store.c: the perturbation metrics' datasets (metric_store.h).
#include "metric_store.h"

#include "extra_sets.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// The widths of set x for these options (0 = the metric is off).
static int width_of(int x, const PcPerturbOptions *o, int size) {
    if (x <= X_ROAD_C) return !o->road ? 0 : x <= X_ROAD_LT ? o->road_n : 1;
    if (x <= X_FLIP_L) return !o->flip ? 0 : x <= X_FLIP_LS ? pc_perturb_flip_steps(o, size) : 1;
    if (x <= X_REG_L) return !o->region ? 0 : x <= X_REG_LS ? pc_perturb_region_steps(o, size) : 1;
    return o->adcc ? 1 : 0;
}

int pc_metric_sets(const PcPerturbOptions *opt, int size, PcExtraSet *out) {
    const PcExtraSet *all;
    pc_extra_sets_all(&all);
    int n = 0;
    for (int x = 0; x < X_COUNT; x++) {
        const int w = width_of(x, opt, size);
        if (!w) continue;
        out[n] = all[x];
        out[n++].width = w;
    }
    return n;
}

// The values of set x from res into v (width values).
static void values_of(int x, const PcPerturbResult *r, const PcPerturbOptions *o, int w, double *v) {
    const int lerf = x == X_ROAD_LS || x == X_ROAD_LT || x == X_ROAD_L || x == X_ROAD_LA || x == X_FLIP_LS ||
                     x == X_FLIP_L || x == X_REG_LS || x == X_REG_L;
    double s = 0, a = 0, sl = 0;
    for (int j = 0; j < o->road_n && x <= X_ROAD_C; j++) {
        s += r->road_score[lerf][j], a += r->road_top1[lerf][j];
        sl += r->road_score[1][j] - r->road_score[0][j];
    }
    for (int j = 0; j < w; j++) {
        switch (x) {   // one set per case: this is the only switch on the sets
        case X_ROAD_MS: case X_ROAD_LS: v[j] = r->road_score[lerf][j]; break;
        case X_ROAD_MT: case X_ROAD_LT: v[j] = r->road_top1[lerf][j]; break;
        case X_ROAD_M: case X_ROAD_L: v[j] = s / o->road_n; break;
        case X_ROAD_MA: case X_ROAD_LA: v[j] = a / o->road_n; break;
        case X_ROAD_C: v[j] = sl / o->road_n / 2; break;
        case X_FLIP_MS: case X_FLIP_LS: v[j] = r->flip[lerf] ? r->flip[lerf][j] : NAN; break;
        case X_FLIP_M: case X_FLIP_L: v[j] = r->flip_auc[lerf]; break;
        case X_REG_MS: case X_REG_LS: v[j] = r->region[lerf] ? r->region[lerf][j] : NAN; break;
        case X_REG_M: case X_REG_L: v[j] = r->region_aopc[lerf]; break;
        case X_AD_O: v[j] = r->masked_score; break;
        case X_AD_D: v[j] = r->drop; break;
        case X_AD_I: v[j] = r->increase; break;
        default: v[j] = r->gain; break;
        }
    }
}

void pc_metric_store_result(const PcStoreLayout *l, const PcPerturbResult *res, const PcPerturbOptions *opt, int size,
                            double *slice) {
    (void)size;
    const PcExtraSet *all;
    pc_extra_sets_all(&all);
    for (int k = 0; k < l->n_extra; k++) {
        for (int x = 0; x < X_COUNT; x++)
            if (!strcmp(l->extra[k].name, all[x].name)) values_of(x, res, opt, l->extra[k].width, slice);
        slice += l->extra[k].width;
    }
}

int pc_metric_eval_store(PcPerturbContext *ctx, PcBackendNet *bn, const float *map, int cls, const PcStoreLayout *l,
                         double *slice, PcError *err) {
    const int T = pc_perturb_flip_steps(&ctx->opt, ctx->size), R = pc_perturb_region_steps(&ctx->opt, ctx->size);
    float *curves = xmalloc((size_t)(2 * (T + R) + 1) * sizeof(float));
    PcPerturbResult pr;
    memset(&pr, 0, sizeof pr);
    pr.flip[0] = curves, pr.flip[1] = curves + T, pr.region[0] = curves + 2 * T, pr.region[1] = curves + 2 * T + R;
    int rc = pc_perturb_eval(ctx, bn, map, cls, &pr, NULL, err);
    if (rc == 0) pc_metric_store_result(l, &pr, &ctx->opt, ctx->size, slice);
    free(curves);
    return rc;
}
