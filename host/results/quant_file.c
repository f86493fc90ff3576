// quant_file.c: /quant of a result file and the stored configuration key an 8-bit run resumes
// from (quant_file.h); the merged fallbacks of several shards.
#define _GNU_SOURCE
#include "quant_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5util.h"
#include "journal.h"
#include "layout.h"

const char *pc_quant_format_name(PcQuantFormat f) {
    return f == PC_QUANT_FP8 ? "fp8" : f == PC_QUANT_INT8 ? "int8" : "none";
}

void pc_quant_plan_free(PcQuantPlan *plan) {
    free(plan->node);
    free(plan->layer);
    free(plan->amax);
    free(plan->in_scale);
    free(plan->q.in_scale);
    memset(plan, 0, sizeof *plan);
}

char *pc_quant_stored_key(const char *output, int *finished) {
    *finished = 0;
    PcError e;
    if (access(output, F_OK) == 0) {
        if (!pc_h5_has_signature(output)) return NULL;
        PcResultFile rf;
        char *key = NULL;
        if (pc_results_open(&rf, output, &e) == 0 && rf.config_key) key = strdup(rf.config_key);
        pc_results_close(&rf);
        *finished = key != NULL;
        return key;
    }
    size_t n = strlen(output) + 16;
    char *jpath = xmalloc(n);
    snprintf(jpath, n, "%s.journal", output);
    char *key = NULL;
    if (access(jpath, F_OK) == 0) {
        PcJournal j;
        PcJournalHeader h;
        memset(&j, 0, sizeof j);
        memset(&h, 0, sizeof h);
        if (pc_journal_open(&j, jpath, &h, &e) == 1) {
            key = h.key ? strdup(h.key) : NULL;
            pc_journal_header_free(&h);
            pc_journal_close(&j);
        }
    }
    free(jpath);
    return key;
}

// ---- merging shards ---------------------------------------------------------------------------

// Adds the ", "-joined names of list to set (", "-joined, without repeats, at most n bytes: a name
// that does not fit is left out and *cut set). Returns the number of names added.
static int add_names(char *set, size_t n, const char *list, int *cut) {
    int added = 0;
    for (const char *p = list; *p; p += strspn(p, ", ")) {
        const size_t len = strcspn(p, ",");
        int seen = 0;
        for (const char *q = set; *q && !seen; q += strspn(q, ", ")) {
            const size_t l2 = strcspn(q, ",");
            seen = l2 == len && !strncmp(q, p, len);
            q += l2;
        }
        const size_t used = strlen(set);
        if (!seen && used + len + 3 < n) {
            snprintf(set + used, n - used, "%s%.*s", used ? ", " : "", (int)len, p);
            added++;
        } else if (!seen) {
            *cut = 1;
        }
        p += len;
    }
    return added;
}

void pc_quant_pool_fallbacks(const PcQuantPlan *const *shards, int n, PcQuantPlan *out) {
    char set[sizeof out->fallback_layers - 64] = "";
    int unknown = 0, cut = 0, count = 0, most = 0;
    for (int k = 0; k < n; k++) {
        if (shards[k]->fallback_convs < 0) {
            unknown++;
            continue;
        }
        count += add_names(set, sizeof set, shards[k]->fallback_layers, &cut);
        if (shards[k]->fallback_convs > most) most = shards[k]->fallback_convs;
    }
    out->fallback_convs = unknown ? -1 : count > most ? count : most;
    snprintf(out->fallback_layers, sizeof out->fallback_layers, "%s%s", set, cut ? ", ..." : "");
    if (unknown) {
        const size_t used = strlen(out->fallback_layers);
        snprintf(out->fallback_layers + used, sizeof out->fallback_layers - used,
                 "%snot known for %d of %d shards (no guard ran)", used ? "; " : "", unknown, n);
    }
}

// ---- /quant of the result file ----------------------------------------------------------------

static int set_f64_attr(hid_t loc, const char *name, double v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
    hid_t a = H5Acreate2(loc, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, &v) >= 0;
    ok = !pc_h5_close_written(a) && ok;
    H5Sclose(sp);
    return ok ? 0 : -1;
}

static double get_f64_attr(hid_t loc, const char *name) {
    double v = NAN;
    if (H5Aexists(loc, name) <= 0) return v;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0 || H5Aread(a, H5T_NATIVE_DOUBLE, &v) < 0) v = NAN;
    if (a >= 0) H5Aclose(a);
    return v;
}

// A count stored as f64: missing (NaN), not finite or out of int's range gives missing (a NaN
// converted to int is undefined behaviour).
static int get_int_attr(hid_t loc, const char *name, int missing) {
    const double v = get_f64_attr(loc, name);
    return v >= -1.0 && v <= 2147483647.0 ? (int)v : missing;
}

static int write_datasets(hid_t g, const PcQuantPlan *p) {
    hsize_t n = (hsize_t)p->n;
    hid_t st = pc_h5_str_type(H5T_CSET_UTF8);
    char **names = xmalloc((size_t)(p->n + 1) * sizeof(char *));
    for (int i = 0; i < p->n; i++) names[i] = p->layer[i];
    hid_t dl = pc_h5_create_dataset(g, "layers", st, 1, &n, NULL, NULL);
    hid_t dn = pc_h5_create_dataset(g, "nodes", H5T_STD_I32LE, 1, &n, NULL, NULL);
    hid_t ds = pc_h5_create_dataset(g, "in_scale", H5T_IEEE_F32LE, 1, &n, NULL, NULL);
    int ok = dl >= 0 && dn >= 0 && ds >= 0 &&
             (!n || (H5Dwrite(dl, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) >= 0 &&
                     H5Dwrite(dn, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, p->node) >= 0 &&
                     H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, p->in_scale) >= 0));
    hid_t h[3] = {dl, dn, ds};
    for (int i = 0; i < 3; i++) ok = !pc_h5_close_written(h[i]) && ok;
    H5Tclose(st);
    free(names);
    return ok ? 0 : -1;
}

int pc_quant_write_h5(hid_t file, const void *plan, PcError *err) {
    const PcQuantPlan *p = plan;
    hid_t g = H5Gcreate2(file, "/quant", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = g >= 0 && !write_datasets(g, p) && !pc_h5_set_str_attr(g, "format", pc_quant_format_name(p->format)) &&
             !set_f64_attr(g, "clip", p->clip) && !set_f64_attr(g, "calibration_images", p->calibration_images);
    const struct { const char *name; double v; } a[] = {
        {"guard_images", p->guard_images}, {"guard_pairs", p->guard_pairs},
        {"guard_class_agreement", p->guard_agreement}, {"guard_mean_dauc", p->guard_mean_dauc},
        {"guard_max_dauc", p->guard_max_dauc}, {"guard_limit_dauc", p->guard_limit_dauc},
        {"guard_limit_agreement", p->guard_limit_agreement}, {"fallback_convs", p->fallback_convs}};
    for (size_t i = 0; ok && i < sizeof a / sizeof a[0]; i++) ok = !set_f64_attr(g, a[i].name, a[i].v);
    ok = ok && !pc_h5_set_str_attr(g, "fallback_layers", p->fallback_layers);
    if (g >= 0) H5Gclose(g);
    return ok ? 0 : pc_fail(err, "cannot write /quant (the 8-bit scales)%s", pc_h5_why());
}

int pc_quant_read_h5(hid_t file, PcQuantPlan *p) {
    memset(p, 0, sizeof *p);
    if (H5Lexists(file, "/quant", H5P_DEFAULT) <= 0) return 0;
    hid_t g = H5Gopen2(file, "/quant", H5P_DEFAULT);
    if (g < 0) return 0;
    char *fmt = pc_h5_read_root_attr(g, "format");
    p->format = fmt && !strcmp(fmt, "int8") ? PC_QUANT_INT8 : PC_QUANT_FP8;
    free(fmt);
    p->clip = get_f64_attr(g, "clip");
    p->calibration_images = get_int_attr(g, "calibration_images", 0);
    p->guard_images = get_int_attr(g, "guard_images", 0);
    p->guard_pairs = get_int_attr(g, "guard_pairs", 0);
    p->guard_agreement = get_f64_attr(g, "guard_class_agreement");
    p->guard_mean_dauc = get_f64_attr(g, "guard_mean_dauc");
    p->guard_max_dauc = get_f64_attr(g, "guard_max_dauc");
    p->guard_limit_dauc = get_f64_attr(g, "guard_limit_dauc");
    p->guard_limit_agreement = get_f64_attr(g, "guard_limit_agreement");
    p->fallback_convs = get_int_attr(g, "fallback_convs", -1);
    char *fl = pc_h5_read_root_attr(g, "fallback_layers");
    snprintf(p->fallback_layers, sizeof p->fallback_layers, "%s", fl ? fl : "");
    free(fl);
    hsize_t n = 0, last = 0;
    if (pc_h5_dims(g, "in_scale", &n, &last) == 0) p->n = (int)n;
    p->node = xcalloc(n + 1, sizeof(int));
    p->layer = xcalloc(n + 1, sizeof *p->layer);
    p->amax = xcalloc(n + 1, sizeof(float));
    p->in_scale = xcalloc(n + 1, sizeof(float));
    int *nodes = n ? pc_h5_read_ints(g, "nodes", n) : NULL;
    if (nodes) memcpy(p->node, nodes, n * sizeof(int));
    free(nodes);
    double *s = n ? pc_h5_read_f64(g, "in_scale", n) : NULL;
    for (hsize_t i = 0; s && i < n; i++) p->in_scale[i] = (float)s[i];
    free(s);
    hid_t dl = pc_h5_open_if(g, "layers");
    size_t nl = 0;
    char **names = dl >= 0 ? pc_h5_read_strings(dl, 0, &nl) : NULL;
    for (size_t i = 0; names && i < nl && i < n; i++) snprintf(p->layer[i], 64, "%s", names[i]);
    pc_h5_free_strings(names, nl);
    if (dl >= 0) H5Dclose(dl);
    H5Gclose(g);
    return 1;
}
