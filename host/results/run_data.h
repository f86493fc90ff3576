// run_data.h: run-level datasets of a result file (run_data.c).
#ifndef PC_RUN_DATA_H
#define PC_RUN_DATA_H

#include <hdf5.h>
#include <stddef.h>

#include "common.h"
#include "layout.h"         // PC_METHOD_ID_LEN

// A run-level dataset: the same for every image of the run and for every shard (RISE's masks),
// stored as /methods/<method>/<name> (groups on the way created) with the attributes
// scope = "run", description and the numbers attr_names[i] = attr_values[i] (f64). Written once
// when the file is created (run_data.c); the shard merge copies them and refuses shards whose
// run-level datasets differ.
typedef enum { PC_RUN_U8 = 0, PC_RUN_I32, PC_RUN_F32 } PcRunDataType;
#define PC_RUN_DATA_ATTRS 8
typedef struct PcRunData {
    char method[PC_METHOD_ID_LEN];      // "rise"
    char name[128];                     // "masks/grid"
    PcRunDataType type;
    int rank;                           // 1..4
    long long dims[4];
    void *data;                         // host, C order
    char description[512];
    int n_attrs;
    char attr_names[PC_RUN_DATA_ATTRS][32];
    double attr_values[PC_RUN_DATA_ATTRS];
} PcRunData;

size_t pc_run_data_bytes(const PcRunData *d);
// Writes the n datasets into the open file `file` (path for messages). 0, or -1 with err.
int pc_run_data_write(hid_t file, const char *path, const PcRunData *d, int n, PcError *err);
// Every run-level dataset under /methods/<id> of the given methods: count, *out malloc'd (free
// with pc_run_data_free); -1 with err (naming path, the file's name) when one has more than 4 axes,
// is not numbers, or would take more memory than the file can hold (h5shape.h).
int pc_run_data_read(hid_t file, const char *path, char (*method_ids)[PC_METHOD_ID_LEN], int n_methods,
                     PcRunData **out, PcError *err);
void pc_run_data_free(PcRunData *d, int n);
// Same method, name, type, shape and bytes.
int pc_run_data_equal(const PcRunData *a, const PcRunData *b);

#endif
