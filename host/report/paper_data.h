// paper_data.h: the Poly-CAM paper's printed Tables 1-5 (data/paper_tables.csv, its README in
// data/README.md) read for the report, the paper's method names of the method ids, and where the
// shipped data files are found (data_find: the installed share folder next to the program, or the
// source tree's data/ for a program run from its build tree).
#ifndef PC_PAPER_DATA_H
#define PC_PAPER_DATA_H

#include "common.h"

typedef struct {
    int table;              // 1 .. 5
    char model[16];         // vgg16 | resnet50
    char method[32];        // the paper's name: GradCAM, PCAM±, CAM+, ...
    char layer[32];         // Tables 2 / 3: block5_conv3, conv4_6, ...; "" otherwise
    char metric[24];        // insertion | deletion | ins_del | sensitivity_max
    double value;
    int decimals;           // digits printed after the point (2, or 4 in Table 5)
} PcPaperCell;

typedef struct {
    int n;
    PcPaperCell *cells;
} PcPaperData;

// Reads the CSV (header table,model,method,layer,metric,value). 0, or -1 with one line naming the
// file and line ("paper_tables.csv:12: ...").
int pc_paper_load(const char *path, PcPaperData *pd, PcError *err);
void pc_paper_free(PcPaperData *pd);
// The cell, or NULL. layer NULL or "" for the tables without layers.
const PcPaperCell *pc_paper_find(const PcPaperData *pd, int table, const char *model, const char *method,
                                 const char *layer, const char *metric);
// The rounding tolerance of a printed cell: half a unit of its last digit, one unit for ins_del
// (computed before rounding: data/README.md).
double pc_paper_precision(const PcPaperCell *c);

// The paper's name of a method id ("pcampm" -> "PCAM±", "ig" -> "IntegratedGradient"); NULL for an
// id the paper does not have. Ids in the paper's Table 4 order: pc_paper_method_rank gives the
// position (0 ..), or -1.
const char *pc_paper_method_name(const char *id);
int pc_paper_method_rank(const char *id);
// The Poly-CAM variant's paper prefix for Tables 2 / 3: "pcamp" -> "+", "pcamm" -> "-", "pcampm"
// -> "±"; NULL otherwise.
const char *pc_paper_variant_sign(const char *variant);
// The paper's layer names of Tables 2 / 3, deepest first (5 each): model "vgg16" or "resnet50".
const char *const *pc_paper_layers(const char *model);

// A shipped data file by name ("paper_tables.csv"): the path of the first that exists among
// <program folder>/<share>/data and (for a program inside its build tree) the source tree's data/;
// malloc'd, or NULL (then `looked` gets the folders searched, when not NULL).
char *pc_data_find(const char *name, char *looked, size_t cap);

#endif
