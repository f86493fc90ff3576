// results_journal.c: a running output's journal records added to the readers of its .partial
// (results_journal.h). The journal is read with journal.c's own reader, as a resume reads it.
#define _GNU_SOURCE
#include "results_journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5util.h"
#include "journal.h"
#include "store.h"

typedef struct {
    long offset;            // where its record starts in the journal (for the map, read when asked)
    PcImageResult r;        // the record's values; r.maps NULL (not kept)
} AddedRow;

typedef struct PcJournalRows {
    char *path;             // the journal
    PcStoreLayout layout;   // the result file's (method_ids point into it)
    AddedRow **rows;        // (n_images) NULL = not added
    unsigned char *record;  // (pc_result_bytes) payload buffer
    PcImageResult whole;    // the last record read back whole (maps too), image whole_row
    int whole_row;          // -1 = none
} PcJournalRows;

static void rows_free(void *ctx) {
    PcJournalRows *j = ctx;
    if (!j) return;
    for (int i = 0; j->rows && i < j->layout.n_images; i++) {
        if (!j->rows[i]) continue;
        pc_result_free(&j->rows[i]->r);
        free(j->rows[i]);
    }
    pc_result_free(&j->whole);
    free(j->rows);
    free(j->record);
    free(j->path);
    free(j);
}

// "<file>.journal" for "<file>.partial", or NULL when path is not a .partial.
static char *journal_path(const char *path) {
    size_t n = strlen(path), s = strlen(".partial");
    if (n <= s || strcmp(path + n - s, ".partial")) return NULL;
    char *j = xmalloc(n - s + sizeof ".journal");
    snprintf(j, n - s + sizeof ".journal", "%.*s.journal", (int)(n - s), path);
    return j;
}

// Keeps the record just read (jr->whole, from `offset`) as image `index`'s added row.
static void keep_row(PcJournalRows *jr, int index, long offset) {
    AddedRow *a = jr->rows[index];
    if (!a) {
        a = jr->rows[index] = xcalloc(1, sizeof *a);
        pc_result_init(&a->r, &jr->layout);
        free(a->r.maps);    // maps are read back from the journal when asked for
        a->r.maps = NULL;
    }
    a->offset = offset;
    a->r.index = index;
    pc_result_copy(&a->r, &jr->whole, &jr->layout);
}

// Every intact record of an image the .partial has not marked done (or added before: a later
// record of an image replaces the earlier one, as a resume's replay does) into jr; rf follows.
static int read_records(PcResultFile *rf, PcJournalRows *jr, PcJournal *j) {
    const size_t bytes = pc_result_bytes(&jr->layout);
    int index, added = 0;
    for (long at = j->good_end; pc_journal_next(j, rf->n, &index, jr->record, bytes); at = j->good_end) {
        if (rf->done[index] == 1 && !jr->rows[index]) continue;   // the .partial has it
        pc_result_reset(&jr->whole, &jr->layout, index);
        pc_result_unpack(&jr->layout, jr->record, &jr->whole);
        added += !jr->rows[index];
        keep_row(jr, index, at);
        free(rf->status[index]);
        rf->status[index] = pc_utf8_clean(jr->whole.status);   // as the .partial stores it (layout.c)
        rf->done[index] = 1;
    }
    jr->whole_row = -1;
    rf->n_done = 0;
    for (int i = 0; i < rf->n; i++) rf->n_done += rf->done[i] == 1;
    return added;
}

static const PcImageResult *rows_values(void *ctx, int row);
static int rows_read(void *ctx, int row, PcImageResult *r);

int pc_results_add_journal(PcResultFile *rf, int *added, PcError *err) {
    if (added) *added = 0;
    char *path = rf->complete || rf->overlay.values ? NULL : journal_path(rf->path);
    if (!path || access(path, F_OK) != 0) {   // a finished file, or a run that has no journal (yet)
        free(path);
        return 0;
    }
    PcJournal j;
    PcJournalHeader h;
    PcError e;
    int valid = pc_journal_open_read(&j, path, &h, &e);
    if (valid < 0) pc_fail(err, "%s; the images only it holds are left out", e.msg);
    if (valid <= 0) {   // 0: a torn header, a run that stopped before its first image (nothing to add)
        free(path);
        return valid;
    }
    int rc = 0;
    // the .partial's key is the journal's, or a newer form of it (a journal older than the weights
    // checksum, resumed: store.c rebuilt the .partial with the new key)
    if (!pc_store_keys_match(h.key, rf->config_key))
        rc = pc_fail(err, "%s: left out: it is the journal of another run than %s (another configuration)", path,
                     rf->path);
    pc_journal_header_free(&h);
    if (rc) {
        pc_journal_close(&j);
        free(path);
        return rc;
    }
    PcJournalRows *jr = xcalloc(1, sizeof *jr);
    jr->path = path;
    jr->layout = rf->layout;
    jr->layout.n_images = rf->n;
    jr->rows = xcalloc((size_t)(rf->n > 0 ? rf->n : 1), sizeof(AddedRow *));
    jr->record = xmalloc(pc_result_bytes(&jr->layout));
    pc_result_init(&jr->whole, &jr->layout);
    int n = read_records(rf, jr, &j);
    pc_journal_close(&j);
    if (added) *added = n;
    rf->overlay = (PcRowsOverlay){.ctx = jr, .values = rows_values, .read = rows_read, .free = rows_free};
    return 0;
}

// ---- the overlay (layout.h's PcRowsOverlay) -------------------------------------------------------

static const PcImageResult *rows_values(void *ctx, int row) {
    const PcJournalRows *j = ctx;
    return row >= 0 && row < j->layout.n_images && j->rows[row] ? &j->rows[row]->r : NULL;
}

// Reads image row's record back whole into j->whole (kept for the next call): 0, or -1 when the
// journal no longer holds it intact (the writer finished and removed it, or a resume rebuilt it).
static int read_whole(PcJournalRows *j, int row) {
    if (j->whole_row == row) return 0;
    j->whole_row = -1;
    PcJournal jn;
    PcJournalHeader h;
    PcError e;
    if (pc_journal_open_read(&jn, j->path, &h, &e) <= 0) return -1;
    pc_journal_header_free(&h);
    int index = -1;
    int ok = fseek(jn.f, j->rows[row]->offset, SEEK_SET) == 0 &&
             pc_journal_next(&jn, j->layout.n_images, &index, j->record, pc_result_bytes(&j->layout)) && index == row;
    pc_journal_close(&jn);
    if (!ok) return -1;
    pc_result_reset(&j->whole, &j->layout, row);
    pc_result_unpack(&j->layout, j->record, &j->whole);
    j->whole_row = row;
    return 0;
}

static int rows_read(void *ctx, int row, PcImageResult *r) {
    PcJournalRows *j = ctx;
    if (!rows_values(j, row) || read_whole(j, row)) return -1;
    pc_result_copy(r, &j->whole, &j->layout);
    return 0;
}
