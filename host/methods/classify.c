// classify.c: one forward pass for the class and its score (classify.h).
#include "classify.h"

#include <stdlib.h>

int pc_classify(PcBackend *be, PcBackendNet *bn, const PcNet *net, const float *x, int size, int cls, int *cls_out,
                float *score, PcError *err) {
    const int K = net->n_classes;
    const size_t xs = (size_t)3 * size * size * sizeof(float);
    float *d_x = be->alloc(be, xs), *d_l = be->alloc(be, (size_t)K * sizeof(float)), *d_s = be->alloc(be, sizeof(float));
    float *logits = xmalloc((size_t)K * sizeof(float));
    int rc = d_x && d_l && d_s ? 0 : pc_fail(err, "classify: out of %s memory", be->name);
    if (rc == 0) {
        be->upload(be, d_x, x, xs);
        rc = be->forward(be, bn, d_x, 1, d_l, 0, NULL, NULL, err);
    }
    if (rc == 0) {
        be->download(be, logits, d_l, (size_t)K * sizeof(float));
        if (cls < 0) {
            cls = 0;
            for (int i = 1; i < K; i++)
                if (logits[i] > logits[cls]) cls = i;   // first maximum, as pc_explain
        }
        be->softmax_gather(be, d_l, 1, K, cls, d_s);
        be->download(be, score, d_s, sizeof(float));
        *cls_out = cls;
    }
    free(logits);
    if (d_x) be->release(be, d_x);
    if (d_l) be->release(be, d_l);
    if (d_s) be->release(be, d_s);
    return rc;
}
