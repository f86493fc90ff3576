// config_model.h: the [model] section (config_model.c): the torchvision family member or the
// custom vgg / resnet shape, the weights, the class names and the target layers.
#ifndef PC_CONFIG_MODEL_H
#define PC_CONFIG_MODEL_H

#include "config.h"

// [model]: arch, weights, classes, layers and the custom shapes into cfg->spec (config_model.c).
int cfg_check_model(PcConfig *cfg, PcError *err);

// The network to build: cfg->spec with its class count decided, in this order, by num_classes (or
// classes = N), the line count of the class-name file (n_class_names > 0 once it is read), or the
// arch's 1000. A name file that disagrees with an explicit count is an error.
int pc_config_arch_spec(const PcConfig *cfg, int n_class_names, PcArchSpec *spec, PcError *err);

#endif
