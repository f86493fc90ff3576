// dataset.c: image list, labels and the decode pool (see dataset.h). The pool is a ring of depth
// slots: decoder k fills slot k % depth once the consumer has released item k - depth, so memory
// stays bounded and the backend never waits for a JPEG while decoded images are queued.
#define _GNU_SOURCE
#include "dataset.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mask.h"
#include "safe_text.h"

// Splits a text into lines in place; calls fn(line, lineno, user) for each non-blank, non-comment
// line (leading/trailing blanks removed). Stops when fn returns non-zero.
static int for_each_line(char *text, int (*fn)(char *line, int lineno, void *user), void *user) {
    int lineno = 0;
    char *save = NULL;
    if (!strncmp(text, "\xEF\xBB\xBF", 3)) text += 3;   // a UTF-8 byte order mark is not part of a name
    for (char *p = text; p; p = save) {
        char *nl = strchr(p, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl) *nl = 0;
        lineno++;
        while (isspace((unsigned char)*p)) p++;
        size_t n = strlen(p);
        while (n && isspace((unsigned char)p[n - 1])) p[--n] = 0;
        if (!*p || *p == '#') continue;
        int rc = fn(p, lineno, user);
        if (rc) return rc;
    }
    return 0;
}

typedef struct {
    char **items;
    int n, cap;
} StrList;

static void strlist_push(StrList *l, const char *s, size_t len) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        char **grown = realloc(l->items, (size_t)l->cap * sizeof(char *));
        if (!grown) pc_die("alloc", "realloc", __FILE__, __LINE__, "string list");
        l->items = grown;
    }
    l->items[l->n++] = strndup(s, len);
}

typedef struct {
    StrList *list;
    const char *path;
    PcError *err;
} ListRead;

// The first word of a list line: an image name in the allowed set (safe_text.h), as the result file
// will store it (bytes that are not UTF-8 as \xNN), so every reader of the file accepts it.
static int collect_first_word(char *line, int lineno, void *user) {
    ListRead *r = user;
    size_t n = strcspn(line, " \t");
    line[n] = 0;
    char *stored = pc_utf8_clean(line), shown[160];
    const char *why = pc_name_problem(stored, 0);
    int rc = why ? pc_fail(r->err, "data list %s:%d: image name '%s' %s (allowed: docs/hostile-inputs.md)", r->path,
                           lineno, pc_printable(shown, sizeof shown, stored), why)
                 : 0;
    free(stored);
    if (!rc) strlist_push(r->list, line, n);
    return rc;
}

typedef struct {
    char *name;
    int label;
    int line;               // in the labels file
} LabelEntry;

typedef struct {
    LabelEntry *e;
    int n, cap;
    const char *path;
    PcError *err;
} LabelTable;

static int collect_label(char *line, int lineno, void *user) {
    LabelTable *t = user;
    char *name_end = line + strcspn(line, " \t");
    if (!*name_end) return pc_fail(t->err, "%s:%d: expected '<name> <class>'", t->path, lineno);
    *name_end = 0;
    char *cls = name_end + 1;
    while (*cls == ' ' || *cls == '\t') cls++;
    char *end;
    errno = 0;
    long v = strtol(cls, &end, 10);
    if (end == cls || errno || v < 0 || v > 1000000 || (*end && *end != ' ' && *end != '\t'))
        return pc_fail(t->err, "%s:%d: bad class '%.*s' (expected an integer >= 0)", t->path, lineno,
                       (int)strcspn(cls, " \t"), cls);
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 1024;
        LabelEntry *grown = realloc(t->e, (size_t)t->cap * sizeof *grown);
        if (!grown) pc_die("alloc", "realloc", __FILE__, __LINE__, "label table");
        t->e = grown;
    }
    t->e[t->n++] = (LabelEntry){strdup(line), (int)v, lineno};
    return 0;
}

// By name, then by line: the first line of a name comes first (and is the one kept).
static int cmp_label(const void *a, const void *b) {
    const LabelEntry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int cmp_label_name(const void *a, const void *b) {
    return strcmp(((const LabelEntry *)a)->name, ((const LabelEntry *)b)->name);
}

// Sorts the table and drops the later lines of a name given twice, with a warning for each (at
// most 5 lines, then a count).
static void dedupe_labels(LabelTable *t, FILE *warn) {
    qsort(t->e, (size_t)t->n, sizeof *t->e, cmp_label);
    int kept = 0, dups = 0;
    for (int i = 0; i < t->n; i++) {
        LabelEntry *first = kept ? &t->e[kept - 1] : NULL;
        if (!first || strcmp(first->name, t->e[i].name)) {
            t->e[kept++] = t->e[i];
            continue;
        }
        if (warn && ++dups <= 5) {
            if (t->e[i].label != first->label)
                fprintf(warn, "warning: labels %s:%d: '%s' has class %d here but %d on line %d; line %d is used\n",
                        t->path, t->e[i].line, t->e[i].name, t->e[i].label, first->label, first->line, first->line);
            else
                fprintf(warn, "warning: labels %s:%d: '%s' repeats line %d\n", t->path, t->e[i].line, t->e[i].name,
                        first->line);
        }
        free(t->e[i].name);
    }
    if (warn && dups > 5) fprintf(warn, "warning: labels %s: %d more duplicate lines\n", t->path, dups - 5);
    t->n = kept;
}

static int find_label(const LabelTable *t, const char *name) {
    LabelEntry key = {(char *)name, 0, 0};
    const LabelEntry *hit = t->n ? bsearch(&key, t->e, (size_t)t->n, sizeof key, cmp_label_name) : NULL;
    if (!hit) {
        const char *base = strrchr(name, '/');
        if (base) {
            key.name = (char *)base + 1;
            hit = t->n ? bsearch(&key, t->e, (size_t)t->n, sizeof key, cmp_label_name) : NULL;
        }
    }
    return hit ? hit->label : -1;
}

static char *read_text(const char *what, const char *path, PcError *err) {
    size_t size;
    PcError e;
    unsigned char *text = pc_read_file(path, &size, &e);
    if (!text) {
        pc_fail(err, "%s %s", what, e.msg);
        return NULL;
    }
    return (char *)text;
}

static int read_list(const PcDatasetSpec *spec, StrList *list, PcError *err) {
    char *text = read_text("data list", spec->list, err);
    if (!text) return -1;
    ListRead r = {list, spec->list, err};
    int bad = for_each_line(text, collect_first_word, &r);
    free(text);
    if (bad) return -1;
    if (list->n == 0) return pc_fail(err, "data list %s: no image names in it", spec->list);
    return 0;
}

static int read_labels(const PcDatasetSpec *spec, FILE *warn, LabelTable *labels, PcError *err) {
    if (!spec->labels) return 0;
    char *text = read_text("labels", spec->labels, err);
    if (!text) return -1;
    int bad = for_each_line(text, collect_label, labels);
    free(text);
    if (bad) return -1;
    dedupe_labels(labels, warn);
    return 0;
}

// The run's images: entries offset .. offset + limit - 1 of the list, those of this shard.
static int select_images(const PcDatasetSpec *spec, const StrList *list, const LabelTable *labels, PcDataset *ds,
                         PcError *err) {
    ds->n_listed = list->n;
    // offset and limit may each be up to LONG_MAX: compare before adding (no signed overflow)
    long first = spec->offset, last = list->n;
    if (spec->limit && first < list->n && spec->limit < list->n - first) last = first + spec->limit;
    if (first >= list->n)
        return pc_fail(err, "[data] offset %ld is past the end of %s (%d images)", spec->offset, spec->list, list->n);
    int cap = (int)(last - first);
    ds->names = xcalloc((size_t)cap, sizeof(char *));
    ds->paths = xcalloc((size_t)cap, sizeof(char *));
    ds->labels = xcalloc((size_t)cap, sizeof(int));
    ds->list_index = xcalloc((size_t)cap, sizeof(int));
    for (long i = first; i < last; i++) {
        if (i % spec->shard_count != spec->shard_index) continue;
        int k = ds->n++;
        ds->names[k] = strdup(list->items[i]);
        ds->paths[k] = pc_join_path(spec->root, list->items[i]);
        ds->labels[k] = spec->labels ? find_label(labels, list->items[i]) : -1;
        ds->list_index[k] = (int)i;
        ds->n_labelled += ds->labels[k] >= 0;
    }
    if (ds->n == 0)
        return pc_fail(err, "no images selected: shard %d/%d of entries %ld..%ld of %s", spec->shard_index,
                       spec->shard_count, first, last - 1, spec->list);
    return 0;
}

// The mask of every image of the run ([data] masks): an error when none has one (a wrong folder),
// a warning when some lack one (their localisation is left out).
static int find_masks(const PcDatasetSpec *spec, FILE *warn, PcDataset *ds, PcError *err) {
    struct stat sb;
    if (stat(spec->masks, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return pc_fail(err, "[data] masks %s: no such folder", spec->masks);
    ds->mask_paths = xcalloc((size_t)ds->n, sizeof(char *));
    int first_missing = -1;
    for (int i = 0; i < ds->n; i++) {
        ds->mask_paths[i] = pc_mask_find(spec->masks, ds->names[i]);
        if (ds->mask_paths[i]) ds->n_masked++;
        else if (first_missing < 0) first_missing = i;
    }
    if (ds->n_masked == 0)
        return pc_fail(err, "[data] masks %s: no mask for any of the %d images (expected <name without extension>.png, "
                       "e.g. for '%s')", spec->masks, ds->n, ds->names[0]);
    if (first_missing >= 0 && warn)
        fprintf(warn, "warning: [data] masks %s: %d of %d images have no mask (first: '%s'); their localisation is "
                "left out\n", spec->masks, ds->n - ds->n_masked, ds->n, ds->names[first_missing]);
    return 0;
}

int pc_dataset_load(const PcDatasetSpec *spec, FILE *warn, PcDataset *ds, PcError *err) {
    memset(ds, 0, sizeof *ds);
    struct stat sb;
    if (stat(spec->root, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return pc_fail(err, "data root %s: no such folder (set [data] root, or --set data.root=DIR)", spec->root);
    StrList list = {0};
    LabelTable labels = {.path = spec->labels, .err = err};
    int rc = -1;
    if (read_list(spec, &list, err) || read_labels(spec, warn, &labels, err) ||
        select_images(spec, &list, &labels, ds, err) || (spec->masks && find_masks(spec, warn, ds, err)))
        goto done;
    if (spec->labels && ds->n_labelled == 0 && warn)
        fprintf(warn, "warning: labels %s: no line names an image of this run (%d lines; names must match the "
                "list's entries or their base names)\n", spec->labels, labels.n);
    rc = 0;
done:
    for (int i = 0; i < list.n; i++) free(list.items[i]);
    free(list.items);
    for (int i = 0; i < labels.n; i++) free(labels.e[i].name);
    free(labels.e);
    if (rc) pc_dataset_free(ds);
    return rc;
}

int pc_dataset_check_files(const PcDataset *ds, const char *root, FILE *warn, PcError *err) {
    int missing = 0, first = -1, first_errno = 0;
    for (int i = 0; i < ds->n; i++) {
        struct stat sb;
        if (stat(ds->paths[i], &sb) == 0) continue;
        if (first < 0) first = i, first_errno = errno;
        missing++;
    }
    if (missing == ds->n)
        return pc_fail(err, "data root %s: none of the %d images of the run is there (%s: %s); set [data] root to "
                       "the folder of the list's images, or --set data.root=DIR", root, ds->n, ds->paths[first],
                       strerror(first_errno));
    if (missing && warn)
        fprintf(warn, "warning: data root %s: %d of %d images of the run are not there (first: %s: %s); the run "
                "will skip them\n", root, missing, ds->n, ds->paths[first], strerror(first_errno));
    return 0;
}

void pc_dataset_free(PcDataset *ds) {
    for (int i = 0; i < ds->n; i++) {
        free(ds->names[i]);
        free(ds->paths[i]);
        if (ds->mask_paths) free(ds->mask_paths[i]);
    }
    free(ds->mask_paths);
    free(ds->names);
    free(ds->paths);
    free(ds->labels);
    free(ds->list_index);
    memset(ds, 0, sizeof *ds);
}

static int collect_line(char *line, int lineno, void *user) {
    (void)lineno;
    strlist_push(user, line, strlen(line));
    return 0;
}

int pc_read_class_names(const char *path, char ***names, PcError *err) {
    char *text = read_text("class names", path, err);
    if (!text) return -1;
    StrList l = {0};
    for_each_line(text, collect_line, &l);
    free(text);
    if (l.n == 0) {
        free(l.items);
        return pc_fail(err, "class names %s: empty file", path);
    }
    *names = l.items;
    return l.n;
}

// ---- decode pool ------------------------------------------------------------------------------

typedef struct {
    PcPrefetchItem item;
    int ready;
} Slot;

struct PcPrefetcher {
    const PcDataset *ds;
    int *order;
    int n;
    PcResizeMode mode;
    int size;
    int depth;
    Slot *slots;            // (depth)
    int next_claim;         // next position a decoder takes
    int next_out;           // next position handed to the consumer
    int released;           // positions given back by the consumer
    int stop;
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void decode_one(PcPrefetcher *p, PcPrefetchItem *it) {
    PcImageU8 img = {0};
    PcError err;
    it->has_mask = 0;
    if (pc_load_jpeg(p->ds->paths[it->index], &img, &err) != 0) {
        it->ok = 0;
        snprintf(it->error, sizeof it->error, "%.500s", err.msg);
        return;
    }
    pc_preprocess(&img, p->mode, p->size, it->x);
    const char *mask = p->ds->mask_paths ? p->ds->mask_paths[it->index] : NULL;
    it->has_mask = mask != NULL;
    int bad_mask = mask && pc_mask_load(mask, img.width, img.height, p->mode, p->size, it->mask, &err);
    pc_image_free(&img);
    it->ok = !bad_mask;
    if (bad_mask) snprintf(it->error, sizeof it->error, "%.500s", err.msg);
    else it->error[0] = 0;
}

static void *decoder_main(void *arg) {
    PcPrefetcher *p = arg;
    pthread_mutex_lock(&p->mu);
    while (1) {
        while (!p->stop && p->next_claim < p->n && p->next_claim >= p->released + p->depth)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop || p->next_claim >= p->n) break;
        int k = p->next_claim++;
        Slot *s = &p->slots[k % p->depth];
        pthread_mutex_unlock(&p->mu);
        s->item.k = k;
        s->item.index = p->order[k];
        decode_one(p, &s->item);
        pthread_mutex_lock(&p->mu);
        s->ready = 1;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

PcPrefetcher *pc_prefetch_start(const PcDataset *ds, const int *order, int n, PcResizeMode mode, int size,
                                int n_threads, int depth) {
    PcPrefetcher *p = xcalloc(1, sizeof *p);
    p->ds = ds;
    p->n = n;
    p->order = xmalloc((size_t)(n ? n : 1) * sizeof(int));
    if (n) memcpy(p->order, order, (size_t)n * sizeof(int));
    p->mode = mode;
    p->size = size;
    p->depth = depth < 1 ? 1 : depth;
    p->slots = xcalloc((size_t)p->depth, sizeof(Slot));
    for (int i = 0; i < p->depth; i++) {
        p->slots[i].item.x = xmalloc((size_t)3 * size * size * sizeof(float));
        p->slots[i].item.mask = xmalloc((size_t)size * size);
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->n_threads = n_threads < 1 ? 1 : n_threads;
    p->threads = xcalloc((size_t)p->n_threads, sizeof(pthread_t));
    for (int i = 0; i < p->n_threads; i++) {
        if (pthread_create(&p->threads[i], NULL, decoder_main, p) != 0) {
            // fewer decoders still work; with none, the consumer would wait forever
            if (i == 0) pc_die("pthread", "pthread_create", __FILE__, __LINE__, "no decode thread");
            p->n_threads = i;
            break;
        }
    }
    return p;
}

PcPrefetchItem *pc_prefetch_next(PcPrefetcher *p) {
    pthread_mutex_lock(&p->mu);
    if (p->next_out >= p->n) {
        pthread_mutex_unlock(&p->mu);
        return NULL;
    }
    Slot *s = &p->slots[p->next_out % p->depth];
    while (!(s->ready && s->item.k == p->next_out)) pthread_cond_wait(&p->cv, &p->mu);
    p->next_out++;
    pthread_mutex_unlock(&p->mu);
    return &s->item;
}

void pc_prefetch_release(PcPrefetcher *p, PcPrefetchItem *item) {
    pthread_mutex_lock(&p->mu);
    p->slots[item->k % p->depth].ready = 0;
    p->released++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void pc_prefetch_stop(PcPrefetcher *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    for (int i = 0; i < p->depth; i++) {
        free(p->slots[i].item.x);
        free(p->slots[i].item.mask);
    }
    free(p->slots);
    free(p->threads);
    free(p->order);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
