// layout.h: the datasets and attributes of a result file, written and read back in one place, so
// the store (store.c), the shard merge (merge.c) and the tables (table.c) share one definition.
//
// Layout of a file (N images, S = map side, T = curve steps):
//   /images/name (N) str, /images/index (N) i32 position in the list, /images/label (N) i32 (-1 =
//   unknown), /images/class (N) i32 explained class, /images/score (N) f32 f_c(X),
//   /images/status (N) str "ok" or the error, /images/done (N) u8 (1 = every dataset written)
//   /methods/<id>/map (N, S, S) f16|f32, chunk (1, S, S), shuffle + deflate
//   /methods/<id>/insertion/auc (N) f64, /methods/<id>/insertion/scores (N, T) f32, same deletion/
//   /methods/<id>/sensitivity (N) f64 sensitivity-max (only with [robustness] sensitivity = yes;
//   NaN = not computed or the library's NaN; host/sensitivity.h)
//   /methods/<id>/localisation/energy (N) f64 (NaN = not computed), .../localisation/pointing (N)
//   i8 (1 hit, 0 miss, -1 not computed): SPEC §10, only when the run has [data] masks
//   /classes (K) str (when class names are known)
//   /quant: the 8-bit precisions' layers, input scales and accuracy guard (quant_run.h), only in
//   fp8 / int8 runs
//   root attributes: config, config_source, config_key, method_ids, map_side, steps, shard (i, n),
//   weights_checksum, version, git_commit, libraries, device, start_time, end_time, n_images,
//   n_done, complete.
// Strings are UTF-8; bytes that are not valid UTF-8 (file names) are written as \xNN.
#ifndef PC_LAYOUT_H
#define PC_LAYOUT_H

#include <hdf5.h>

#include "common.h"
#include "maps_format.h"

#define PC_METHOD_ID_LEN 96

typedef struct {
    int n_images;
    int size;                               // S
    int steps;                              // T
    int n_methods;
    char (*method_ids)[PC_METHOD_ID_LEN];   // (n_methods)
    PcMapsFormat maps;
    int insertion, deletion;
    int sensitivity;                        // /methods/<id>/sensitivity stored
    int localisation;                       // energy in mask and pointing per image ([data] masks)
} PcStoreLayout;

// What is known of every image before the run (written when the file is created).
typedef struct {
    char **names;           // (n_images)
    const int *labels;      // (n_images), -1 = unknown
    const int *list_index;  // (n_images)
    int n_class_names;      // 0 = none
    char **class_names;     // (n_class_names)
} PcStoreImages;

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
// with pc_run_data_free).
int pc_run_data_read(hid_t file, char (*method_ids)[PC_METHOD_ID_LEN], int n_methods, PcRunData **out);
void pc_run_data_free(PcRunData *d, int n);
// Same method, name, type, shape and bytes.
int pc_run_data_equal(const PcRunData *a, const PcRunData *b);

// Text and numbers written as root attributes.
typedef struct {
    const char *config;         // canonical text, every key
    const char *config_key;     // canonical text of the keys that change results
    const char *config_source;  // the file as written plus the --set overrides
    const char *version;
    const char *git_commit;
    const char *libraries;
    const char *device;
    const char *weights_checksum;   // pc_hash_file of the weights, 16 hex digits ("" = unknown)
    int shard_index, shard_count;   // [run] shard (0/1 when not sharded; count 0 is taken as 0/1)
    int n_run_data;                 // run-level datasets (RISE's masks), written at creation
    const PcRunData *run_data;
    // Further run-level objects written at creation (the 8-bit precisions' /quant, quant.c):
    // write_extra(file, extra) 0, or -1 with err set. NULL = none.
    int (*write_extra)(hid_t file, const void *extra, PcError *err);
    const void *extra;
} PcStoreMeta;

// Results of one image, host memory, sized by pc_result_init.
typedef struct {
    int index;              // image index in the run (0 .. n_images-1)
    char status[512];       // "ok" or the reason the image was skipped
    int cls;                // explained class, -1 when skipped
    float score;            // f_c(X), NaN when skipped
    float *maps;            // (n_methods, S, S), zeros when maps = none or skipped
    double *ins_auc;        // (n_methods)
    double *del_auc;        // (n_methods)
    float *ins_scores;      // (n_methods, T)
    float *del_scores;      // (n_methods, T)
    double *sens;           // (n_methods) sensitivity-max, NaN when not computed
    double *energy;         // (n_methods) energy in mask, NaN when not computed (no mask, NaN map)
    int *pointing;          // (n_methods) pointing hit 1 / 0, -1 when not computed
} PcImageResult;

void pc_result_init(PcImageResult *r, const PcStoreLayout *layout);
// Clears r for image index: status "ok", class -1, NaN scores and energies, pointing -1, zero maps.
void pc_result_reset(PcImageResult *r, const PcStoreLayout *layout, int index);
void pc_result_free(PcImageResult *r);

// /images/status of an image whose methods all ran but some gave a NaN map (a constant map before
// torchcam's min-max, as the library does): the ids of every such method, then this suffix,
// "gradcam, gradcampp: NaN map (...)". Those methods' AUCs, sensitivity and localisation stay
// NaN / not computed, so the image leaves their rows only. Files written before the list named
// only the last such method (the same form with one id); their other NaN methods' values are NaN
// too, so they read the same way.
#define PC_STATUS_NAN_MAP ": NaN map (constant before min-max, as the library)"
// 1 when an image with this status enters the means: "ok", or a NaN-map status (each method's row
// then keeps the image where the method's values are finite).
int pc_status_usable(const char *status);
// 1 for a NaN-map status (above).
int pc_status_is_nan_map(const char *status);
// Writes the NaN-map status naming the n ids (n >= 1) into buf; ids that do not fit are counted
// ("a, b and 3 more: NaN map ...").
void pc_status_nan_maps(char *buf, size_t cap, const char *const *ids, int n);

// The fixed-size binary form of one result in the journal (maps in the stored precision).
size_t pc_result_bytes(const PcStoreLayout *l);
void pc_result_pack(const PcStoreLayout *l, const PcImageResult *r, unsigned char *out);
void pc_result_unpack(const PcStoreLayout *l, const unsigned char *in, PcImageResult *r);

// ---- writing ----------------------------------------------------------------------------------

typedef struct PcLayoutWriter PcLayoutWriter;

// Creates the file (truncating it) with every dataset at full size and the root attributes; key
// is the store's fingerprint (config_key attribute). NULL with err on failure (nothing left open).
PcLayoutWriter *pc_layout_create(const char *path, const PcStoreLayout *l, const PcStoreImages *im,
                                 const PcStoreMeta *meta, const char *key, const char *start_time, PcError *err);
// Writes the results of image r->index, its done flag last, and the n_done attribute.
int pc_layout_write(PcLayoutWriter *w, const PcImageResult *r, int n_done, PcError *err);
int pc_layout_flush(PcLayoutWriter *w, PcError *err);
// Writes end_time and complete = 1, flushes and closes (w is freed whatever the result).
int pc_layout_finish(PcLayoutWriter *w, PcError *err);
// Closes without finishing (the file stays as it is).
void pc_layout_close(PcLayoutWriter *w);

// ---- reading ----------------------------------------------------------------------------------

typedef struct PcJournalRows PcJournalRows;   // results_journal.h

typedef struct {
    char *path;
    hid_t f;
    PcStoreLayout layout;       // size / steps 0 when the file does not say
    char (*ids)[PC_METHOD_ID_LEN];
    int n;                      // images
    char **names, **status;     // (n)
    int *index, *label, *done;  // (n)
    int n_done, complete;
    char *config, *config_key, *config_source, *device, *libraries, *weights_checksum;
    int shard_index, shard_count;   // -1 when the file does not say (older files)
    hid_t d_class, d_score;
    hid_t *sets;                // (8, n_methods): map, ins auc, ins scores, del auc, del scores, sensitivity,
                                // energy, pointing
    PcJournalRows *journal;     // images of a .partial read from its journal (results_journal.h), or NULL
} PcResultFile;

// Opens a result file (finished or .partial) and reads its attributes and /images.
int pc_results_open(PcResultFile *rf, const char *path, PcError *err);
// Reads the results of row `row` into r (maps converted to float32).
int pc_results_read(const PcResultFile *rf, int row, PcImageResult *r, PcError *err);
// Insertion (deletion = 0) or deletion AUCs of method m, (n) malloc'd; NULL when not stored.
double *pc_results_auc(const PcResultFile *rf, int m, int deletion);
// Per-step scores of method m, (n, T) malloc'd; NULL when that curve is not stored.
float *pc_results_scores(const PcResultFile *rf, int m, int deletion);
// The (S, S) map of method m for image `row`, as float32; -1 when maps are not stored.
int pc_results_map(const PcResultFile *rf, int m, int row, float *out);
// A per-image value of method m beside the layout's own (e.g. "sensitivity"): (n) malloc'd, NULL
// when the file has none.
double *pc_results_extra(const PcResultFile *rf, int m, const char *what);
// Pointing hits of method m, (n) malloc'd (1 hit, 0 miss, -1 not computed); NULL when the file has
// no localisation. The energies are pc_results_extra(rf, m, "localisation/energy").
int *pc_results_pointing(const PcResultFile *rf, int m);
void pc_results_close(PcResultFile *rf);

#endif
