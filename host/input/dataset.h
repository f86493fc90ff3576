// dataset.h: the images of a run (the list file sliced by offset / limit / shard, with labels) and
// a decode pool: pthreads that read, decode and preprocess images ahead of the backend into a
// bounded ring, handing them out in list order.
#ifndef PC_DATASET_H
#define PC_DATASET_H

#include <stdio.h>

#include "image.h"

// Which images a run takes: the list, sliced by offset / limit, then by shard.
typedef struct {
    const char *list;           // image list file: first word of each line
    const char *root;           // folder the list's names are relative to
    const char *labels;         // '<name> <class> ...' lines, or NULL
    const char *masks;          // folder of object masks (mask.h), or NULL
    long offset, limit;         // slice of the list; limit 0 = to the end
    int shard_index, shard_count;   // then only list positions i with i % count == index
} PcDatasetSpec;

typedef struct {
    int n;                  // images of this run
    char **names;           // (n) as written in the list
    char **paths;           // (n) root/name
    int *labels;            // (n) ground-truth class, -1 when unknown
    int *list_index;        // (n) 0-based line position in the list (comments and blanks skipped)
    int n_listed;           // entries in the whole list
    int n_labelled;         // images of this run with a label
    char **mask_paths;      // (n) object mask of each image (NULL: none); NULL without [data] masks
    int n_masked;           // images of this run with a mask
} PcDataset;

// Reads spec->list (first word of each line; blank lines and '#' comments skipped; a UTF-8 byte
// order mark ignored) and spec->labels ('<name> <class> ...' lines; a list entry matches by its
// full name or its base name; a name given twice keeps its first line). Errors: missing list, root
// or labels file, a malformed label line, an empty selection. Warnings, one line each, go to warn
// (when not NULL): duplicate label lines (naming both lines, and both classes when they differ)
// and a labels file that matches no image of the run. With spec->masks: an error when the folder is
// missing or holds no mask of the run's images, a warning naming the first image without one.
int pc_dataset_load(const PcDatasetSpec *spec, FILE *warn, PcDataset *ds, PcError *err);
void pc_dataset_free(PcDataset *ds);

// --check's look at the image files: an error when not one image of the run is in root (a wrong
// [data] root, or the images not there yet), naming the first path and what to set; a warning
// line to warn when some are missing (the run would skip them). Reads no image.
int pc_dataset_check_files(const PcDataset *ds, const char *root, FILE *warn, PcError *err);

// Class names, one a line; returns the count (>= 1) or -1 with err set.
int pc_read_class_names(const char *path, char ***names, PcError *err);

typedef struct {
    int k;                  // position in the order handed to pc_prefetch_start
    int index;              // image index in the dataset
    int ok;                 // decoded and preprocessed
    char error[512];        // why not, when !ok
    float *x;               // (3, S, S) normalised network input
    int has_mask;           // the dataset has a mask for this image and mask holds it
    unsigned char *mask;    // (S, S) 0/1 object mask at the input grid (mask.h)
} PcPrefetchItem;

typedef struct PcPrefetcher PcPrefetcher;

// Starts n_threads decoders over the n dataset indices in order[] (copied), keeping at most depth
// images decoded ahead.
PcPrefetcher *pc_prefetch_start(const PcDataset *ds, const int *order, int n, PcResizeMode mode, int size,
                                int n_threads, int depth);
// The next image in order (blocks until decoded); NULL after the last one.
PcPrefetchItem *pc_prefetch_next(PcPrefetcher *p);
// Hands the item's slot back to the decoders (items are released in the order they came).
void pc_prefetch_release(PcPrefetcher *p, PcPrefetchItem *item);
// Stops the decoders (also mid-way) and frees everything.
void pc_prefetch_stop(PcPrefetcher *p);

#endif
