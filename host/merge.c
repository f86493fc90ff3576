// merge.c: joins the result files of a sharded run (see merge.h). Each shard's rows are read back
// (float16 maps through float32, which is exact both ways) and written through the store, so the
// merged file gets the same layout, journal-protected writes and fingerprint as a single run.
#define _GNU_SOURCE
#include "merge.h"

#include <string.h>

typedef struct {
    const char *path;
    hid_t f;
    char *key_base;         // config_key without the store part, shard set to 0/1
    char *config, *source, *device;
    int shard_i, shard_n;
    int n;
    char **names;
    int *index, *label;
    hid_t d_class, d_score, d_status;
    hid_t *d_map, *d_ins_auc, *d_ins_scores, *d_del_auc, *d_del_scores;   // (n_methods)
} Shard;

static hid_t open_if(hid_t f, const char *name) {
    return H5Lexists(f, name, H5P_DEFAULT) > 0 ? H5Dopen2(f, name, H5P_DEFAULT) : -1;
}

static int *read_ints(hid_t f, const char *name, int n) {
    hid_t d = open_if(f, name);
    if (d < 0) return NULL;
    int *v = xmalloc((size_t)n * sizeof(int));
    hid_t sp = H5Dget_space(d);
    int ok = H5Sget_simple_extent_npoints(sp) == n && H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
    H5Sclose(sp);
    H5Dclose(d);
    if (!ok) {
        free(v);
        return NULL;
    }
    return v;
}

static int read_status(hid_t d, hsize_t i, char *out, size_t n) {
    hid_t ft = H5Dget_type(d), t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5Tget_cset(ft));
    char *v = NULL;
    int rc = pc_h5_read_row(d, i, t, &v);
    if (rc == 0) {
        snprintf(out, n, "%s", v ? v : "");
        if (v) H5free_memory(v);
    }
    H5Tclose(t);
    H5Tclose(ft);
    return rc;
}

// "key = value" of the first line starting with key in text, as an int (or -1).
static int key_int(const char *text, const char *key) {
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, key, kl) && !strncmp(p + kl, " = ", 3)) return atoi(p + kl + 3);
    return -1;
}

// Replaces the value of the "shard = " line with 0/1 (in place, in a copy); reads i/n first.
static char *unshard(const char *text, int *i, int *n) {
    char *out = xmalloc(strlen(text) + 8);
    const char *at = strstr(text, "\nshard = ");
    if (!at) {
        strcpy(out, text);
        return out;
    }
    at += 9;
    if (i && n && sscanf(at, "%d/%d", i, n) != 2) *i = *n = -1;
    const char *end = strchr(at, '\n');
    size_t head = (size_t)(at - text);
    memcpy(out, text, head);
    strcpy(out + head, "0/1");
    strcat(out, end ? end : "");
    return out;
}

static void shard_close(Shard *s, int n_methods) {
    hid_t *sets[] = {s->d_map, s->d_ins_auc, s->d_ins_scores, s->d_del_auc, s->d_del_scores};
    for (int k = 0; k < 5; k++) {
        for (int m = 0; sets[k] && m < n_methods; m++)
            if (sets[k][m] >= 0) H5Dclose(sets[k][m]);
        free(sets[k]);
    }
    if (s->d_class >= 0) H5Dclose(s->d_class);
    if (s->d_score >= 0) H5Dclose(s->d_score);
    if (s->d_status >= 0) H5Dclose(s->d_status);
    for (int i = 0; s->names && i < s->n; i++) free(s->names[i]);
    free(s->names);
    free(s->index);
    free(s->label);
    free(s->key_base);
    free(s->config);
    free(s->source);
    free(s->device);
    if (s->f >= 0) H5Fclose(s->f);
}

static int shard_open(Shard *s, const char *path, PcError *err) {
    memset(s, 0, sizeof *s);
    s->path = path;
    s->d_class = s->d_score = s->d_status = -1;
    s->f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (s->f < 0) return pc_fail(err, "%s: cannot open as HDF5", path);
    char *key = pc_h5_read_root_attr(s->f, "config_key");
    if (!key) return pc_fail(err, "%s: not a polycam-eval result file (no config_key)", path);
    char *store_part = strstr(key, "\n[store]\n");
    if (store_part) *store_part = 0;
    s->key_base = unshard(key, &s->shard_i, &s->shard_n);
    free(key);
    char *config = pc_h5_read_root_attr(s->f, "config");
    s->config = unshard(config ? config : "", NULL, NULL);
    free(config);
    s->source = pc_h5_read_root_attr(s->f, "config_source");
    s->device = pc_h5_read_root_attr(s->f, "device");
    hid_t d = open_if(s->f, "/images/name");
    size_t n_names = 0;
    if (d >= 0) {
        s->names = pc_h5_read_strings(d, 0, &n_names);
        H5Dclose(d);
    }
    s->n = (int)n_names;
    if (!s->names || s->n < 1) return pc_fail(err, "%s: cannot read /images/name", path);
    s->index = read_ints(s->f, "/images/index", s->n);
    s->label = read_ints(s->f, "/images/label", s->n);
    int *done = read_ints(s->f, "/images/done", s->n);
    int all_done = done != NULL;
    for (int i = 0; done && i < s->n; i++) all_done &= done[i] == 1;
    free(done);
    if (!s->index || !s->label) return pc_fail(err, "%s: cannot read /images/index or /images/label", path);
    if (!all_done) return pc_fail(err, "%s: the shard's run is not finished (finish it first)", path);
    s->d_class = open_if(s->f, "/images/class");
    s->d_score = open_if(s->f, "/images/score");
    s->d_status = open_if(s->f, "/images/status");
    if (s->d_class < 0 || s->d_score < 0 || s->d_status < 0) return pc_fail(err, "%s: /images datasets missing", path);
    return 0;
}

static int shard_open_methods(Shard *s, const PcStoreLayout *l, PcError *err) {
    hid_t **sets[] = {&s->d_map, &s->d_ins_auc, &s->d_ins_scores, &s->d_del_auc, &s->d_del_scores};
    static const char *const suffix[] = {"map", "insertion/auc", "insertion/scores", "deletion/auc", "deletion/scores"};
    const int want[] = {l->maps != PC_MAPS_NONE, l->insertion, l->insertion, l->deletion, l->deletion};
    // every handle is -1 before the first open, so shard_close never sees an unset one
    for (int k = 0; k < 5; k++) {
        *sets[k] = xmalloc((size_t)(l->n_methods > 0 ? l->n_methods : 1) * sizeof(hid_t));
        for (int m = 0; m < l->n_methods; m++) (*sets[k])[m] = -1;
    }
    for (int k = 0; k < 5; k++) {
        for (int m = 0; m < l->n_methods; m++) {
            char name[256];
            snprintf(name, sizeof name, "/methods/%s/%s", l->method_ids[m], suffix[k]);
            (*sets[k])[m] = want[k] ? open_if(s->f, name) : -1;
            if (want[k] && (*sets[k])[m] < 0) return pc_fail(err, "%s: %s missing", s->path, name);
        }
    }
    return 0;
}

// Layout of the first shard: method ids, map format, curves, map side and steps.
static int read_layout(const Shard *s, PcStoreLayout *l, char (**ids)[PC_METHOD_ID_LEN], PcError *err) {
    memset(l, 0, sizeof *l);
    hid_t a = H5Aexists(s->f, "method_ids") > 0 ? H5Aopen(s->f, "method_ids", H5P_DEFAULT) : -1;
    if (a < 0) return pc_fail(err, "%s: no method_ids attribute", s->path);
    size_t n_ids = 0;
    char **tmp = pc_h5_read_strings(a, 1, &n_ids);
    H5Aclose(a);
    int n = (int)n_ids, ok = tmp && n > 0;
    *ids = xcalloc((size_t)(n > 0 ? n : 1), PC_METHOD_ID_LEN);
    for (int m = 0; ok && m < n; m++) snprintf((*ids)[m], PC_METHOD_ID_LEN, "%s", tmp[m]);
    pc_h5_free_strings(tmp, n_ids);
    if (!ok) return pc_fail(err, "%s: cannot read method_ids", s->path);
    l->n_methods = n;
    l->method_ids = *ids;
    char *key = pc_h5_read_root_attr(s->f, "config_key");
    const char *store_part = key ? strstr(key, "\n[store]\n") : NULL;
    l->size = store_part ? key_int(store_part + 1, "map_side") : -1;
    l->steps = store_part ? key_int(store_part + 1, "steps") : -1;
    free(key);
    if (l->size < 1 || l->steps < 1) return pc_fail(err, "%s: config_key lacks the map side or steps", s->path);
    char name[256];
    snprintf(name, sizeof name, "/methods/%s/map", (*ids)[0]);
    hid_t d = open_if(s->f, name);
    if (d >= 0) {
        hid_t dt = H5Dget_type(d);
        l->maps = H5Tget_size(dt) == 2 ? PC_MAPS_F16 : PC_MAPS_F32;
        H5Tclose(dt);
        H5Dclose(d);
    }
    snprintf(name, sizeof name, "/methods/%s/insertion", (*ids)[0]);
    l->insertion = H5Lexists(s->f, name, H5P_DEFAULT) > 0;
    snprintf(name, sizeof name, "/methods/%s/deletion", (*ids)[0]);
    l->deletion = H5Lexists(s->f, name, H5P_DEFAULT) > 0;
    return 0;
}

static int read_result(const Shard *s, int row, const PcStoreLayout *l, PcImageResult *r, PcError *err) {
    hsize_t i = (hsize_t)row;
    int ok = pc_h5_read_row(s->d_class, i, H5T_NATIVE_INT, &r->cls) == 0 &&
             pc_h5_read_row(s->d_score, i, H5T_NATIVE_FLOAT, &r->score) == 0 &&
             read_status(s->d_status, i, r->status, sizeof r->status) == 0;
    const size_t ss = (size_t)l->size * l->size;
    for (int m = 0; ok && m < l->n_methods; m++) {
        if (l->maps != PC_MAPS_NONE) ok = pc_h5_read_row(s->d_map[m], i, H5T_NATIVE_FLOAT, r->maps + m * ss) == 0;
        if (ok && l->insertion)
            ok = pc_h5_read_row(s->d_ins_auc[m], i, H5T_NATIVE_DOUBLE, &r->ins_auc[m]) == 0 &&
                 pc_h5_read_row(s->d_ins_scores[m], i, H5T_NATIVE_FLOAT, r->ins_scores + (size_t)m * l->steps) == 0;
        if (ok && l->deletion)
            ok = pc_h5_read_row(s->d_del_auc[m], i, H5T_NATIVE_DOUBLE, &r->del_auc[m]) == 0 &&
                 pc_h5_read_row(s->d_del_scores[m], i, H5T_NATIVE_FLOAT, r->del_scores + (size_t)m * l->steps) == 0;
    }
    return ok ? 0 : pc_fail(err, "%s: cannot read the results of image %d (%s)", s->path, row, s->names[row]);
}

typedef struct {
    int index, shard, row;
} Entry;

static int cmp_entry(const void *a, const void *b) {
    const Entry *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

int pc_merge(const char *out_path, int n_in, char *const *inputs, PcStoreMode mode, const char *git_commit,
             PcError *err) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (n_in < 1) return pc_fail(err, "--merge needs the output file and at least one shard file");
    Shard *sh = xcalloc((size_t)n_in, sizeof(Shard));
    for (int k = 0; k < n_in; k++) sh[k].f = sh[k].d_class = sh[k].d_score = sh[k].d_status = -1;
    PcStoreLayout layout = {0};
    char (*ids)[PC_METHOD_ID_LEN] = NULL;
    Entry *all = NULL;
    PcStore st = {0};
    PcImageResult res = {0};
    char **names = NULL;
    int *labels = NULL, *index = NULL;
    int rc = -1, total = 0;

    for (int k = 0; k < n_in; k++)
        if (shard_open(&sh[k], inputs[k], err)) goto done;
    if (read_layout(&sh[0], &layout, &ids, err)) goto done;
    int n_shards = sh[0].shard_n;
    unsigned char *seen = xcalloc((size_t)(n_shards > 0 ? n_shards : 1), 1);
    for (int k = 0; k < n_in; k++) {
        if (strcmp(sh[k].key_base, sh[0].key_base)) {
            free(seen);
            pc_fail(err, "%s and %s come from different configurations (beyond [run] shard)", inputs[0], inputs[k]);
            goto done;
        }
        if (sh[k].shard_n != n_shards || sh[k].shard_i < 0 || sh[k].shard_i >= n_shards || seen[sh[k].shard_i]) {
            free(seen);
            pc_fail(err, "%s: shard %d/%d given twice or inconsistent with %d shards", inputs[k], sh[k].shard_i,
                    sh[k].shard_n, n_shards);
            goto done;
        }
        seen[sh[k].shard_i] = 1;
        if (shard_open_methods(&sh[k], &layout, err)) {
            free(seen);
            goto done;
        }
        total += sh[k].n;
    }
    for (int i = 0; i < n_shards; i++) {
        if (!seen[i]) {
            free(seen);
            pc_fail(err, "shard %d/%d is missing", i, n_shards);
            goto done;
        }
    }
    free(seen);

    // images back in list order
    all = xmalloc((size_t)total * sizeof(Entry));
    int t = 0;
    for (int k = 0; k < n_in; k++)
        for (int i = 0; i < sh[k].n; i++) all[t++] = (Entry){sh[k].index[i], k, i};
    qsort(all, (size_t)total, sizeof(Entry), cmp_entry);
    names = xmalloc((size_t)total * sizeof(char *));
    labels = xmalloc((size_t)total * sizeof(int));
    index = xmalloc((size_t)total * sizeof(int));
    for (int i = 0; i < total; i++) {
        if (i && all[i].index == all[i - 1].index) {
            pc_fail(err, "list index %d appears in two shards", all[i].index);
            goto done;
        }
        names[i] = sh[all[i].shard].names[all[i].row];
        labels[i] = sh[all[i].shard].label[all[i].row];
        index[i] = all[i].index;
    }
    layout.n_images = total;
    PcStoreImages images = {.names = names, .labels = labels, .list_index = index};
    // class names of the first shard, when it has them
    size_t n_class_names = 0;
    hid_t dc = open_if(sh[0].f, "/classes");
    if (dc >= 0) {
        images.class_names = pc_h5_read_strings(dc, 0, &n_class_names);
        images.n_class_names = images.class_names ? (int)n_class_names : 0;
        H5Dclose(dc);
    }
    // the first shard's INI text in full (a fixed buffer would cut a long one short)
    const char *src0 = sh[0].source ? sh[0].source : "";
    size_t source_len = strlen(src0) + 64;
    char *source = xmalloc(source_len), device[512];
    snprintf(source, source_len, "%s; merged from %d shard files\n", src0, n_in);
    snprintf(device, sizeof device, "%s (shards merged)", sh[0].device ? sh[0].device : "");
    char *libs = pc_h5_read_root_attr(sh[0].f, "libraries");
    PcStoreMeta meta = {.config = sh[0].config, .config_key = sh[0].key_base, .config_source = source,
                        .version = PC_VERSION, .git_commit = git_commit, .libraries = libs ? libs : "",
                        .device = device};
    int open_rc = pc_store_open(&st, out_path, &layout, &images, &meta, mode, err);
    free(libs);
    free(source);
    pc_h5_free_strings(images.class_names, (size_t)images.n_class_names);
    if (open_rc) goto done;
    if (!st.complete) {
        pc_result_init(&res, &layout);
        for (int i = 0; i < total; i++) {
            if (st.done[i]) continue;
            pc_result_reset(&res, &layout, i);
            if (read_result(&sh[all[i].shard], all[i].row, &layout, &res, err)) goto done;
            if (pc_store_write(&st, &res, err)) goto done;
        }
        if (pc_store_finish(&st, err)) goto done;
    }
    fprintf(stderr, "merged %d shard files (%d images) into %s\n", n_in, total, out_path);
    rc = 0;
done:
    if (res.maps) pc_result_free(&res);
    pc_store_close(&st);
    for (int k = 0; k < n_in; k++) shard_close(&sh[k], layout.n_methods);
    free(sh);
    free(ids);
    free(all);
    free(names);
    free(labels);
    free(index);
    return rc;
}
