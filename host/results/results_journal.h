// results_journal.h: the images of a running or interrupted output that its journal holds but its
// .partial does not show yet, for --report and --table (docs/output.md).
//
// A run appends each image to <file>.journal first, then writes it into <file>.partial (store.h).
// A reader of the .partial alone can miss the images in between (one for a live run; after a kill
// any image the .partial had not flushed yet). A resume counts every intact journal record, so
// the readers count them too: the journal is read as a resume reads it (journal.h's
// pc_journal_next, layout.h's pc_result_unpack), but read-only. Nothing here writes the .partial
// or the journal or touches <file>.lock, so a running writer is never disturbed; a record the
// writer is appending meanwhile reads as a torn last record and is left out, as a resume would
// cut it off.
//
// The added images' values (status, class, AUCs, curves, sensitivity, localisation, the further
// metrics' sets) are kept in memory; their maps are read from the journal when asked for
// (pc_results_map / _read). They reach layout.c's readers through rf->overlay (layout.h's
// PcRowsOverlay), so layout.c does not depend on this file.
#ifndef PC_RESULTS_JOURNAL_H
#define PC_RESULTS_JOURNAL_H

#include "layout.h"

// For a result file opened from <file>.partial and not complete: reads <file>.journal and adds
// every intact record of an image the .partial does not mark done (rf->done, rf->status and
// rf->n_done follow; rf->overlay makes the pc_results_* readers return the record's values for it). *added (when not
// NULL) gets the number of images added. 0 also when there is no journal or it holds no record
// yet; -1 with one line in err when the journal cannot be read or is of another run than the
// .partial (rf is then left as the .partial has it).
int pc_results_add_journal(PcResultFile *rf, int *added, PcError *err);

#endif
