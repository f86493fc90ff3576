// merge.h: `polycam-eval --merge OUT.h5 SHARD.h5 ...` joins the finished result files of a
// sharded run ([run] shard = i/n, one file per shard) into the file the unsharded run would have
// written: images back in list order, the same datasets, and a config whose shard is 0/1, so that
// rerunning the unsharded config on OUT.h5 finds it complete.
#ifndef PC_MERGE_H
#define PC_MERGE_H

#include "store.h"

// Every shard 0..n-1 must be given once, finished, with the same configuration apart from the
// shard. mode: PC_STORE_FORCE overwrites OUT.h5; otherwise an existing OUT.h5 of another
// configuration is refused.
int pc_merge(const char *out_path, int n_inputs, char *const *inputs, PcStoreMode mode, const char *git_commit,
             PcError *err);

#endif
