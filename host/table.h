// table.h: the paper's Table 1 from a result file: one row per method id with the mean insertion
// AUC, deletion AUC and their difference over the images whose status is "ok", and the image
// count behind the means (an image with a NaN map of a method counts in the other methods' rows);
// when the file stores sensitivity-max, its mean as one more column; with localisation (SPEC §10,
// [data] masks) the mean energy in mask and the pointing hits. Printed as Markdown and written as
// CSV beside the HDF5 file.
#ifndef PC_TABLE_H
#define PC_TABLE_H

#include <stdio.h>

#include "common.h"

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
} PcTable;

// Reads a result file (finished or .partial; a .partial with the images its journal holds).
int pc_table_from_file(const char *h5_path, PcTable *t, PcError *err);
// Table 1; then, when the file has localisation, the localisation table (method, energy, hits/n).
void pc_table_print_markdown(FILE *out, const PcTable *t);
int pc_table_write_csv(const char *csv_path, const PcTable *t, PcError *err);
void pc_table_free(PcTable *t);

// "<file>.csv" beside the result file ("results/demo.h5" -> "results/demo.h5.csv"); malloc'd.
char *pc_table_csv_path(const char *h5_path);

#endif
