// extra_sets.h: every per-method dataset of the perturbation metrics a result file may hold
// (layout.h's "extra sets"; docs/metrics.md): names, types, table columns, descriptions. The
// reader (layout.c) probes a file for them; metrics/metric_store.c fills them.
#ifndef PC_EXTRA_SETS_H
#define PC_EXTRA_SETS_H

#include "layout.h"

enum PcExtraSetId { X_ROAD_MS, X_ROAD_LS, X_ROAD_MT, X_ROAD_LT, X_ROAD_M, X_ROAD_L, X_ROAD_MA, X_ROAD_LA, X_ROAD_C,
       X_FLIP_MS, X_FLIP_LS, X_FLIP_M, X_FLIP_L, X_REG_MS, X_REG_LS, X_REG_M, X_REG_L,
       X_AD_O, X_AD_D, X_AD_I, X_AD_G, X_COUNT };


// The table (X_COUNT sets, in the enum's order; widths 0: set by the run or read from the file).
// The scalar ones (width 1) with a `column` are the summary columns of the tables.
int pc_extra_sets_all(const PcExtraSet **out);

#endif
