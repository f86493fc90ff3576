// run.h: one polycam-eval run: load the images' list, the model and the backend, open (or resume)
// the result file, stream the images through Poly-CAM and the insertion/deletion metrics, store
// every image's results as it finishes, and print the summary table.
#ifndef PC_RUN_H
#define PC_RUN_H

#include "config.h"
#include "store.h"

typedef struct {
    PcStoreMode mode;           // continue (default) | --resume | --force
    const char *git_commit;     // recorded in the output ("unknown" when not built from git)
    const char *inih_version;   // inih has no runtime version call: the build passes it
    int check_only;             // --check: stop after the list, labels, weights and layers are checked
} PcRunOptions;

// Everything that can be checked before computing (list, root, labels, weights against the arch,
// target layers, device, output file) fails here with one line in err and exit status 1; images
// that cannot be read are recorded in /images/status and the run goes on. Returns 0, -1 on error,
// or 1 when a stop signal (stop.h) ended the run between two images: err then holds the line
// "interrupted by SIGTERM; rerun the same command to continue (N/M images done)".
int pc_run(const PcConfig *cfg, const PcRunOptions *opt, PcError *err);

// --table FILE.h5: prints the Markdown table and writes FILE.h5.csv.
int pc_print_table(const char *h5_path, PcError *err);


#endif
