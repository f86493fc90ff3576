// quant.c: the run's side of the 8-bit precisions (quant_run.h): the plan (which convs), the
// calibration of their input scales, the [quant] section of the configuration key and /quant of
// the result file.
#define _GNU_SOURCE
#include "quant_run.h"

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

static int conv_eligible(const PcNode *nd) {
    return nd->op == PC_NODE_CONV && pc_quant_eligible(nd->input, nd->p.conv.cin, nd->p.conv.cout);
}

// "features.2, features.5, ..." of the eligible convs (at most n bytes, "..." when cut).
static void eligible_names(const PcNet *net, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < net->n_nodes && used < n; i++) {
        if (!conv_eligible(&net->nodes[i])) continue;
        const char *name = net->nodes[i].p.conv.weight_name;
        if (used + strlen(name) + 8 >= n) {
            snprintf(buf + used, n - used, "%s...", used ? ", " : "");
            return;
        }
        used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? ", " : "", name);
    }
}

int pc_quant_plan(const PcNet *net, PcPrecision prec, const PcPrecisionSettings *ps, PcQuantPlan *plan,
                  PcError *err) {
    memset(plan, 0, sizeof *plan);
    plan->format = pc_quant_format_of(prec);
    plan->clip = ps->clip;
    plan->fallback_convs = -1;
    char names[600];
    eligible_names(net, names, sizeof names);
    if (!names[0])
        return pc_fail(err, "[run] precision = %s: no convolution of %s can run in 8 bits (input not the image, "
                       "channels multiples of 16); use fp16 or fp32", pc_quant_format_name(plan->format), net->spec.arch);
    for (int k = 0; k < ps->n_keep; k++) {
        int found = 0;
        for (int i = 0; i < net->n_nodes && !found; i++)
            found = conv_eligible(&net->nodes[i]) && !strcmp(net->nodes[i].p.conv.weight_name, ps->keep[k]);
        if (!found)
            return pc_fail(err, "%s: [precision] keep: '%s' is not an 8-bit conv of %s (those are: %s)", ps->keep_origin,
                           ps->keep[k], net->spec.arch, names);
    }
    plan->node = xmalloc((size_t)net->n_nodes * sizeof(int));
    plan->layer = xmalloc((size_t)net->n_nodes * sizeof *plan->layer);
    for (int i = 0; i < net->n_nodes; i++) {
        if (!conv_eligible(&net->nodes[i])) continue;
        int kept = 0;
        for (int k = 0; k < ps->n_keep; k++) kept |= !strcmp(net->nodes[i].p.conv.weight_name, ps->keep[k]);
        if (kept) continue;
        plan->node[plan->n] = i;
        snprintf(plan->layer[plan->n++], 64, "%s", net->nodes[i].p.conv.weight_name);
    }
    plan->amax = xcalloc((size_t)plan->n + 1, sizeof(float));
    plan->in_scale = xcalloc((size_t)plan->n + 1, sizeof(float));
    plan->q = (PcQuant){plan->format, net->n_nodes, xcalloc((size_t)net->n_nodes, sizeof(float))};
    return 0;
}

void pc_quant_plan_free(PcQuantPlan *plan) {
    free(plan->node);
    free(plan->layer);
    free(plan->amax);
    free(plan->in_scale);
    free(plan->q.in_scale);
    memset(plan, 0, sizeof *plan);
}

// ---- calibration ------------------------------------------------------------------------------

int pc_quant_observe(PcQuantPlan *plan, PcBackend *be, PcBackendNet *bn, const PcNet *net, const float *x, int n,
                     PcError *err) {
    // the distinct input nodes of the 8-bit convs (a ResNet block's conv1 and downsample share one)
    int *taps = xmalloc((size_t)(plan->n + 1) * sizeof(int)), n_taps = 0;
    for (int i = 0; i < plan->n; i++) {
        int in = net->nodes[plan->node[i]].input, seen = 0;
        for (int t = 0; t < n_taps; t++) seen |= taps[t] == in;
        if (!seen) taps[n_taps++] = in;
    }
    float **d = xcalloc((size_t)n_taps + 1, sizeof(float *));
    size_t *floats = xmalloc((size_t)(n_taps + 1) * sizeof(size_t)), most = 0;
    int rc = 0;
    for (int t = 0; t < n_taps && !rc; t++) {
        const PcNode *nd = &net->nodes[taps[t]];
        floats[t] = (size_t)n * nd->c * nd->h * nd->w;
        if (floats[t] > most) most = floats[t];
        d[t] = be->alloc(be, floats[t] * sizeof(float));
        if (!d[t]) rc = pc_fail(err, "calibration: no memory for the activations of %d images", n);
    }
    if (!rc) rc = be->forward(be, bn, x, n, NULL, n_taps, taps, d, err);
    float *host = rc ? NULL : xmalloc(most * sizeof(float));
    for (int t = 0; t < n_taps && !rc; t++) {
        be->download(be, host, d[t], floats[t] * sizeof(float));
        float m = 0.0f;
        for (size_t j = 0; j < floats[t]; j++) m = fmaxf(m, fabsf(host[j]));   // fmaxf skips NaN
        for (int i = 0; i < plan->n; i++)
            if (net->nodes[plan->node[i]].input == taps[t]) plan->amax[i] = fmaxf(plan->amax[i], m);
    }
    for (int t = 0; t < n_taps; t++)
        if (d[t]) be->release(be, d[t]);
    free(host), free(d), free(floats), free(taps);
    return rc;
}

// The per-node form (net_set_quant) of the plan's scales.
static void fill_per_node(PcQuantPlan *plan) {
    memset(plan->q.in_scale, 0, (size_t)plan->q.n_nodes * sizeof(float));
    for (int i = 0; i < plan->n; i++) plan->q.in_scale[plan->node[i]] = plan->in_scale[i];
}

void pc_quant_calibrated(PcQuantPlan *plan, int n_images) {
    const float qmax = pc_q_max(plan->format);
    for (int i = 0; i < plan->n; i++) {
        // an all-zero input, one so small that amax / QMAX is not a normal float (its values round
        // to 0 at any usable scale, as a tiny weight channel's: quant.h) or an inf one: the scale 1.
        // Otherwise clip's scale, even when clip makes it subnormal: calibrate() refuses that one
        // naming clip (taking 1 instead would hide a clip that cannot work).
        const float s = (float)plan->clip * plan->amax[i] / qmax;
        plan->in_scale[i] = pc_quant_scale_ok(plan->amax[i] / qmax) ? s : 1.0f;
    }
    plan->calibration_images = n_images;
    plan->from_file = 0;
    fill_per_node(plan);
}

// ---- the [quant] section of the configuration key ---------------------------------------------

char *pc_quant_key_text(const PcQuantPlan *plan) {
    size_t cap = 128 + (size_t)plan->n * 96, used = 0;
    char *s = xmalloc(cap);
    used += (size_t)snprintf(s, cap, "\n[quant]\nformat = %s\ncalibration_images = %d\n",
                             pc_quant_format_name(plan->format), plan->calibration_images);
    for (int i = 0; i < plan->n; i++)
        used += (size_t)snprintf(s + used, cap - used, "%s = %.9g\n", plan->layer[i], (double)plan->in_scale[i]);
    return s;
}

// The next line of the [quant] section at *p as "name = value": 1 with name and value, 0 at its end.
static int next_line(const char **p, char *name, size_t nn, char *value, size_t vn) {
    const char *s = *p, *e = strchr(s, '\n');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (!len || s[0] == '[') return 0;
    const char *eq = memchr(s, '=', len);
    if (!eq || eq == s || eq[-1] != ' ' || eq + 1 >= s + len || eq[1] != ' ') return 0;
    snprintf(name, nn, "%.*s", (int)(eq - 1 - s), s);
    snprintf(value, vn, "%.*s", (int)(s + len - eq - 2), eq + 2);
    *p = e ? e + 1 : s + len;
    return 1;
}

int pc_quant_from_key(PcQuantPlan *plan, const char *key) {
    const char *p = key ? strstr(key, "\n[quant]\n") : NULL;
    if (!p) return 0;
    p += 9;
    char name[128], value[64], *end;
    if (!next_line(&p, name, sizeof name, value, sizeof value) || strcmp(name, "format") ||
        strcmp(value, pc_quant_format_name(plan->format)))
        return 0;
    if (!next_line(&p, name, sizeof name, value, sizeof value) || strcmp(name, "calibration_images")) return 0;
    long images = strtol(value, &end, 10);
    if (*end || images < 0) return 0;
    float *s = xmalloc((size_t)(plan->n + 1) * sizeof(float));
    int i = 0, ok = 1;
    while (ok && next_line(&p, name, sizeof name, value, sizeof value)) {
        ok = i < plan->n && !strcmp(name, plan->layer[i]);
        if (ok) s[i] = strtof(value, &end);
        ok = ok && !*end && pc_quant_scale_ok(s[i]);   // what the backends take
        i++;
    }
    if (ok && i == plan->n) {
        memcpy(plan->in_scale, s, (size_t)plan->n * sizeof(float));
        const float qmax = pc_q_max(plan->format);
        for (int k = 0; k < plan->n; k++) plan->amax[k] = plan->in_scale[k] * qmax / (float)plan->clip;
        plan->calibration_images = (int)images;
        plan->from_file = 1;
        fill_per_node(plan);
    }
    free(s);
    return ok && i == plan->n;
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
