// describe.c: the self-describing attributes of a run (describe.h), built from its configuration
// and the method registry; results/description.c writes and reads them.
#define _GNU_SOURCE
#include "describe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polycam_ids.h"

// Appends to buf (size n) in printf style.
static void append(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t n, const char *fmt, ...) {
    size_t used = strlen(buf);
    if (used + 1 >= n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, n - used, fmt, ap);
    va_end(ap);
}

static void preprocessing(const PcConfig *cfg, char *buf, size_t n) {
    const int S = cfg->size;
    snprintf(buf, n, "decoded to 8-bit RGB, divided by 255, ");
    if (cfg->resize == PC_RESIZE_ANTIALIAS)
        append(buf, n, "resized to %d x %d with antialiased bilinear interpolation (torchvision >= 0.17, PIL)", S, S);
    else if (cfg->resize == PC_RESIZE_CROP256)
        append(buf, n, "shorter side resized to %d (antialiased bilinear), centre crop %d x %d", (int)(S * 256.0 / 224.0 + 0.5),
               S, S);
    else
        append(buf, n, "resized to %d x %d, bilinear, align_corners = false, no antialiasing (SPEC §1)", S, S);
    append(buf, n, ", normalised per channel with mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)");
}

static void baseline(const PcConfig *cfg, char *buf, size_t n) {
    const PcInsDelOptions *o = &cfg->insdel;
    if (o->baseline == PC_BASE_BLUR)
        snprintf(buf, n, "gaussian blur %d×%d, σ %g, reflect (of the normalised input; SPEC §8)", o->blur_kernel,
                 o->blur_kernel, (double)o->blur_sigma);
    else if (o->baseline == PC_BASE_GREY)
        snprintf(buf, n, "grey: pixel value 0.5 before normalisation");
    else
        snprintf(buf, n, "zero after normalisation (the dataset mean)");
}

void pc_describe_init(PcDescription *d, const PcConfig *cfg, int n_methods) {
    memset(d, 0, sizeof *d);
    snprintf(d->class_source, sizeof d->class_source, "%s",
             cfg->class_source == PC_CLASS_LABEL
                 ? "ground-truth label ([saliency] class = label); an image without a label: the top-1 prediction"
                 : "top-1 prediction: the first argmax of the logits of the unmodified input (SPEC §4)");
    preprocessing(cfg, d->preprocessing, sizeof d->preprocessing);
    d->n_methods = n_methods;
    d->method = xcalloc((size_t)(n_methods > 0 ? n_methods : 1), sizeof *d->method);
    d->steps = cfg->insdel.steps;
    const long ss = (long)cfg->size * cfg->size;
    d->pixels_per_step = (ss + d->steps - 1) / d->steps;
    snprintf(d->auc_rule, sizeof d->auc_rule, "mean of the %d scores: AUC = (1/%d) sum_t y_t, y_t the softmax "
             "probability of the explained class at step t; no point before the first step, no trapezoid (SPEC §8)",
             d->steps, d->steps);
    baseline(cfg, d->baseline, sizeof d->baseline);
    snprintf(d->order, sizeof d->order, "pixels by saliency descending, ties by ascending row-major index; step t "
             "inserts / deletes the first min(%ld (t + 1), %ld) of them (SPEC §8)", d->pixels_per_step, ss);
}


// The layer settings whose empty value stands for the arch's default, and the list it resolved to.
static const struct {
    const char *section, *key;
    int list;
} k_layer_keys[] = {{"model", "layers", PC_DESC_MODEL_LAYERS},   {"saliency", "cam_layers", PC_DESC_CAM_LAYERS},
                    {"cam", "layer", PC_DESC_CAM_LAYER},         {"layercam", "layers", PC_DESC_LAYERCAM},
                    {"zoomcam", "layers", PC_DESC_ZOOMCAM}};

// ", [sec] key = value" of one setting; a layer list empty in the config is named as resolved.
static void setting(char *buf, size_t n, const char *sec, const char *key, int first_of_sec, const PcConfig *cfg,
                    const PcDescribeLayers *layers) {
    const char *v = pc_config_get(cfg, sec, key);
    if (!v) return;
    if (first_of_sec) append(buf, n, ", [%s] %s = ", sec, key);
    else append(buf, n, ", %s = ", key);
    for (size_t i = 0; !v[0] && layers && i < sizeof k_layer_keys / sizeof k_layer_keys[0]; i++) {
        const int l = k_layer_keys[i].list;
        if (strcmp(k_layer_keys[i].section, sec) || strcmp(k_layer_keys[i].key, key) || !layers->n[l]) continue;
        for (int k = 0; k < layers->n[l]; k++) append(buf, n, "%s%s", k ? "," : "", layers->names[l][k]);
        append(buf, n, " (the default)");
        return;
    }
    append(buf, n, "%s", v[0] ? v : "(default)");
}

// The registry row's settings text ("[cam] layer, [sscam] samples, sigma, [run] seed") with the
// run's values.
static void settings(char *buf, size_t n, const char *text, const PcConfig *cfg, const PcDescribeLayers *layers) {
    char sec[64] = "";
    for (const char *p = text; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[128];
        snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1), p);
        char *key = item;
        while (*key == ' ') key++;
        int first = 0;
        if (*key == '[') {
            char *close = strchr(key, ']');
            if (!close) break;
            snprintf(sec, sizeof sec, "%.*s", (int)(close - key - 1), key + 1);
            key = close + 1;
            while (*key == ' ') key++;
            first = 1;
        }
        if (*key && sec[0]) setting(buf, n, sec, key, first, cfg, layers);
        p = comma ? comma + 1 : NULL;
    }
}

// What an ablation id (<variant>.level.<layer>, .cam.<layer>, .no_lnorm) is of its variant.
static void ablation(char *buf, size_t n, const char *id, const PcConfig *cfg, const PcDescribeLayers *layers) {
    int variant;
    const char *layer;
    const int part = pc_polycam_parse(id, &variant, &layer);
    if (part == PC_PCAM_LEVEL)
        append(buf, n, "; level %s: S_l, the recursion's map at this layer (\"Poly-CAM at layer l\", paper Tables 2, 3)",
               layer);
    else if (part == PC_PCAM_CAM) {
        append(buf, n, "; cam %s: the isolated CAM C_l of this layer alone, up() to the input size (\"CAM at layer l\")",
               layer);
        if (cfg->n_cam_layers) setting(buf, n, "saliency", "cam_layers", 1, cfg, layers);
    } else if (part == PC_PCAM_NO_LNORM)
        append(buf, n, "; no_lnorm: the recursion without LNorm");
}

void pc_describe_methods(PcDescription *d, char (*ids)[PC_METHOD_ID_LEN], const PcConfig *cfg,
                         const PcDescribeLayers *layers) {
    for (int m = 0; m < d->n_methods; m++) {
        char row[PC_METHOD_ID_LEN];   // the registry id: the id up to its first '.'
        snprintf(row, sizeof row, "%.*s", (int)strcspn(ids[m], "."), ids[m]);
        const PcMethodDesc *desc = pc_method_find(row);
        if (!desc) continue;
        char *buf = d->method[m];
        const size_t n = sizeof d->method[m];
        snprintf(buf, n, "%s as %s", desc->title, desc->source);
        settings(buf, n, desc->settings, cfg, layers);
        if (strcmp(ids[m], desc->id)) ablation(buf, n, ids[m], cfg, layers);
    }
}
