// dataset.h: the images of a run (the list file sliced by offset / limit / shard, with labels) and
// a decode pool: pthreads that read, decode and preprocess images ahead of the backend into a
// bounded ring, handing them out in list order.
#ifndef PC_DATASET_H
#define PC_DATASET_H

#include "config.h"
#include "image.h"

typedef struct {
    int n;                  // images of this run
    char **names;           // (n) as written in the list
    char **paths;           // (n) root/name
    int *labels;            // (n) ground-truth class, -1 when unknown
    int *list_index;        // (n) 0-based line position in the list (comments and blanks skipped)
    int n_listed;           // entries in the whole list
} PcDataset;

// Reads cfg->list (first word of each line; blank lines and '#' comments skipped) and
// cfg->labels ('<name> <class> ...' lines; a list entry matches by its full name or its base
// name). Errors: missing list, root or labels file, a malformed label line, an empty selection.
int pc_dataset_load(const PcConfig *cfg, PcDataset *ds, PcError *err);
void pc_dataset_free(PcDataset *ds);

// Class names, one a line; returns the count (>= 1) or -1 with err set.
int pc_read_class_names(const char *path, char ***names, PcError *err);

typedef struct {
    int k;                  // position in the order handed to pc_prefetch_start
    int index;              // image index in the dataset
    int ok;                 // decoded and preprocessed
    char error[512];        // why not, when !ok
    float *x;               // (3, S, S) normalised network input
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
