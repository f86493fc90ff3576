// extra_sets.c: the perturbation metrics' datasets (extra_sets.h).
#include "extra_sets.h"

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

int pc_extra_sets_all(const PcExtraSet **out) {
    *out = g_all;
    return X_COUNT;
}
