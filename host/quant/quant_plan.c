// quant_plan.c: the 8-bit plan (quant_plan.h): which convs, the calibration of their input scales
// and the [quant] section of the configuration key.
#define _GNU_SOURCE
#include "quant_plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


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
        // to 0 at any usable scale, as a tiny weight channel's: quant_scheme.h) or an inf one: the scale 1.
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
