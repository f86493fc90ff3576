// merge.c: joins the result files of a sharded run (see merge.h). Each shard is read with the
// layout reader (float16 maps through float32, exact both ways) and written through the store, so
// the merged file gets the same layout, journal-protected writes and fingerprint as a single run.
// The shards' configurations are compared, and the merged one made, with `[output] file = OUT`
// and `[run] shard = 0/1` set in their canonical texts: the merged file then says what the
// unsharded run would have said. Which shard a file is comes from its `shard` attribute.
#define _GNU_SOURCE
#include "merge.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "description.h"
#include "h5shape.h"
#include "h5util.h"
#include "merge_sanity.h"
#include "quant_file.h"
#include "refclass.h"
#include "run_data.h"

typedef struct {
    PcResultFile rf;
    char *config;           // the shard's config text with [output] file = OUT, [run] shard = 0/1
    char *key;              // its config_key with [run] shard = 0/1 (without the store's part)
    int shard_i, shard_n;
} Shard;

typedef struct {
    int index, shard, row;
} Entry;

static void shard_close(Shard *s) {
    pc_results_close(&s->rf);
    free(s->config);
    free(s->key);
}

// The line "key = value" of [section] in canonical INI text (config.h: pc_config_canonical):
// pointer to its value and its length, or NULL.
static const char *ini_find(const char *text, const char *section, const char *key, size_t *len) {
    int in_section = 0;
    size_t kl = strlen(key), sl = strlen(section);
    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (p[0] == '[') in_section = n == sl + 2 && !strncmp(p + 1, section, sl);
        else if (in_section && n >= kl + 3 && !strncmp(p, key, kl) && !strncmp(p + kl, " = ", 3)) {
            *len = n - kl - 3;
            return p + kl + 3;
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

// Copy of text with the value of [section] key replaced (unchanged when the key is absent).
static char *ini_with(const char *text, const char *section, const char *key, const char *value) {
    size_t len = 0;
    const char *v = ini_find(text, section, key, &len);
    if (!v) return strdup(text);
    size_t head = (size_t)(v - text), n = strlen(text) - len + strlen(value) + 1;
    char *out = xmalloc(n);
    snprintf(out, n, "%.*s%s%s", (int)head, text, value, v + len);
    return out;
}

static int shard_open(Shard *s, const char *path, const char *out_path, PcError *err) {
    if (pc_results_open(&s->rf, path, err)) return -1;
    if (s->rf.n_done != s->rf.n) return pc_fail(err, "%s: the shard's run is not finished (finish it first)", path);
    if (s->rf.layout.size < 1 || s->rf.layout.steps < 1)
        return pc_fail(err, "%s: the file does not say its map side or steps", path);
    const char *config = s->rf.config ? s->rf.config : "";
    char *with_file = ini_with(config, "output", "file", out_path);
    s->config = ini_with(with_file, "run", "shard", "0/1");
    free(with_file);
    char *key = pc_store_key_config_part(s->rf.config_key);
    s->key = ini_with(key, "run", "shard", "0/1");
    free(key);
    s->shard_i = s->rf.shard_index, s->shard_n = s->rf.shard_count;
    size_t len = 0;
    const char *v = ini_find(config, "run", "shard", &len);   // files older than the shard attribute
    if (s->shard_n < 0 && (!v || sscanf(v, "%d/%d", &s->shard_i, &s->shard_n) != 2))
        return pc_fail(err, "%s: cannot tell which shard it is", path);
    return 0;
}

// The first shard number of 0..n_shards-1 that no input is (n_shards > n_in: one is missing; at
// most n_in + 1 numbers to try, whatever count a file says).
static int first_missing(const Shard *sh, int n_in, int n_shards) {
    for (int i = 0; i <= n_in && i < n_shards; i++) {
        int found = 0;
        for (int k = 0; k < n_in && !found; k++) found = sh[k].shard_i == i;
        if (!found) return i;
    }
    return n_shards;
}

// Every shard 0..n-1 once, all of the same configuration (apart from [run] shard) and weights.
static int check_shards(const Shard *sh, int n_in, char *const *inputs, PcError *err) {
    int n_shards = sh[0].shard_n;
    // n_in files hold at most n_in shards: a larger count (whatever a file says) is never allocated
    const int fits = n_shards >= 1 && n_shards <= n_in;
    unsigned char *seen = xcalloc((size_t)(fits ? n_shards : 1), 1);
    int rc = 0;
    char diff_layout[200];
    for (int k = 0; k < n_in && !rc; k++) {
        const char *w0 = sh[0].rf.weights_checksum ? sh[0].rf.weights_checksum : "";
        const char *wk = sh[k].rf.weights_checksum ? sh[k].rf.weights_checksum : "";
        if (strcmp(sh[k].key, sh[0].key)) {
            char diff[700];
            pc_store_key_difference(sh[0].key, sh[k].key, diff, sizeof diff);
            if (!strncmp(diff, "[quant] ", 8))   // the 8-bit scales (quant_plan.h)
                rc = pc_fail(err, "%s and %s were calibrated differently (8-bit input scales: %s): merge only shards "
                             "of one calibration; rerun the odd shard where the others ran (or with --force on the "
                             "same device)", inputs[0], inputs[k], diff);
            else rc = pc_fail(err, "%s and %s come from different configurations (beyond [run] shard): %s (there = %s, now = "
                         "%s)", inputs[0], inputs[k], diff, inputs[0], inputs[k]);
        } else if (pc_layout_difference(&sh[0].rf.layout, &sh[k].rf.layout, diff_layout, sizeof diff_layout)) {
            rc = pc_fail(err, "%s and %s store different rows, although their configurations agree (one was edited?): "
                         "%s (there = %s, here = %s)", inputs[0], inputs[k], diff_layout, inputs[0], inputs[k]);
        } else if (strcmp(w0, wk)) {
            rc = pc_fail(err, "%s and %s were made with different weights: [model] weights: checksum %s there, %s in "
                         "the second", inputs[0], inputs[k], w0, wk);
        } else if (sh[k].shard_n != n_shards || sh[k].shard_i < 0 || sh[k].shard_i >= n_shards ||
                   (fits && seen[sh[k].shard_i])) {
            rc = pc_fail(err, "%s: shard %d/%d given twice or inconsistent with %d shards", inputs[k], sh[k].shard_i,
                         sh[k].shard_n, n_shards);
        } else if (fits) {
            seen[sh[k].shard_i] = 1;
        }
    }
    for (int i = 0; i < n_shards && fits && !rc; i++)
        if (!seen[i]) rc = pc_fail(err, "shard %d/%d is missing", i, n_shards);
    if (!fits && !rc) rc = pc_fail(err, "shard %d/%d is missing", first_missing(sh, n_in, n_shards), n_shards);
    free(seen);
    return rc;
}

static int cmp_entry(const void *a, const void *b) {
    const Entry *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

// /images/index of one shard as a run writes it (dataset.c): list entries i with i % count = index,
// increasing, none negative.
static int check_index(const Shard *s, PcError *err) {
    for (int i = 0; i < s->rf.n; i++) {
        int v = s->rf.index[i];
        if (v < 0 || v % s->shard_n != s->shard_i || (i > 0 && v <= s->rf.index[i - 1]))
            return pc_fail(err, "%s: /images/index row %d is %d, not a list entry of shard %d/%d (entries i with i %% %d "
                           "= %d, increasing)", s->rf.path, i, v, s->shard_i, s->shard_n, s->shard_n, s->shard_i);
    }
    return 0;
}

// Images of every shard back in list order, which must be one run of consecutive list entries
// (the [data] offset .. limit slice the shards split); *out (total) malloc'd.
static int order_images(const Shard *sh, int n_in, Entry **out, int *total, PcError *err) {
    long long t = 0;
    for (int k = 0; k < n_in; k++) {
        if (check_index(&sh[k], err)) return -1;
        t += sh[k].rf.n;
    }
    if (t > INT32_MAX) return pc_fail(err, "the shards hold %lld images together, more than a run can", t);
    Entry *all = xmalloc((size_t)(t > 0 ? t : 1) * sizeof(Entry));
    t = 0;
    for (int k = 0; k < n_in; k++)
        for (int i = 0; i < sh[k].rf.n; i++) all[t++] = (Entry){sh[k].rf.index[i], k, i};
    qsort(all, (size_t)t, sizeof(Entry), cmp_entry);
    *out = all;
    *total = t;
    for (int i = 1; i < t; i++) {
        if (all[i].index == all[i - 1].index) return pc_fail(err, "list index %d appears in two shards", all[i].index);
        if (all[i].index != all[i - 1].index + 1)
            return pc_fail(err, "%s: /images/index row %d is %d, but list entries %d..%d are in no shard (the shards of "
                           "a run hold every entry of its slice)", sh[all[i].shard].rf.path, all[i].row, all[i].index,
                           all[i - 1].index + 1, all[i].index - 1);
    }
    return 0;
}

// The run-level datasets (RISE's masks) of the shards: identical in every shard, else an error
// naming the dataset. *out: shard 0's.
static int shard_run_data(const Shard *sh, int n_in, PcRunData **out, int *n_out, PcError *err) {
    const PcStoreLayout *l = &sh[0].rf.layout;
    *n_out = pc_run_data_read(sh[0].rf.f, sh[0].rf.path, l->method_ids, l->n_methods, out, err);
    int rc = *n_out < 0 ? -1 : 0;
    if (rc) *n_out = 0;
    for (int k = 1; k < n_in && !rc; k++) {
        PcRunData *d = NULL;
        int n = pc_run_data_read(sh[k].rf.f, sh[k].rf.path, sh[k].rf.layout.method_ids, sh[k].rf.layout.n_methods, &d,
                                 err);
        if (n < 0) {
            rc = -1;
            break;
        }
        for (int i = 0; i < *n_out && !rc; i++) {
            int same = i < n && pc_run_data_equal(&(*out)[i], &d[i]);
            if (!same)
                rc = pc_fail(err, "%s and %s: /methods/%s/%s differs between the shards (it must be the same run-level "
                             "data in every shard)", sh[0].rf.path, sh[k].rf.path, (*out)[i].method, (*out)[i].name);
        }
        if (!rc && n != *n_out)
            rc = pc_fail(err, "%s and %s hold different run-level datasets (%d and %d)", sh[0].rf.path, sh[k].rf.path,
                         *n_out, n);
        pc_run_data_free(d, n);
    }
    return rc;
}

// /quant of the 8-bit precisions (the same scales in every shard: their keys are equal) with the
// shards' guard figures pooled (images and curves summed, agreement and mean weighted, the largest
// max, over the shards that ran a guard) and their fallbacks (pc_quant_pool_fallbacks: -1 when a
// shard does not know its own). 1 when shard 0 has one.
static int shard_quant(const Shard *sh, int n_in, PcQuantPlan *out) {
    PcQuantPlan *p = xcalloc((size_t)n_in, sizeof *p);
    const PcQuantPlan **all = xcalloc((size_t)n_in, sizeof *all);
    const int has = pc_quant_read_h5(sh[0].rf.f, out);
    double agree = 0.0, sum = 0.0, max = 0.0;
    int images = 0, pairs = 0;
    for (int k = 0; k < n_in && has; k++) {
        if (!pc_quant_read_h5(sh[k].rf.f, &p[k])) p[k].fallback_convs = -1;   // not known
        all[k] = &p[k];
        if (p[k].guard_images <= 0) continue;
        agree += p[k].guard_agreement * p[k].guard_images;
        sum += p[k].guard_mean_dauc * p[k].guard_pairs;
        images += p[k].guard_images;
        pairs += p[k].guard_pairs;
        if (p[k].guard_max_dauc > max) max = p[k].guard_max_dauc;
    }
    if (has) {
        out->guard_images = images;
        out->guard_pairs = pairs;
        out->guard_agreement = images ? agree / images : 0.0;
        out->guard_mean_dauc = pairs ? sum / pairs : 0.0;
        out->guard_max_dauc = max;
        pc_quant_pool_fallbacks(all, n_in, out);
    }
    for (int k = 0; k < n_in; k++) pc_quant_plan_free(&p[k]);
    free(p);
    free(all);
    return has;
}

// /reference_classes of the shards (refclass.h): each image's reference class from its shard, in
// list order (*out malloc'd, NULL when the first shard has none); the file named by the first.
static int *shard_reference(const Shard *sh, int n_in, const Entry *all, int total, char **file) {
    PcRefAgreement *a = xcalloc((size_t)n_in, sizeof *a);
    int *ref = NULL;
    for (int k = 0; k < n_in; k++) pc_refclasses_read(sh[k].rf.f, sh[k].rf.n, &a[k]);
    if (a[0].present) {
        ref = xmalloc((size_t)(total > 0 ? total : 1) * sizeof(int));
        for (int i = 0; i < total; i++) {
            const PcRefAgreement *s = &a[all[i].shard];
            ref[i] = s->present ? s->cls[all[i].row] : -1;
        }
        *file = a[0].file ? strdup(a[0].file) : strdup("");
    }
    for (int k = 0; k < n_in; k++) pc_refagreement_free(&a[k]);
    free(a);
    return ref;
}

// Opens OUT.h5 through the store with the images in list order and the unsharded configuration.
static int open_output(PcStore **st, const char *out_path, const Shard *sh, int n_in, const Entry *all, int total,
                       PcStoreMode mode, const char *git_commit, PcError *err) {
    char **names = xmalloc((size_t)total * sizeof(char *));
    int *labels = xmalloc((size_t)total * sizeof(int)), *index = xmalloc((size_t)total * sizeof(int));
    for (int i = 0; i < total; i++) {
        const PcResultFile *rf = &sh[all[i].shard].rf;
        names[i] = rf->names[all[i].row];
        labels[i] = rf->label[all[i].row];
        index[i] = all[i].index;
    }
    PcStoreLayout layout = sh[0].rf.layout;
    layout.n_images = total;
    char *ref_file = NULL;
    int *ref = shard_reference(sh, n_in, all, total, &ref_file);
    PcStoreImages images = {.names = names, .labels = labels, .list_index = index, .reference_classes = ref,
                            .reference_file = ref_file};
    PcDescription desc;   // the first shard's (every shard has the same configuration)
    const int described = pc_describe_read(sh[0].rf.f, &sh[0].rf.layout, &desc);
    size_t n_class_names = 0;
    int classes_ok = 1;
    if (H5Lexists(sh[0].rf.f, "/classes", H5P_DEFAULT) > 0) {
        PcH5Want w = {.file = sh[0].rf.path, .rank = 1, .dims = {PC_DIM_ANY}};
        images.class_names = pc_h5_read_strings_checked(sh[0].rf.f, "/classes", &w, &n_class_names, err);
        images.n_class_names = images.class_names ? (int)n_class_names : 0;
        classes_ok = images.class_names != NULL;
    }
    const char *src0 = sh[0].rf.config_source ? sh[0].rf.config_source : "";
    size_t source_len = strlen(src0) + 64;
    char *source = xmalloc(source_len), device[512];
    snprintf(source, source_len, "%s; merged from %d shard files\n", src0, n_in);
    snprintf(device, sizeof device, "%s (shards merged)", sh[0].rf.device ? sh[0].rf.device : "");
    PcRunData *run_data = NULL;
    int n_run_data = 0, rc = classes_ok ? shard_run_data(sh, n_in, &run_data, &n_run_data, err) : -1;
    PcQuantPlan quant;
    const int quantised = shard_quant(sh, n_in, &quant);
    PcStoreMeta meta = {.config = sh[0].config, .config_key = sh[0].key, .config_source = source, .version = PC_VERSION,
                        .git_commit = git_commit, .libraries = sh[0].rf.libraries ? sh[0].rf.libraries : "",
                        .device = device, .weights_checksum = sh[0].rf.weights_checksum, .shard_index = 0,
                        .shard_count = 1, .n_run_data = n_run_data, .run_data = run_data,
                        .write_extra = quantised ? pc_quant_write_h5 : NULL, .extra = &quant,
                        .describe = described ? &desc : NULL};
    if (rc == 0) rc = pc_store_open(st, out_path, &layout, &images, &meta, mode, err);
    if (described) pc_describe_free(&desc);
    free(ref);
    free(ref_file);
    pc_quant_plan_free(&quant);
    pc_run_data_free(run_data, n_run_data);
    free(source);
    pc_h5_free_strings(images.class_names, (size_t)images.n_class_names);
    free(names);
    free(labels);
    free(index);
    return rc;
}

static int copy_rows(PcStore *st, const Shard *sh, const Entry *all, int total, PcError *err) {
    const PcStoreLayout *l = pc_store_layout(st);
    PcImageResult res;
    pc_result_init(&res, l);
    int rc = 0;
    for (int i = 0; i < total && !rc; i++) {
        if (pc_store_is_done(st, i)) continue;
        pc_result_reset(&res, l, i);
        rc = pc_results_read(&sh[all[i].shard].rf, all[i].row, &res, err) || pc_store_write(st, &res, err) ? -1 : 0;
    }
    pc_result_free(&res);
    return rc ? rc : pc_store_finish(st, err);
}

// /sanity (merge_sanity.h): checked before the output is touched (*has = 1 when the shards have
// one), written into the finished output.
static int sanity_of_shards(const Shard *sh, int n_in, const Entry *all, int total, int write, int *has,
                            const char *out_path, PcError *err) {
    const PcResultFile **rfs = xcalloc((size_t)n_in, sizeof *rfs);
    int *images = xcalloc((size_t)n_in, sizeof(int)), rc = 0;
    for (int k = 0; k < n_in; k++) {
        size_t len = 0;
        const char *v = ini_find(sh[k].config, "sanity", "images", &len);
        rfs[k] = &sh[k].rf;
        images[k] = v ? atoi(v) : -1;
    }
    rc = pc_merge_sanity_check(rfs, images, n_in, err);   // also reads each check's [sanity] images
    if (rc >= 0) *has = rc, rc = 0;
    if (rc == 0 && write && *has) {
        int *index = xcalloc((size_t)total + 1, sizeof(int));
        for (int i = 0; i < total; i++) index[i] = all[i].index;
        rc = pc_merge_sanity_write(out_path, rfs, n_in, images[0], index, total, err);
        free(index);
    }
    free(rfs);
    free(images);
    return rc;
}

int pc_merge(const char *out_path, int n_in, char *const *inputs, PcStoreMode mode, const char *git_commit,
             PcError *err) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (n_in < 1) return pc_fail(err, "--merge needs the output file and at least one shard file");
    Shard *sh = xcalloc((size_t)n_in, sizeof(Shard));
    for (int k = 0; k < n_in; k++) sh[k].rf.f = -1;
    Entry *all = NULL;
    PcStore *st = NULL;
    int total = 0, rc = 0, sanity = 0;
    for (int k = 0; k < n_in && !rc; k++) rc = shard_open(&sh[k], inputs[k], out_path, err);
    if (!rc) rc = check_shards(sh, n_in, inputs, err);
    if (!rc) rc = sanity_of_shards(sh, n_in, NULL, 0, 0, &sanity, out_path, err);
    if (!rc) rc = order_images(sh, n_in, &all, &total, err);
    if (!rc) rc = open_output(&st, out_path, sh, n_in, all, total, mode, git_commit, err);
    if (!rc && !pc_store_complete(st)) rc = copy_rows(st, sh, all, total, err);
    // with the writer lock still held; an output that has /sanity already keeps it
    if (!rc && sanity) rc = sanity_of_shards(sh, n_in, all, total, 1, &sanity, out_path, err);
    if (!rc) fprintf(stderr, "merged %d shard files (%d images) into %s\n", n_in, total, out_path);
    pc_store_close(st);
    for (int k = 0; k < n_in; k++) shard_close(&sh[k]);
    free(sh);
    free(all);
    return rc;
}
