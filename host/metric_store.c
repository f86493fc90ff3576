// metric_store.c: the perturbation metrics' datasets (metric_store.h).
#include "metric_store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { X_ROAD_MS, X_ROAD_LS, X_ROAD_MT, X_ROAD_LT, X_ROAD_M, X_ROAD_L, X_ROAD_MA, X_ROAD_LA, X_ROAD_C,
       X_FLIP_MS, X_FLIP_LS, X_FLIP_M, X_FLIP_L, X_REG_MS, X_REG_LS, X_REG_M, X_REG_L,
       X_AD_O, X_AD_D, X_AD_I, X_AD_G, X_COUNT };

static const PcExtraSet g_all[X_COUNT] = {
    {"road/morf_scores", 0, PC_EXTRA_F32, NULL, "ROAD MoRF: f_c after imputing the most relevant p% of the pixels, per [metrics] road_percentages"},
    {"road/lerf_scores", 0, PC_EXTRA_F32, NULL, "ROAD LeRF: f_c after imputing the least relevant p% of the pixels, per [metrics] road_percentages"},
    {"road/morf_top1", 0, PC_EXTRA_I8, NULL, "ROAD MoRF: 1 when the class is still the arg max after the imputation, per percentage"},
    {"road/lerf_top1", 0, PC_EXTRA_I8, NULL, "ROAD LeRF: 1 when the class is still the arg max after the imputation, per percentage"},
    {"road/morf", 1, PC_EXTRA_F64, "ROAD MoRF", "ROAD MoRF: mean of morf_scores over the percentages (lower is better)"},
    {"road/lerf", 1, PC_EXTRA_F64, "ROAD LeRF", "ROAD LeRF: mean of lerf_scores over the percentages (higher is better)"},
    {"road/morf_accuracy", 1, PC_EXTRA_F64, "ROAD MoRF acc", "ROAD MoRF: mean of morf_top1 over the percentages (the paper's accuracy; lower is better)"},
    {"road/lerf_accuracy", 1, PC_EXTRA_F64, "ROAD LeRF acc", "ROAD LeRF: mean of lerf_top1 over the percentages (higher is better)"},
    {"road/combined", 1, PC_EXTRA_F64, "ROAD comb", "ROAD: (lerf - morf) / 2, pytorch-grad-cam's ROADCombined (higher is better)"},
    {"flip/morf_scores", 0, PC_EXTRA_F32, NULL, "pixel flipping MoRF: f_c after each step ([metrics] flip_pixels pixels per step)"},
    {"flip/lerf_scores", 0, PC_EXTRA_F32, NULL, "pixel flipping LeRF: f_c after each step"},
    {"flip/morf_auc", 1, PC_EXTRA_F64, "Flip MoRF", "pixel flipping MoRF: trapezoid area of morf_scores over [0, 1] (lower is better)"},
    {"flip/lerf_auc", 1, PC_EXTRA_F64, "Flip LeRF", "pixel flipping LeRF: trapezoid area of lerf_scores over [0, 1] (higher is better)"},
    {"region/morf_curve", 0, PC_EXTRA_F32, NULL, "region perturbation MoRF: f_c(X) - f_c(X_k) after k = 1.. patches"},
    {"region/lerf_curve", 0, PC_EXTRA_F32, NULL, "region perturbation LeRF: f_c(X) - f_c(X_k) after k = 1.. patches"},
    {"region/morf_aopc", 1, PC_EXTRA_F64, "AOPC MoRF", "region perturbation MoRF: AOPC = sum(morf_curve) / (steps + 1) (higher is better)"},
    {"region/lerf_aopc", 1, PC_EXTRA_F64, "AOPC LeRF", "region perturbation LeRF: AOPC = sum(lerf_curve) / (steps + 1) (lower is better)"},
    {"adcc/masked_score", 1, PC_EXTRA_F64, NULL, "O = f_c(X * E), E the map min-max normalised"},
    {"adcc/drop", 1, PC_EXTRA_F64, "Avg drop", "Average Drop term max(0, Y - O) / Y, Y = f_c(X) (lower is better)"},
    {"adcc/increase", 1, PC_EXTRA_F64, "Incr conf", "Increase in Confidence term: 1 when O > Y (higher is better)"},
    {"adcc/gain", 1, PC_EXTRA_F64, "Avg gain", "Average Gain term max(0, O - Y) / (1 - Y) (higher is better)"},
};

int pc_metric_sets_all(const PcExtraSet **out) {
    *out = g_all;
    return X_COUNT;
}

// The widths of set x for these options (0 = the metric is off).
static int width_of(int x, const PcPerturbOptions *o, int size) {
    if (x <= X_ROAD_C) return !o->road ? 0 : x <= X_ROAD_LT ? o->road_n : 1;
    if (x <= X_FLIP_L) return !o->flip ? 0 : x <= X_FLIP_LS ? pc_perturb_flip_steps(o, size) : 1;
    if (x <= X_REG_L) return !o->region ? 0 : x <= X_REG_LS ? pc_perturb_region_steps(o, size) : 1;
    return o->adcc ? 1 : 0;
}

int pc_metric_sets(const PcPerturbOptions *opt, int size, PcExtraSet *out) {
    int n = 0;
    for (int x = 0; x < X_COUNT; x++) {
        const int w = width_of(x, opt, size);
        if (!w) continue;
        out[n] = g_all[x];
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
    for (int k = 0; k < l->n_extra; k++) {
        for (int x = 0; x < X_COUNT; x++)
            if (!strcmp(l->extra[k].name, g_all[x].name)) values_of(x, res, opt, l->extra[k].width, slice);
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
