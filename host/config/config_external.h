// config_external.h: the [external NAME] sections of the ext:NAME methods (config_external.c;
// docs/external-maps.md).
#ifndef PC_CONFIG_EXTERNAL_H
#define PC_CONFIG_EXTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

// 1 with NAME copied when section is "external NAME" with a valid NAME (methods.h), -1 for
// "external" with a missing or bad NAME, 0 for any other section.
int cfg_external_section(const char *section, char *name, size_t cap);
// Sets key (file | method) of [external name] from origin; line > 0 for the file's lines (a key
// twice is an error). -1 with the problem in err, without origin (the caller puts it first).
int cfg_external_set(PcConfig *cfg, const char *name, const char *key, const char *value, const char *origin,
                     int line, PcError *err);
// After the other checks: each section's file set, resolved and read (checksum); each ext:NAME of
// [saliency] methods has its section. One line naming the origin.
int cfg_check_external(PcConfig *cfg, PcError *err);
// The sections as canonical INI text (malloc'd, "" when none): file resolved, method, checksum.
char *cfg_external_text(const PcConfig *cfg);
void cfg_external_free(PcConfig *cfg);
void cfg_external_help(FILE *out);

#endif
