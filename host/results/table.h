// table.h: the paper's Table 1 from a result file: one row per method id with the mean insertion
// AUC, deletion AUC and their difference over the images whose status is "ok", and the image
// count behind the means (an image with a NaN map of a method counts in the other methods' rows);
// when the file stores sensitivity-max, its mean as one more column; with localisation (SPEC §10,
// [data] masks) the mean energy in mask and the pointing hits, and in files that have them the
// avg-sensitivity, the pointing hits within the tolerance and the rank accuracy (appended as the
// last columns, so the earlier ones keep their places). Printed as Markdown and written as
// CSV beside the HDF5 file.
#ifndef PC_TABLE_H
#define PC_TABLE_H

#include <stdio.h>

#include "common.h"
#include "layout.h"

typedef struct {
    char id[96];            // method id ("pcampm", "pcamp.level.features.3", ...)
    int has_ins, has_del;   // the file holds that curve
    double ins, del;        // means over the n images (NaN when n = 0)
    int n;                  // images behind the means
    int has_sens;           // the file stores sensitivity-max ([robustness] sensitivity = yes)
    double sens;            // its mean over the ok images where it is finite (NaN when none)
    int n_sens;             // images behind that mean
    int has_loc;            // the file holds localisation
    double energy;          // mean energy in mask over the n_loc images (NaN when n_loc = 0)
    int hits, n_loc;        // pointing hits among the n_loc ok images with a localisation
    int has_sens_avg;       // the file stores avg-sensitivity beside sensitivity-max
    double sens_avg;        // its mean over the ok images where it is finite (NaN when none)
    int has_loc_more;       // the file holds pointing_tol and rank (localisation.h)
    int tol;                // the pointing tolerance in pixels
    int hits_tol;           // hits within the tolerance among the n_loc images
    double rank;            // mean rank accuracy over the n_rank of those where it is finite
    int n_rank;
    double col[32];         // the perturbation metrics' columns (PcTable.col_names): means over the
    int col_n[32];          // ok images where the value is finite, and their counts
} PcTableRow;

typedef struct {
    int n_images;           // images in the file
    int n_done;             // images with results
    int n_ok;               // done with status "ok" or naming NaN maps (layout.h: pc_status_usable)
    int n_nan_map;          // of those, the images with a NaN map of some method
    int complete;           // the run finished
    int n_journal;          // of the n_done, images read from the journal of a .partial (results_journal.h)
    int n_rows;
    PcTableRow *rows;       // (n_rows) in the file's method order
    int n_cols;             // perturbation metrics' summary columns (metric_store.h), 0 = none
    char col_names[32][32]; // "ROAD MoRF", ... (Markdown)
    char col_keys[32][48];  // "road_morf", ... (CSV)
} PcTable;

// Row of method m of an open result file over the images with use[i] != 0 (the one rule of --table
// and --report, docs/hostile-inputs.md): an image enters the AUC means and N when every stored AUC
// of it is usable (pc_unit_value_usable), the sensitivity mean when its value is finite and >= 0,
// the localisation when its pointing is 0 or 1 and its energy finite (a signed map's energy is
// any real; its rank accuracy, a fraction, when usable).
void pc_table_row(const PcResultFile *rf, int m, const unsigned char *use, PcTableRow *row);
// Per-image values of method m by that rule, NaN where an image is left out (use[i] == 0, use NULL =
// every image; or its value breaks the rule): what = "insertion", "deletion", "ins_del" (NaN unless
// every stored AUC of the image is usable), "sensitivity", "sensitivity_avg" (finite and >= 0), or
// another per-image dataset of the method, /methods/<id>/<what> (finite). NULL when the file does
// not store it. malloc'd (rf->n values). --report's tables, intervals and
// paired tests take their values from here.
double *pc_table_values(const PcResultFile *rf, int m, const char *what, const unsigned char *use);
// 1 for a finite value in [0, 1] (0.001 of slack for rounding): what an AUC or an energy in mask is.
int pc_unit_value_usable(double v);

// Reads a result file (finished or .partial; a .partial with the images its journal holds).
int pc_table_from_file(const char *h5_path, PcTable *t, PcError *err);
// Table 1; then, when the file has localisation, the localisation table (method, energy, hits/n);
// then, when it has perturbation metrics, their table (one column per scalar set with a column).
void pc_table_print_markdown(FILE *out, const PcTable *t);
int pc_table_write_csv(const char *csv_path, const PcTable *t, PcError *err);
void pc_table_free(PcTable *t);

// "<file>.csv" beside the result file ("results/demo.h5" -> "results/demo.h5.csv"); malloc'd.
char *pc_table_csv_path(const char *h5_path);

#endif
