// method_layers.c: the layer settings of the registry methods resolved against a net
// (methods.h: pc_method_settings_resolve, pc_method_default_layers).
#include <stdio.h>
#include <string.h>

#include "methods.h"
#include "saliency.h"   // PC_MAX_TARGETS

int pc_method_default_layers(const PcNet *net, const char *which, char names[][64], int max) {
    char tg[PC_MAX_TARGETS][64];
    int nt = pc_net_default_targets(net, tg, PC_MAX_TARGETS);
    if (nt <= 0) return 0;
    int n = 0;
    if (!strcmp(which, "cam")) {
        snprintf(names[n++], 64, "%s", tg[nt - 1]);
    } else if (!strcmp(which, "zoomcam") && !net->spec.is_resnet) {
        // VGG: every convolution's ReLU output in features (the Zoom-CAM code's list for VGG16)
        for (int i = 0; i < net->n_nodes && n < max; i++) {
            const PcNode *nd = &net->nodes[i];
            if (nd->op == PC_NODE_CONV && nd->relu && !strncmp(nd->name, "features.", 9))
                snprintf(names[n++], 64, "%s", nd->name);
        }
    } else {
        for (int i = 0; i < nt && n < max; i++) snprintf(names[n++], 64, "%.63s", tg[i]);
    }
    return n;
}

// The named feature-map outputs of the net, for the error message.
static void valid_layers(const PcNet *net, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < net->n_nodes && used + 80 < cap; i++) {
        const PcNode *nd = &net->nodes[i];
        if (nd->op == PC_NODE_LINEAR || !nd->name[0]) continue;
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", nd->name);
        if (nd->alias[0]) used += (size_t)snprintf(buf + used, cap - used, ", %s", nd->alias);
    }
}

static int resolve_list(const PcNet *net, const char *section, const char *key, const char *text, int single,
                        PcLayerList *L, PcError *err) {
    char names[PC_MAX_METHOD_LAYERS][64];
    int n = 0;
    if (!text[0]) {
        n = pc_method_default_layers(net, single ? "cam" : section, names, PC_MAX_METHOD_LAYERS);
        if (n == 0) return pc_fail(err, "[%s] %s: %s has no default layers; set it", section, key, net->spec.arch);
    } else {
        const char *p = text;
        while (1) {
            const char *c = strchr(p, ',');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            while (len && (*p == ' ' || *p == '\t')) p++, len--;
            while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
            if (n == PC_MAX_METHOD_LAYERS)
                return pc_fail(err, "[%s] %s: more than %d layers", section, key, PC_MAX_METHOD_LAYERS);
            snprintf(names[n++], 64, "%.*s", (int)(len < 63 ? len : 63), p);
            if (!c) break;
            p = c + 1;
        }
    }
    L->n = 0;
    for (int i = 0; i < n; i++) {
        int node = pc_net_find(net, names[i]);
        if (node < 0 || net->nodes[node].op == PC_NODE_LINEAR) {
            char valid[4096];
            valid_layers(net, valid, sizeof valid);
            return pc_fail(err, "[%s] %s: '%s' is not a feature-map layer of %s (valid: %s)", section, key, names[i],
                           net->spec.arch, valid);
        }
        if (i > 0 && node <= L->nodes[i - 1])
            return pc_fail(err, "[%s] %s: '%s' does not come after '%s'; give layers earliest first", section, key,
                           names[i], names[i - 1]);
        L->nodes[L->n] = node;
        snprintf(L->names[L->n++], 64, "%s", names[i]);
    }
    return 0;
}

int pc_method_settings_resolve(PcMethodSettings *s, const PcNet *net, PcError *err) {
    if (resolve_list(net, "cam", "layer", s->cam_layer, 1, &s->cam, err)) return -1;
    if (resolve_list(net, "layercam", "layers", s->layercam_layers, 0, &s->layercam, err)) return -1;
    if (resolve_list(net, "zoomcam", "layers", s->zoomcam_layers, 0, &s->zoomcam, err)) return -1;
    return 0;
}

// A number of [sec] key in [lo, hi] (lo excluded when lo_open), else one line with `expect`.
