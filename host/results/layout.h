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
//   NaN = not computed or the library's NaN; sensitivity.h)
//   /methods/<id>/localisation/energy (N) f64 (NaN = not computed), .../localisation/pointing (N)
//   i8 (1 hit, 0 miss, -1 not computed): SPEC §10, only when the run has [data] masks;
//   beside them .../localisation/pointing_tol (N) i8 (the pointing game with [data]
//   pointing_tolerance, attribute tolerance) and .../localisation/rank (N) f64 relevance rank
//   accuracy (localisation.h; files written before them have neither)
//   /methods/<id>/sensitivity_avg (N) f64 avg-sensitivity beside sensitivity-max (sensitivity.h;
//   files written before it have sensitivity alone)
//   /classes (K) str (when class names are known)
//   /quant: the 8-bit precisions' layers, input scales and accuracy guard (quant_file.h), only in
//   fp8 / int8 runs
//   /reference_classes: the reference's class per image and the agreement (refclass.h), only with
//   [data] reference_classes; the attributes of description.h on the method and curve groups and root
//   root attributes: config, config_source, config_key, method_ids, map_side, steps, shard (i, n),
//   weights_checksum, version, git_commit, libraries, device, start_time, end_time, n_images,
//   n_done, complete.
// Strings are UTF-8; bytes that are not valid UTF-8 (file names) are written as \xNN.
#ifndef PC_LAYOUT_H
#define PC_LAYOUT_H

#include <hdf5.h>

#include "common.h"
#include "maps_format.h"
#include "safe_text.h"     // PC_METHOD_ID_LEN



// A per-method dataset of a further metric (metric_store.h): /methods/<id>/<name>, (N, width), or
// (N) when width is 1, stored as `type` (fill NaN, or -1 for i8), attribute "description". In
// memory, a method's sets are consecutive doubles of PcImageResult.extra (i8: 1 / 0, NaN = -1).
typedef enum { PC_EXTRA_F64 = 0, PC_EXTRA_F32, PC_EXTRA_I8 } PcExtraType;
typedef struct {
    char name[48];          // "road/morf_scores"
    int width;              // values per image
    PcExtraType type;
    const char *column;     // table column of a scalar set ("ROAD MoRF"), NULL = none
    const char *description;
} PcExtraSet;
#define PC_MAX_EXTRA 32

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
    int sensitivity_avg;                    // /methods/<id>/sensitivity_avg stored (with sensitivity)
    int loc_more;                           // localisation/pointing_tol and rank stored (with localisation)
    int pointing_tol;                       // the tolerance of pointing_tol, pixels (its attribute)
    int n_extra;                            // perturbation metrics' sets (metric_store.h)
    PcExtraSet extra[PC_MAX_EXTRA];
} PcStoreLayout;

// Doubles per method in PcImageResult.extra: the sum of the extra sets' widths.
int pc_layout_extra_width(const PcStoreLayout *l);
// 0 when a and b store the same per-image rows (methods, map side and format, steps, curves and
// every further set with its width; n_images may differ), else 1 with the first difference in why
// ("map_side 8 there, 16 here"). Files merged into one must agree: a row is read into memory sized
// by the first file's layout.
int pc_layout_difference(const PcStoreLayout *a, const PcStoreLayout *b, char *why, size_t cap);

// What is known of every image before the run (written when the file is created).
typedef struct {
    char **names;           // (n_images)
    const int *labels;      // (n_images), -1 = unknown
    const int *list_index;  // (n_images)
    int n_class_names;      // 0 = none
    char **class_names;     // (n_class_names)
    // [data] reference_classes (refclass.h): the reference's class of each image (-1 = none) and
    // the file it came from; NULL = no /reference_classes
    const int *reference_classes;
    const char *reference_file;
} PcStoreImages;

typedef struct PcRunData PcRunData;   // run_data.h

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
    // Further run-level objects written at creation (the 8-bit precisions' /quant, quant_file.c):
    // write_extra(file, extra) 0, or -1 with err set. NULL = none.
    int (*write_extra)(hid_t file, const void *extra, PcError *err);
    const void *extra;
    // The descriptions of the methods, curves and inputs (description.h); NULL = none written.
    const struct PcDescription *describe;
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
    double *sens_avg;       // (n_methods) avg-sensitivity, NaN when not computed
    int *pointing_tol;      // (n_methods) pointing hit within the tolerance, -1 when not computed
    double *rank;           // (n_methods) relevance rank accuracy, NaN when not computed
    double *extra;          // (n_methods, extra width) the extra sets' values, NaN when not computed
} PcImageResult;

void pc_result_init(PcImageResult *r, const PcStoreLayout *layout);
// Clears r for image index: status "ok", class -1, NaN scores and energies, pointing -1, zero maps.
void pc_result_reset(PcImageResult *r, const PcStoreLayout *layout, int index);
void pc_result_free(PcImageResult *r);
// Copies src's values into dst (both sized by pc_result_init for l); the maps too unless either's
// maps is NULL. dst's index stays.
void pc_result_copy(PcImageResult *dst, const PcImageResult *src, const PcStoreLayout *l);

// /images/status of an image whose methods all ran but some gave a NaN map (a constant map before
// torchcam's min-max, as the library does): the ids of every such method, then this suffix,
// "gradcam, gradcampp: NaN map (...)". Those methods' AUCs, sensitivity and localisation stay
// NaN / not computed, so the image leaves their rows only. Files written before the list named
// only the last such method (the same form with one id); their other NaN methods' values are NaN
// too, so they read the same way.
#define PC_STATUS_NAN_MAP ": NaN map (constant before min-max, as the library)"
// The same for methods that have no map of the image (ext:NAME whose file lacks it, external.h):
// "ext:a: no map in the external file". With both kinds, the NaN part comes first and "; " joins
// them: "gradcam: NaN map (...); ext:a: no map in the external file".
#define PC_STATUS_NO_MAP ": no map in the external file"
// 1 when an image with this status enters the means: "ok", or a status made of the parts above
// (each method's row then keeps the image where the method's values are finite).
int pc_status_usable(const char *status);
// 1 for a status with a NaN-map part (above).
int pc_status_is_nan_map(const char *status);
// 1 for a status with a no-map part (above).
int pc_status_is_no_map(const char *status);
// Writes the NaN-map status naming the n ids (n >= 1) into buf; ids that do not fit are counted
// ("a, b and 3 more: NaN map ...").
void pc_status_nan_maps(char *buf, size_t cap, const char *const *ids, int n);
// The status of both kinds: the NaN-map part naming nan_ids (when n_nan > 0), then the no-map
// part naming absent_ids (when n_absent > 0). n_nan + n_absent >= 1.
void pc_status_partial_maps(char *buf, size_t cap, const char *const *nan_ids, int n_nan,
                            const char *const *absent_ids, int n_absent);

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

// Rows that replace the file's own in every reader below: a running output's images that its
// journal holds and its .partial does not show yet (results_journal.h installs it). Without one
// (values == NULL) the readers return the file as it is.
typedef struct {
    void *ctx;
    // Row's values (maps NULL), or NULL when row is not an added row.
    const PcImageResult *(*values)(void *ctx, int row);
    // Row's whole result, maps too, into r (sized by pc_result_init): 0, or -1 when it cannot be
    // read back. Called only for rows that values() returns.
    int (*read)(void *ctx, int row, PcImageResult *r);
    void (*free)(void *ctx);
} PcRowsOverlay;


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
    hid_t *sets;                // (11, n_methods): map, ins auc, ins scores, del auc, del scores, sensitivity,
                                // energy, pointing, sensitivity_avg, pointing_tol, rank
    hid_t *xsets;               // (n_methods, layout.n_extra) the extra sets
    PcRowsOverlay overlay;      // rows a reader adds over the file's (results_journal.h), or none
} PcResultFile;

// Opens a result file (finished or .partial) and reads its attributes and /images. Every dataset is
// checked against the file's own N, map_side and steps (h5shape.h) and every method id and image
// name against the allowed set (safe_text.h) before anything is read: a mismatch is refused in one
// line naming the file, the dataset, the expected and the found shape.
int pc_results_open(PcResultFile *rf, const char *path, PcError *err);
// Reads the results of row `row` into r (maps converted to float32).
int pc_results_read(const PcResultFile *rf, int row, PcImageResult *r, PcError *err);
// Insertion (deletion = 0) or deletion AUCs of method m, (n) malloc'd; NULL when not stored.
double *pc_results_auc(const PcResultFile *rf, int m, int deletion);
// Per-step scores of method m, (n, T) malloc'd; NULL when that curve is not stored or holds no
// value yet (err->msg empty), or when reading it would take more memory than the file can hold
// (h5shape.h: pc_h5_budget; err says so).
float *pc_results_scores(const PcResultFile *rf, int m, int deletion, PcError *err);
// The (S, S) map of method m for image `row`, as float32; -1 when maps are not stored.
int pc_results_map(const PcResultFile *rf, int m, int row, float *out);
// A per-image value of method m beside the layout's own (e.g. "sensitivity"): (n) malloc'd, NULL
// when the file has none.
double *pc_results_extra(const PcResultFile *rf, int m, const char *what);
// Pointing hits of method m, (n) malloc'd (1 hit, 0 miss, -1 not computed); NULL when the file has
// no localisation. The energies are pc_results_extra(rf, m, "localisation/energy").
int *pc_results_pointing(const PcResultFile *rf, int m);
// The same for localisation/pointing_tol; NULL when the file has none.
int *pc_results_pointing_tol(const PcResultFile *rf, int m);
void pc_results_close(PcResultFile *rf);

#endif
