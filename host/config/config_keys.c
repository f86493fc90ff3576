// config_keys.c: the key table of config_keys.h (one row per key of PC_CONFIG_KEYS), its sections
// and the lookups every configuration module reads values through.
#include "config_keys.h"

#include <string.h>

const PcConfigKeyDef pc_config_keys[K_COUNT] = {
#define PC_KEY_ROW(name, section, key, def, help, affects) {section, key, def, help, affects},
    PC_CONFIG_KEYS(PC_KEY_ROW)
#undef PC_KEY_ROW
};

const char *const pc_config_sections[] = {"model", "data", "preprocess", "saliency", "cam", "layercam",
                                         "zoomcam", "ig", "smoothgrad", "smoothgradcampp", "sscam", "iscam",
                                         "rise", "occlusion", "metrics", "robustness", "output", "run",
                                         "sanity", "precision"};
const int pc_config_n_sections = (int)(sizeof pc_config_sections / sizeof pc_config_sections[0]);

int pc_config_n_keys(void) { return K_COUNT; }
const PcConfigKeyDef *pc_config_key(int i) { return (i >= 0 && i < K_COUNT) ? &pc_config_keys[i] : NULL; }

int pc_config_section_known(const char *s) {
    for (int i = 0; i < pc_config_n_sections; i++)
        if (!strcmp(pc_config_sections[i], s)) return 1;
    return 0;
}

int pc_config_key_index(const char *section, const char *key) {
    for (int i = 0; i < K_COUNT; i++)
        if (!strcmp(pc_config_keys[i].section, section) && !strcmp(pc_config_keys[i].key, key)) return i;
    return -1;
}

// The effective text of key k: its value, or the default when absent or empty ("key =").
const char *cfg_effective(const PcConfig *cfg, int k) {
    return cfg->raw[k] && cfg->raw[k][0] ? cfg->raw[k] : pc_config_key(k)->def;
}

const char *pc_config_get(const PcConfig *cfg, const char *section, const char *key) {
    int k = pc_config_key_index(section, key);
    if (k < 0) return NULL;
    if (cfg->value && cfg->value[k]) return cfg->value[k];
    return cfg_effective(cfg, k);
}
