// description.h: what a result file says about itself (docs/output.md), as attributes beside the
// datasets (none of which it changes):
//   /methods/<id>                      description: what the map is ("Grad-CAM as torchcam c85232b
//                                      GradCAM, [cam] layer = features.29"), from the method's
//                                      registry row (methods.c: title, source, settings) and the
//                                      run's values of those settings
//   /methods/<id>/insertion, deletion  higher_is_better (1 insertion, 0 deletion), auc_rule, steps,
//                                      pixels_per_step, baseline ("gaussian blur 11x11, sigma 5,
//                                      reflect"), order
//   /                                  class_source (the explained class: top-1 prediction or
//                                      label), preprocessing
// Built by app/describe.c, written when the file is created (layout.c); a merge copies them from
// its first shard.
#ifndef PC_DESCRIPTION_H
#define PC_DESCRIPTION_H

#include <hdf5.h>

#include "layout.h"

#define PC_DESCRIPTION_LEN 1024

typedef struct PcDescription {
    char class_source[256];
    char preprocessing[512];
    int n_methods;                          // the layout's, in its order
    char (*method)[PC_DESCRIPTION_LEN];     // (n_methods)
    int steps;                              // T
    long pixels_per_step;                   // ceil(S * S / T)
    char auc_rule[256];
    char baseline[256];
    char order[256];
} PcDescription;

void pc_describe_free(PcDescription *d);

// Writes the attributes into a result file being created with layout l; 0, or -1 with err.
int pc_describe_write(hid_t file, const char *path, const PcStoreLayout *l, const PcDescription *d, PcError *err);
// Reads them back from a result file (merge: the first shard's); 1 when the file has them, else 0
// (an older file: nothing to copy).
int pc_describe_read(hid_t file, const PcStoreLayout *l, PcDescription *out);

#endif
