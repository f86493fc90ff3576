// config_model.c: the [model] section of a configuration: the torchvision family member or the
// custom VGG / ResNet shape (PcArchSpec), the weights path, class names or count, target layers.
#define _GNU_SOURCE
#include "config_model.h"

#include "config_keys.h"
#include "config_values.h"

#include <stdio.h>
#include <string.h>

static int is_arch_name(const char *a) {
    static const char *const names[] = {"vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn",
                                        "vgg16_bn", "vgg19_bn", "resnet18", "resnet34", "resnet50",
                                        "resnet101", "resnet152", "vgg", "resnet", NULL};
    for (int i = 0; names[i]; i++)
        if (!strcmp(a, names[i])) return 1;
    return 0;
}

// [model] arch: the family member's torchvision shape (pc_arch_from_name), completed below for
// the custom members vgg / resnet. The one place where PcArchSpec is built.
static int check_arch(PcConfig *cfg, PcError *err) {
    const char *arch = cfg_effective(cfg, K_ARCH);
    if (!is_arch_name(arch))
        return cfg_bad_value(cfg, K_ARCH, "vgg11..vgg19, vgg*_bn, resnet18..resnet152, vgg or resnet", err);
    if (pc_arch_from_name(arch, &cfg->spec, err)) return -1;
    cfg->custom = !strcmp(arch, "vgg") || !strcmp(arch, "resnet");

    // Custom-shape keys only make sense for their custom family.
    static const int vgg_keys[] = {K_VGG_CFG, K_VGG_CLASSIFIER, K_VGG_BN};
    static const int resnet_keys[] = {K_RESNET_BLOCK, K_RESNET_STEM, K_RESNET_STAGES};
    for (int i = 0; i < 3; i++) {
        int k = vgg_keys[i];
        if (cfg->raw[k] && cfg->raw[k][0] && strcmp(arch, "vgg"))
            return pc_fail(err, "%s: [model] %s only applies to arch = vgg (arch is %s)", cfg->origin[k],
                           pc_config_key(k)->key, arch);
        k = resnet_keys[i];
        if (cfg->raw[k] && cfg->raw[k][0] && strcmp(arch, "resnet"))
            return pc_fail(err, "%s: [model] %s only applies to arch = resnet (arch is %s)",
                           cfg->origin[k], pc_config_key(k)->key, arch);
    }
    return 0;
}

// [model] classes / num_classes: an explicit class count (cfg->n_classes, 0 = none) or a class-name
// file; the final count is decided by pc_config_arch_spec.
static int check_classes(PcConfig *cfg, PcError *err) {
    long v;
    const char *classes = cfg_effective(cfg, K_CLASSES);
    int classes_count = 0;
    if (classes[0]) {
        if (cfg_parse_long(classes, 1, 1000000, &v) == 0) classes_count = (int)v;
        else cfg->classes_file = cfg_resolve_path(cfg, K_CLASSES);
    }
    cfg->n_classes = classes_count;
    if (cfg_effective(cfg, K_NUM_CLASSES)[0]) {
        if (cfg_get_int(cfg, K_NUM_CLASSES, 1, 1000000, &v, err)) return -1;
        cfg->n_classes = (int)v;
        if (classes_count && classes_count != cfg->n_classes)
            return pc_fail(err, "%s: [model] num_classes = %d disagrees with classes = %d", cfg->origin[K_NUM_CLASSES],
                           cfg->n_classes, classes_count);
    }
    if (cfg->n_classes) cfg->spec.n_classes = cfg->n_classes;
    return 0;
}

static int check_layers(PcConfig *cfg, PcError *err) {
    const char *layers = cfg_effective(cfg, K_LAYERS);
    cfg->n_layers = 0;
    if (!layers[0]) return 0;
    int n = cfg_split_list(layers, cfg->layers, PC_MAX_TARGETS);
    if (n < 0) return cfg_bad_value(cfg, K_LAYERS, "1 to 8 comma-separated layer names", err);
    cfg->n_layers = n;
    return 0;
}

// arch = vgg: vgg_cfg, vgg_classifier, vgg_bn.
static int check_vgg_shape(PcConfig *cfg, PcError *err) {
    long v;
    char items[PC_MAX_VGG_CFG][64];
    const char *s = cfg_effective(cfg, K_VGG_CFG);
    const char *cfg_expect = "comma-separated widths and M, e.g. 16,16,M,32,32,M";
    if (!s[0]) return pc_fail(err, "%s: arch = vgg needs [model] vgg_cfg (e.g. 16,16,M,32,32,M)", cfg->path);
    int n = cfg_split_list(s, items, PC_MAX_VGG_CFG);
    if (n < 0) return cfg_bad_value(cfg, K_VGG_CFG, cfg_expect, err);
    for (int i = 0; i < n; i++) {
        if (!strcmp(items[i], "M")) cfg->spec.vgg_cfg[i] = 0;
        else if (cfg_parse_long(items[i], 1, 1 << 20, &v) == 0) cfg->spec.vgg_cfg[i] = (int)v;
        else return cfg_bad_value(cfg, K_VGG_CFG, cfg_expect, err);
    }
    cfg->spec.n_vgg_cfg = n;
    const char *hidden_expect = "comma-separated hidden widths, e.g. 4096,4096";
    n = cfg_split_list(cfg_effective(cfg, K_VGG_CLASSIFIER), items, 8);
    if (n < 0) return cfg_bad_value(cfg, K_VGG_CLASSIFIER, hidden_expect, err);
    for (int i = 0; i < n; i++) {
        if (cfg_parse_long(items[i], 1, 1 << 20, &v)) return cfg_bad_value(cfg, K_VGG_CLASSIFIER, hidden_expect, err);
        cfg->spec.vgg_hidden[i] = (int)v;
    }
    cfg->spec.n_vgg_hidden = n;
    return cfg_get_bool(cfg, K_VGG_BN, &cfg->spec.vgg_bn, err);
}

// arch = resnet: resnet_block, resnet_stem, resnet_stages.
static int check_resnet_shape(PcConfig *cfg, PcError *err) {
    long v;
    int b;
    static const char *const blocks[] = {"basic", "bottleneck", NULL};
    if (cfg_get_choice(cfg, K_RESNET_BLOCK, blocks, &b, err)) return -1;
    cfg->spec.resnet_bottleneck = b;
    if (cfg_get_int(cfg, K_RESNET_STEM, 1, 1 << 20, &v, err)) return -1;
    cfg->spec.resnet_stem = (int)v;
    const char *s = cfg_effective(cfg, K_RESNET_STAGES);
    const char *expect = "planes x blocks / stride per stage, e.g. 64x3/1,128x4/2";
    if (!s[0]) return pc_fail(err, "%s: arch = resnet needs [model] resnet_stages (e.g. 64x3/1,128x4/2,256x6/2,512x3/2)", cfg->path);
    char items[PC_MAX_STAGES][64];
    int n = cfg_split_list(s, items, PC_MAX_STAGES);
    if (n < 0) return cfg_bad_value(cfg, K_RESNET_STAGES, expect, err);
    for (int i = 0; i < n; i++) {
        int planes, nb, stride;
        char tail;
        // bounded so that planes * expansion and the node count stay far from int overflow
        if (sscanf(items[i], "%dx%d/%d%c", &planes, &nb, &stride, &tail) != 3 || planes < 1 || planes > (1 << 20) ||
            nb < 1 || nb > 1024 || stride < 1 || stride > 4)
            return cfg_bad_value(cfg, K_RESNET_STAGES, expect, err);
        cfg->spec.stage_planes[i] = planes;
        cfg->spec.stage_blocks[i] = nb;
        cfg->spec.stage_stride[i] = stride;
    }
    cfg->spec.n_stages = n;
    return 0;
}

int cfg_check_model(PcConfig *cfg, PcError *err) {
    if (check_arch(cfg, err)) return -1;
    // NULL when not set: the run says so after `--check` has printed the run's cost (run.c), so a
    // shipped paper configuration can be costed and checked before its weights are downloaded
    cfg->weights = cfg_resolve_path(cfg, K_WEIGHTS);
    if (check_classes(cfg, err) || check_layers(cfg, err)) return -1;
    if (!strcmp(cfg->spec.arch, "vgg")) return check_vgg_shape(cfg, err);
    if (!strcmp(cfg->spec.arch, "resnet")) return check_resnet_shape(cfg, err);
    return 0;
}

int pc_config_arch_spec(const PcConfig *cfg, int n_class_names, PcArchSpec *spec, PcError *err) {
    *spec = cfg->spec;
    if (n_class_names <= 0) return 0;
    if (cfg->n_classes && cfg->n_classes != n_class_names)
        return pc_fail(err, "class names %s: %d names for a model of %d classes", cfg->classes_file, n_class_names,
                       cfg->n_classes);
    spec->n_classes = n_class_names;
    return 0;
}

