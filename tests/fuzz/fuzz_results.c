// fuzz_results.c: the result-file reader that --table, --merge and --report share (host/results/layout.c
// pc_results_*) and the three commands on top of it (table.c, merge.c, report.c). Two kinds of
// input, told apart by their first bytes:
//   - an HDF5 file (it starts with the HDF5 signature): read as it is, byte mutations of the
//     seeds (HDF5 1.10's metadata carries no checksums, so they reach dims and attribute values);
//   - anything else: edits of a real result file (templates/shard_0.h5, shard 0 of 2 of a tiny
//     run with maps, both curves, sensitivity and localisation) made through the HDF5 API, four
//     bytes an edit (results_edit.c): datasets reshaped, retyped, deleted or filled with extreme
//     values, root attributes (map_side, steps, shard, method_ids, ...) set to hostile values.
//     These reach the readers' checks of shapes against attributes, which byte mutations of a
//     B-tree rarely do.
// HDF5 1.10.8 (Debian 12) itself crashes on some corrupted containers, inside its own parser
// (e.g. a global heap read from H5Dvlen_get_buf_size): not polycam-eval's code, and not fixable
// here but by a newer HDF5 (docs/fuzzing.md "HDF5's own parser"). PC_FUZZ_RESULTS_EDITS_ONLY=1 (set
// by CI's bounded run) skips the raw HDF5 inputs, so a 40 s run tests polycam-eval's readers and
// not that known limit; the long run explores both.
// Each input is then read by pc_table_from_file (+ the CSV), pc_report (figures included) and
// pc_merge with templates/shard_1.h5 into a fresh output. The files live in this process's
// temporary folder (/dev/shm when there is one, so in memory); the readers take paths.
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "merge.h"
#include "report.h"
#include "results_edit.h"
#include "table.h"

static unsigned char *tpl[2];
static size_t tpl_size[2];

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz_results: cannot open the template %s\n", path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len);
    if (fread(b, 1, (size_t)len, f) != (size_t)len) abort();
    fclose(f);
    *n = (size_t)len;
    return b;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    if (tpl[0]) return 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char path[1024];
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/shard_%d.h5", PC_FUZZ_RESULTS_TEMPLATES, k);
        tpl[k] = slurp(path, &tpl_size[k]);
    }
    return 0;
}

static void run_readers(const char *in, const char *other) {
    PcError err = {{0}};
    PcTable t;
    if (pc_table_from_file(in, &t, &err) == 0) {
        FILE *devnull = fopen("/dev/null", "w");
        pc_table_print_markdown(devnull, &t);
        fclose(devnull);
        pc_table_write_csv(fuzz_path("table.csv"), &t, &err);
        pc_table_free(&t);
    }
    PcReportOptions opt;
    pc_report_default_options(&opt);
    opt.grid_images = 2;
    opt.grid_tile = 16;
    char *files[2] = {(char *)in, (char *)other};
    pc_report(fuzz_path("report"), 1, files, &opt, &err);
    pc_merge(fuzz_path("merged.h5"), 2, files, PC_STORE_FORCE, "fuzz", &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    LLVMFuzzerInitialize(NULL, NULL);
    const char *other = strdup(fuzz_file("shard_1.h5", tpl[1], tpl_size[1]));
    char *in;
    if (size >= 8 && !memcmp(data, "\x89HDF\r\n\x1a\n", 8)) {
        static int edits_only = -1;
        if (edits_only < 0) edits_only = getenv("PC_FUZZ_RESULTS_EDITS_ONLY") != NULL;
        if (edits_only) {
            free((char *)other);
            return 0;
        }
        in = strdup(fuzz_file("shard_0.h5", data, size));
    } else {
        in = strdup(fuzz_file("shard_0.h5", tpl[0], tpl_size[0]));
        if (results_edit(in, data, size) != 0) {   // the edits could not be made: nothing to read
            free(in);
            free((char *)other);
            return 0;
        }
    }
    run_readers(in, other);
    free(in);
    free((char *)other);
    return 0;
}
