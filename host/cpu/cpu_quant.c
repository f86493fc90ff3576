// cpu_quant.c: the 8-bit precisions on the CPU (quant_scheme.h), an emulation exact in value: each 8-bit
// conv runs as the fp32 conv of fake-quantised operands, Q(x / s_x) * s_x and Q(w / s_w) * s_w,
// with Q the rounding of quant_scheme.h (E4M3 or int8). Every product of two 8-bit codes is exact in fp32
// and the scale products are rounded once, so this differs from the CUDA form
// s_x * s_w[k] * sum(q_x * q_w) only by the fp32 rounding of the sums. Slower than fp32 (one pass
// of rounding over each 8-bit conv's input); the backward (gradients) stays unquantised fp32.
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

void cpu_quant_free(CpuQuant *q) {
    if (!q) return;
    for (int i = 0; i < q->n_nodes; i++) {
        free(q->weight[i]);
        free(q->direct_w[i]);
    }
    for (int t = 0; t < q->workers; t++) free(q->qin[t]);
    free(q->qin);
    free(q->weight);
    free(q->direct_w);
    free(q->in_scale);
    free(q);
}

void cpu_quant_input_part(void *arg, int part, int parts) {
    const CpuQuantInput *j = arg;
    const long c0 = cpu_part_begin(j->c, part, parts), c1 = cpu_part_begin(j->c, part + 1, parts);
    for (long c = c0; c < c1; c++) {
        const float *src = j->in + c * j->cs;
        float *dst = j->out + c * j->cs;
        if (j->format == PC_QUANT_INT8) {
            for (long i = 0; i < j->cols; i++) dst[i] = pc_q_int8(src[i] * j->inv_s) * j->s;
        } else {
            for (long i = 0; i < j->cols; i++) dst[i] = pc_q_e4m3(src[i] * j->inv_s) * j->s;
        }
    }
}

// The fake-quantised copy of a conv's weights: w (cout, cin, k, k) -> Q(w[k] / s_w[k]) * s_w[k].
static float *fake_quant_weights(const PcConvParams *c, PcQuantFormat f) {
    const long per_out = (long)c->cin * c->k * c->k;
    float *s_w = xmalloc((size_t)c->cout * sizeof(float));
    float *qw = xmalloc((size_t)c->cout * per_out * sizeof(float));
    pc_quant_weight_scales(c->weight, c->cout, per_out, f, s_w);
    for (int k = 0; k < c->cout; k++) {
        const float s = s_w[k], inv = 1.0f / s;
        const float *w = c->weight + (size_t)k * per_out;
        float *d = qw + (size_t)k * per_out;
        for (long j = 0; j < per_out; j++) d[j] = pc_q_fake(w[j], inv, s, f);
    }
    free(s_w);
    return qw;
}

// One line on what is wrong with q for this net and backend, or 0.
static int check_quant(const CpuContext *ctx, const PcNet *net, const PcQuant *q, PcError *err) {
    const PcQuantFormat want = pc_quant_format_of(ctx->precision);
    if (want == PC_QUANT_NONE || q->format != want)
        return pc_fail(err, "cpu net_set_quant: %s scales for a backend of precision %s",
                       q->format == PC_QUANT_INT8 ? "int8" : q->format == PC_QUANT_FP8 ? "fp8" : "no-format",
                       ctx->precision == PC_PREC_FP8 ? "fp8" : ctx->precision == PC_PREC_INT8 ? "int8" : "fp32");
    if (q->n_nodes != net->n_nodes || !q->in_scale)
        return pc_fail(err, "cpu net_set_quant: scales for %d nodes, the net %s has %d", q->n_nodes, net->spec.arch,
                       net->n_nodes);
    for (int i = 0; i < net->n_nodes; i++) {
        const float s = q->in_scale[i];
        if (s == 0.0f) continue;
        const PcNode *nd = &net->nodes[i];
        // normal, so that 1 / s (what the input is multiplied by) is finite: the CUDA twin's rule
        if (!pc_quant_scale_ok(s))
            return pc_fail(err, "cpu net_set_quant: node %d: input scale %g is not a normal finite number > 0 (with a "
                           "finite reciprocal)", i, s);
        if (nd->op != PC_NODE_CONV || !pc_quant_eligible(nd->input, nd->p.conv.cin, nd->p.conv.cout))
            return pc_fail(err, "cpu net_set_quant: node %d (%s) cannot run in 8 bits", i,
                           nd->op == PC_NODE_CONV ? nd->p.conv.weight_name : nd->name);
    }
    return 0;
}

int cpu_net_set_quant(PcBackend *be, PcBackendNet *bn, const PcQuant *q, PcError *err) {
    const CpuContext *ctx = be->impl;
    const PcNet *net = cpu_net_of(bn, NULL);
    if (!q) {
        cpu_net_attach_quant(bn, NULL);
        return 0;
    }
    if (check_quant(ctx, net, q, err)) return -1;
    CpuQuant *cq = xcalloc(1, sizeof *cq);
    cq->format = q->format;
    cq->n_nodes = net->n_nodes;
    cq->in_scale = xmalloc((size_t)net->n_nodes * sizeof(float));
    memcpy(cq->in_scale, q->in_scale, (size_t)net->n_nodes * sizeof(float));
    cq->weight = xcalloc((size_t)net->n_nodes, sizeof(float *));
    cq->direct_w = xcalloc((size_t)net->n_nodes, sizeof(float *));
    for (int i = 0; i < net->n_nodes; i++) {
        if (cq->in_scale[i] == 0.0f) continue;
        const PcConvParams *c = &net->nodes[i].p.conv;
        cq->weight[i] = fake_quant_weights(c, q->format);
        if (cpu_net_uses_direct(bn, i)) {
            PcConvParams cp = *c;
            cp.weight = cq->weight[i];
            cq->direct_w[i] = xmalloc(cpu_direct_pack_floats(c) * sizeof(float));
            cpu_direct_pack(&cp, cq->direct_w[i]);
        }
    }
    cpu_net_attach_quant(bn, cq);
    return 0;
}
