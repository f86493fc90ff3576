// fuzz_config.c: the INI loader (host/config*.c over inih): the file's text, then up to four
// --set overrides. Input: the INI text up to the first 0xFF byte, then the overrides separated by
// 0xFE bytes. A configuration that loads is printed back (pc_config_canonical, the key stored in
// every result file) and turned into a network description. Seeds: configs/*.ini.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1), *sets[4];
    memcpy(text, data, size);
    text[size] = 0;
    int n_sets = 0;
    char *cut = memchr(text, 0xFF, size);
    if (cut) {
        *cut++ = 0;
        while (n_sets < 4 && cut) {
            sets[n_sets++] = cut;
            if ((cut = strchr(cut, 0xFE))) *cut++ = 0;
        }
    }
    PcConfig cfg;
    PcError err = {{0}};
    int rc = pc_config_load_string(text, "fuzz/config.ini", n_sets, sets, &cfg, &err);
    if (rc == 0) {
        char *canon = pc_config_canonical(&cfg, 0), *key = pc_config_canonical(&cfg, 1);
        fuzz_touch(canon, strlen(canon));
        fuzz_touch(key, strlen(key));
        free(canon);
        free(key);
        PcArchSpec spec;
        if (pc_config_arch_spec(&cfg, 1000, &spec, &err) == 0) fuzz_touch(&spec, sizeof spec);
        pc_config_free(&cfg);
    } else if (!err.msg[0] || strchr(err.msg, '\n')) {
        __builtin_trap();   // a refusal is one line
    }
    free(text);
    return 0;
}
