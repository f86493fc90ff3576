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

typedef enum { PC_REPORT_PAPER_AUTO = 0, PC_REPORT_PAPER_YES, PC_REPORT_PAPER_NO } PcReportPaper;

typedef struct {
    int grid_images;        // images (rows) of the overlay grid; default 6
    int grid_tile;          // tile side in pixels; default 112
    PcReportPaper paper;    // the paper's numbers beside ours: auto (the paper's setting only), yes, no
    char reference[96];     // method id of the paired comparisons; default pcampm (PCAM±)
    int resamples;          // bootstrap resamples; default 10,000
} PcReportOptions;

void pc_report_default_options(PcReportOptions *opt);
// One `--set report.KEY=VALUE` of the report command (report_options.c): report.paper =
// auto|yes|no, report.reference = ID, report.resamples = N (100 .. 65536). 0, or -1 with one line.
int pc_report_set_option(PcReportOptions *opt, const char *set, PcError *err);

// Returns 0, or -1 with one line in err (a file that is not a result file, OUT_DIR not writable).
int pc_report(const char *out_dir, int n_files, char *const *files, const PcReportOptions *opt,
              PcError *err);

#endif
