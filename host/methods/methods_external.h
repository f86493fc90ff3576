// methods_external.h: ext:NAME, maps made elsewhere (methods_external.c, docs/external-maps.md): the compute,
// open and close functions of its registry row.
#ifndef PC_METHODS_EXTERNAL_H
#define PC_METHODS_EXTERNAL_H

#include <stdio.h>

#include "methods.h"

// Its native map brought to S x S itself: it may be larger than S.
int pc_method_external(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_external_open(const PcMethodSettings *s, const char *id, char *const *names, int n, FILE *log,
                            void **state, PcError *err);
void pc_method_external_close(void *state);

#endif
