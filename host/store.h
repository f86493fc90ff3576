// store.h: the HDF5 result file of a run, written image by image so a killed run can be resumed.
//
// Crash safety: while a run is going the results live in two files beside the output:
//   <file>.journal  append-only binary journal, one checksummed record per finished image (the truth)
//   <file>.partial  the HDF5 file being filled (flushed after every image, done flag written last)
// An HDF5 1.10 file killed in the middle of a write can be left unreadable or silently
// inconsistent, so a resumed run never trusts the old .partial: it rebuilds it from the journal
// (dropping a torn last record) and continues with the images the journal lacks. When every image
// is done the .partial is closed, renamed to <file> and the journal removed.
//
// Layout of <file> (N images, S = map side, T = curve steps):
//   /images/name (N) str, /images/index (N) i32 position in the list, /images/label (N) i32 (-1 =
//   unknown), /images/class (N) i32 explained class, /images/score (N) f32 f_c(X),
//   /images/status (N) str "ok" or the error, /images/done (N) u8 (1 = every dataset written)
//   /methods/<id>/map (N, S, S) f16|f32, chunk (1, S, S), shuffle + deflate
//   /methods/<id>/insertion/auc (N) f64, /methods/<id>/insertion/scores (N, T) f32, same deletion/
//   /classes (K) str (when class names are known)
//   root attributes: config, config_source, config_key, method_ids, version, git_commit,
//   libraries, device, start_time, end_time, n_images, n_done, complete.
#ifndef PC_STORE_H
#define PC_STORE_H

#include <hdf5.h>

#include "config.h"

#define PC_METHOD_ID_LEN 96

typedef struct {
    int n_images;
    int size;                               // S
    int steps;                              // T
    int n_methods;
    char (*method_ids)[PC_METHOD_ID_LEN];   // (n_methods)
    PcMapsFormat maps;
    int insertion, deletion;
} PcStoreLayout;

// What is known of every image before the run (written when the file is created).
typedef struct {
    char **names;           // (n_images)
    const int *labels;      // (n_images), -1 = unknown
    const int *list_index;  // (n_images)
    int n_class_names;      // 0 = none
    char **class_names;     // (n_class_names)
} PcStoreImages;

// Text written as root attributes.
typedef struct {
    const char *config;         // canonical text, every key
    const char *config_key;     // canonical text of the keys that change results
    const char *config_source;  // the file as written plus the --set overrides
    const char *version;
    const char *git_commit;
    const char *libraries;
    const char *device;
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
} PcImageResult;

void pc_result_init(PcImageResult *r, const PcStoreLayout *layout);
// Clears r for image index: status "ok", class -1, NaN scores, zero maps.
void pc_result_reset(PcImageResult *r, const PcStoreLayout *layout, int index);
void pc_result_free(PcImageResult *r);

typedef enum {
    PC_STORE_CONTINUE = 0,  // default: continue a run of the same config, refuse a different one
    PC_STORE_RESUME,        // --resume: the same (named for scripts that want to say it)
    PC_STORE_FORCE,         // --force: delete any previous output and start over
} PcStoreMode;

typedef struct {
    char *path, *partial_path, *journal_path;
    PcStoreLayout layout;
    int complete;           // the finished output already exists with this config: nothing to do
    int n_done;
    unsigned char *done;    // (n_images) 1 = results stored
    int n_replayed;         // records recovered from the journal on open
    int n_dropped_bytes;    // torn tail removed from the journal
    // open handles (while running)
    hid_t file;
    hid_t half_type;
    hid_t d_class, d_score, d_status, d_done;
    hid_t *d_map, *d_ins_auc, *d_ins_scores, *d_del_auc, *d_del_scores;   // (n_methods)
    FILE *journal;
    char *key;              // full fingerprint: config_key + layout
    unsigned char *record;  // journal record buffer
    size_t record_bytes;
    uint16_t *half_buf;     // (S, S)
} PcStore;

// Opens the output for a run (see the header comment). On a config mismatch returns -1 with a
// message naming the first differing key. Creates the output folder when missing. With
// st->complete set on return, the caller has nothing to compute (the store holds no handles).
// Call pc_store_close afterwards whatever the result.
int pc_store_open(PcStore *st, const char *path, const PcStoreLayout *layout,
                  const PcStoreImages *images, const PcStoreMeta *meta, PcStoreMode mode,
                  PcError *err);
// Appends r to the journal, writes it into the HDF5 file and marks the image done (last), then
// flushes both.
int pc_store_write(PcStore *st, const PcImageResult *r, PcError *err);
// Every image done: writes end_time and complete, closes, renames <file>.partial to <file> and
// removes the journal.
int pc_store_finish(PcStore *st, PcError *err);
// Releases handles and memory (the files stay as they are; a later run resumes them).
void pc_store_close(PcStore *st);

// Round-to-nearest-even float -> IEEE half bits (maps are stored as float16 by default).
uint16_t pc_f32_to_f16(float f);

// Reads a string attribute of the root of an HDF5 file (malloc'd), NULL when absent.
char *pc_h5_read_root_attr(hid_t file, const char *name);

// Every string of a 1-D variable-length string dataset (is_attr = 0) or attribute (is_attr = 1),
// read in the stored character set (HDF5 1.10 does not convert ASCII <-> UTF-8). Returns a
// malloc'd array of malloc'd strings (free with pc_h5_free_strings) and the count in *n, or NULL.
char **pc_h5_read_strings(hid_t obj, int is_attr, size_t *n);
void pc_h5_free_strings(char **s, size_t n);

// Reads row `index` (along the first dimension) of a rank 1..3 dataset into buf, converted to
// memtype. Returns 0, or -1 when the row is out of range or the read fails.
int pc_h5_read_row(hid_t d, hsize_t index, hid_t memtype, void *buf);

#endif
