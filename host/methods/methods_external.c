// methods_external.c: method ext:NAME (methods.h registry row "ext:"; docs/external-maps.md), the
// maps another tool made, read from the file of [external NAME] (external.h) and brought to the
// input size S x S with up() (SPEC §2: bilinear, align_corners = False, PyTorch's
// F.interpolate as the reference's evaluation.py calls it) on the backend; from there an ext: map
// goes through the curves, localisation, tables and report as every method's map does.
#include "methods.h"

#include <stdlib.h>
#include <string.h>

#include "external.h"
#include "methods_external.h"

int pc_method_external_open(const PcMethodSettings *set, const char *id, char *const *names, int n, FILE *log,
                            void **state, PcError *err) {
    const char *name = id + strlen(PC_EXT_PREFIX), *file = NULL, *method = "";
    for (int i = 0; i < set->n_external && !file; i++)
        if (!strcmp(set->external[i].name, name)) file = set->external[i].file, method = set->external[i].method;
    if (!file) return pc_fail(err, "%s: no [external %s] section with file = FILE", id, name);
    PcError e;
    PcExternal *x = pc_external_open(file, name, method ? method : "", names, n, &e);
    if (!x) return pc_fail(err, "%s: %s", id, e.msg);
    const int miss = pc_external_missing(x);
    if (miss && log) {
        fprintf(log, "warning: %s: %s has no map for %d of %d images (", id, file, miss, n);
        for (int k = 0; k < miss && k < 3; k++) fprintf(log, "%s%s", k ? ", " : "", names[pc_external_missing_at(x, k)]);
        fprintf(log, "%s); each is left out of %s's rows only (/images/status names it)\n", miss > 3 ? ", ..." : "", id);
    }
    *state = x;
    return 0;
}

void pc_method_external_close(void *state) { pc_external_close(state); }

int pc_method_external(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err) {
    if (!ctx->state || !ctx->name) return pc_fail(err, "maps made elsewhere: the method's file is not open");
    const int S = ctx->size;
    float *m = NULL;
    int mh = 0, mw = 0, rc = pc_external_map(ctx->state, ctx->name, &m, &mh, &mw, err);
    if (rc) return rc > 0 ? PC_METHOD_NO_MAP : -1;
    // the map may be larger than the S x S the caller's buffer holds: brought to S x S here
    if (mh == S && mw == S) memcpy(out, m, (size_t)S * S * sizeof(float));
    else pc_method_up(ctx, m, mh, mw, S, S, out);
    free(m);
    *h = *w = S;
    return 0;
}
