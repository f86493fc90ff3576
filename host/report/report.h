// report.h: `polycam-eval --report OUT_DIR FILE.h5 ...`: the paper's tables and figures from
// result files. Writes OUT_DIR/report.md with every table the files can fill — Tables 1 / 4 (one
// column group per file, as the paper puts one per model), Tables 2 / 3 (per-level Poly-CAM
// against the isolated layer CAMs), Table 5 (sensitivity-max, where stored) — and the figures
// (PNG + SVG, cairo): mean insertion and deletion curves per method (x = fraction of pixels),
// the per-level plots and an overlay grid (images x methods). Files still running are reported
// with the images done so far; files over different images are compared only where they agree,
// and the report says what it left out.
#ifndef PC_REPORT_H
#define PC_REPORT_H

#include "common.h"

typedef struct {
    int grid_images;        // images (rows) of the overlay grid; default 6
    int grid_tile;          // tile side in pixels; default 112
} PcReportOptions;

void pc_report_default_options(PcReportOptions *opt);

// Returns 0, or -1 with one line in err (a file that is not a result file, OUT_DIR not writable).
int pc_report(const char *out_dir, int n_files, char *const *files, const PcReportOptions *opt,
              PcError *err);

#endif
