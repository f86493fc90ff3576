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

struct PcJournalRows {
    char *path;             // the journal
    PcStoreLayout layout;   // the result file's (method_ids point into it)
    AddedRow **rows;        // (n_images) NULL = not added
    unsigned char *record;  // (pc_result_bytes) payload buffer
    PcImageResult whole;    // the last record read back whole (maps too), image whole_row
    int whole_row;          // -1 = none
};

void pc_journal_rows_free(PcJournalRows *j) {
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

// Copies src's values into dst (both sized by pc_result_init for l); the maps too unless dst->maps
// is NULL. The index stays dst's.
static void copy_values(PcImageResult *dst, const PcImageResult *src, const PcStoreLayout *l) {
    const size_t m = (size_t)l->n_methods, t = m * (size_t)l->steps;
    dst->cls = src->cls;
    dst->score = src->score;
    memcpy(dst->status, src->status, sizeof dst->status);
    if (dst->maps) memcpy(dst->maps, src->maps, m * (size_t)l->size * (size_t)l->size * sizeof(float));
    memcpy(dst->ins_auc, src->ins_auc, m * sizeof(double));
    memcpy(dst->del_auc, src->del_auc, m * sizeof(double));
    memcpy(dst->ins_scores, src->ins_scores, t * sizeof(float));
    memcpy(dst->del_scores, src->del_scores, t * sizeof(float));
    memcpy(dst->sens, src->sens, m * sizeof(double));
    memcpy(dst->energy, src->energy, m * sizeof(double));
    memcpy(dst->pointing, src->pointing, m * sizeof(int));
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
    copy_values(&a->r, &jr->whole, &jr->layout);
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

int pc_results_add_journal(PcResultFile *rf, int *added, PcError *err) {
    if (added) *added = 0;
    char *path = rf->complete || rf->journal ? NULL : journal_path(rf->path);
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
    rf->journal = jr;
    return 0;
}

// ---- the readers' values ----------------------------------------------------------------------

void pc_journal_rows_f64(const PcJournalRows *j, int m, const char *what, double *v) {
    for (int i = 0; j && v && i < j->layout.n_images; i++) {
        const AddedRow *a = j->rows[i];
        if (!a) continue;
        if (!strcmp(what, "insertion/auc")) v[i] = a->r.ins_auc[m];
        else if (!strcmp(what, "deletion/auc")) v[i] = a->r.del_auc[m];
        else if (!strcmp(what, "sensitivity")) v[i] = a->r.sens[m];
        else if (!strcmp(what, "localisation/energy")) v[i] = a->r.energy[m];
    }
}

void pc_journal_rows_scores(const PcJournalRows *j, int m, int deletion, float *v) {
    const size_t t = j ? (size_t)j->layout.steps : 0;
    for (int i = 0; j && v && i < j->layout.n_images; i++) {
        const AddedRow *a = j->rows[i];
        if (a) memcpy(v + (size_t)i * t, (deletion ? a->r.del_scores : a->r.ins_scores) + (size_t)m * t, t * sizeof(float));
    }
}

void pc_journal_rows_pointing(const PcJournalRows *j, int m, int *v) {
    for (int i = 0; j && v && i < j->layout.n_images; i++)
        if (j->rows[i]) v[i] = j->rows[i]->r.pointing[m];
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

int pc_journal_rows_map(PcJournalRows *j, int m, int row, float *out) {
    if (!j || row < 0 || row >= j->layout.n_images || !j->rows[row]) return 0;
    if (read_whole(j, row)) return -1;
    const size_t ss = (size_t)j->layout.size * (size_t)j->layout.size;
    memcpy(out, j->whole.maps + (size_t)m * ss, ss * sizeof(float));
    return 1;
}

int pc_journal_rows_read(PcJournalRows *j, int row, PcImageResult *r) {
    if (!j || row < 0 || row >= j->layout.n_images || !j->rows[row]) return 0;
    if (read_whole(j, row)) return -1;
    copy_values(r, &j->whole, &j->layout);
    return 1;
}
