// merge_sanity.h: the /sanity groups of a sharded run's files in --merge (merge.h). Every shard
// with [sanity] enabled checks the first N readable images of its own share; the first N readable
// images of the whole list are among them (list entry j is in shard j mod n, at most N - 1
// readable entries of that shard before it), and each image's check depends on that image only.
// So the merged /sanity is the shards' checked images in list order, the first N kept: what the
// unsharded run would have written.
#ifndef PC_MERGE_SANITY_H
#define PC_MERGE_SANITY_H

#include "layout.h"

// Before the merge writes anything: either no shard has /sanity (0), or every one has one with
// the same methods, steps and seed and the same [sanity] images (images[k]: from the shard's
// configuration text, -1 when it does not say; replaced by /sanity's images_requested attribute
// where there is one). 1 = there is /sanity to merge; -1 with one line in err naming the files
// and the fix.
int pc_merge_sanity_check(const PcResultFile *const *shards, int *images, int n, PcError *err);

// Writes the merged /sanity into the finished output out_path (left alone when it already has
// one): the shards' checked images in list order, the first `want` of them (want < 0: all), their
// rows mapped to the output's rows; out_index (total) = the output's list indices, ascending.
int pc_merge_sanity_write(const char *out_path, const PcResultFile *const *shards, int n, int want,
                          const int *out_index, int total, PcError *err);

#endif
