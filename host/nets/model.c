// model.c: builds torchvision VGG / ResNet networks as flat node lists with torchvision's module
// names, lists the state dict they expect, and loads weights into them (batch norm folded into the
// preceding convolution in double precision, eps 1e-5).
#include "model.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BN_EPS 1e-5

// ---- architecture specs ----------------------------------------------------------------------

static const int vgg_cfg_a[] = {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};
static const int vgg_cfg_b[] = {64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};
static const int vgg_cfg_d[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0,
                                512, 512, 512, 0, 512, 512, 512, 0};
static const int vgg_cfg_e[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0,
                                512, 512, 512, 512, 0, 512, 512, 512, 512, 0};

typedef struct {
    const char *name;
    const int *cfg;
    int n;
} VggDef;

#define VGG_DEF(nm, cfg) {nm, cfg, (int)(sizeof cfg / sizeof cfg[0])}
static const VggDef vgg_defs[] = {VGG_DEF("vgg11", vgg_cfg_a), VGG_DEF("vgg13", vgg_cfg_b),
                                  VGG_DEF("vgg16", vgg_cfg_d), VGG_DEF("vgg19", vgg_cfg_e)};

typedef struct {
    const char *name;
    int bottleneck;
    int blocks[4];
} ResnetDef;

static const ResnetDef resnet_defs[] = {
    {"resnet18", 0, {2, 2, 2, 2}},  {"resnet34", 0, {3, 4, 6, 3}},  {"resnet50", 1, {3, 4, 6, 3}},
    {"resnet101", 1, {3, 4, 23, 3}}, {"resnet152", 1, {3, 8, 36, 3}},
};

// Common defaults of both families (torchvision, ImageNet).
static void spec_defaults(PcArchSpec *spec, const char *arch, int is_resnet) {
    memset(spec, 0, sizeof *spec);
    snprintf(spec->arch, sizeof spec->arch, "%s", arch);
    spec->is_resnet = is_resnet;
    spec->n_vgg_hidden = 2;
    spec->vgg_hidden[0] = spec->vgg_hidden[1] = 4096;
    spec->vgg_pool = 7;
    spec->resnet_bottleneck = 1;
    spec->resnet_stem = 64;
    spec->n_classes = 1000;
    spec->in_size = 224;
}

int pc_arch_from_name(const char *arch, PcArchSpec *spec, PcError *err) {
    if (strcmp(arch, "vgg") == 0 || strcmp(arch, "resnet") == 0) {
        spec_defaults(spec, arch, arch[0] == 'r');
        return 0;
    }
    for (size_t i = 0; i < sizeof vgg_defs / sizeof vgg_defs[0]; i++) {
        size_t l = strlen(vgg_defs[i].name);
        if (strncmp(arch, vgg_defs[i].name, l) != 0) continue;
        if (arch[l] != 0 && strcmp(arch + l, "_bn") != 0) continue;
        spec_defaults(spec, arch, 0);
        spec->vgg_bn = arch[l] != 0;
        spec->n_vgg_cfg = vgg_defs[i].n;
        memcpy(spec->vgg_cfg, vgg_defs[i].cfg, (size_t)vgg_defs[i].n * sizeof(int));
        return 0;
    }
    for (size_t i = 0; i < sizeof resnet_defs / sizeof resnet_defs[0]; i++) {
        if (strcmp(arch, resnet_defs[i].name) != 0) continue;
        spec_defaults(spec, arch, 1);
        spec->resnet_bottleneck = resnet_defs[i].bottleneck;
        spec->n_stages = 4;
        for (int s = 0; s < 4; s++) {
            spec->stage_planes[s] = 64 << s;
            spec->stage_blocks[s] = resnet_defs[i].blocks[s];
            spec->stage_stride[s] = s == 0 ? 1 : 2;
        }
        return 0;
    }
    return pc_fail(err, "unknown architecture '%s' (vgg11, vgg13, vgg16, vgg19 with optional _bn, "
                        "resnet18, resnet34, resnet50, resnet101, resnet152, or custom vgg / resnet)",
                   arch);
}

// ---- node list construction ------------------------------------------------------------------

typedef struct {
    PcNet *net;
    int cap;
    PcError *err;
    int failed;
} Builder;

static int add_node(Builder *b, const PcNode *proto) {
    PcNet *net = b->net;
    if (net->n_nodes == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        net->nodes = realloc(net->nodes, (size_t)b->cap * sizeof(PcNode));
        if (!net->nodes) pc_die("alloc", "realloc", __FILE__, __LINE__, "node list");
    }
    net->nodes[net->n_nodes] = *proto;
    return net->n_nodes++;
}

static void in_shape(const PcNet *net, int input, int *c, int *h, int *w) {
    if (input < 0) {
        *c = net->in_c, *h = net->in_h, *w = net->in_w;
    } else {
        *c = net->nodes[input].c, *h = net->nodes[input].h, *w = net->nodes[input].w;
    }
}

// A node of op on input (and input2, -1 for none), its ReLU flag and name; the rest zero.
static PcNode new_node(PcNodeOp op, int input, int input2, int relu, const char *name) {
    PcNode nd;
    memset(&nd, 0, sizeof nd);
    nd.op = op;
    nd.input = input;
    nd.input2 = input2;
    nd.relu = relu;
    snprintf(nd.name, sizeof nd.name, "%s", name ? name : "");
    return nd;
}

// conv k x k (+ BN named bn) (+ ReLU); name is the output's torchvision name or "".
static int add_conv(Builder *b, int input, int cout, int k, int stride, int pad, const char *weight_name,
                    const char *bn_name, int relu, const char *name) {
    PcNode nd = new_node(PC_NODE_CONV, input, -1, relu, name);
    int cin, h, w;
    in_shape(b->net, input, &cin, &h, &w);
    nd.c = cout;
    nd.h = (h + 2 * pad - k) / stride + 1;
    nd.w = (w + 2 * pad - k) / stride + 1;
    if (h + 2 * pad < k || w + 2 * pad < k || nd.h < 1 || nd.w < 1) {
        if (!b->failed)
            pc_fail(b->err, "%s: input %dx%d too small for a %dx%d convolution", weight_name, h, w, k, k);
        b->failed = 1;
    }
    PcConvParams *cp = &nd.p.conv;
    cp->cin = cin, cp->cout = cout, cp->k = k, cp->stride = stride, cp->pad = pad;
    cp->has_bn = bn_name && bn_name[0];
    snprintf(cp->bn_name, sizeof cp->bn_name, "%s", cp->has_bn ? bn_name : "");
    snprintf(cp->weight_name, sizeof cp->weight_name, "%s", weight_name);
    return add_node(b, &nd);
}

static int add_maxpool(Builder *b, int input, int k, int stride, int pad, const char *name) {
    PcNode nd = new_node(PC_NODE_MAXPOOL, input, -1, 0, name);
    in_shape(b->net, input, &nd.c, &nd.h, &nd.w);
    int h = nd.h, w = nd.w;
    nd.h = (h + 2 * pad - k) / stride + 1;
    nd.w = (w + 2 * pad - k) / stride + 1;
    if (h + 2 * pad < k || w + 2 * pad < k) {
        if (!b->failed) pc_fail(b->err, "%s: input %dx%d too small for a %dx%d max-pool", name, h, w, k, k);
        b->failed = 1;
    }
    nd.p.pool.k = k, nd.p.pool.stride = stride, nd.p.pool.pad = pad;
    return add_node(b, &nd);
}

static int add_avgpool(Builder *b, int input, int out_h, int out_w, const char *name) {
    PcNode nd = new_node(PC_NODE_ADAPTIVE_AVG, input, -1, 0, name);
    in_shape(b->net, input, &nd.c, &nd.h, &nd.w);
    nd.h = out_h, nd.w = out_w;
    nd.p.apool.out_h = out_h, nd.p.apool.out_w = out_w;
    return add_node(b, &nd);
}

static int add_linear(Builder *b, int input, int out, const char *weight_name, int relu,
                      const char *name) {
    PcNode nd = new_node(PC_NODE_LINEAR, input, -1, relu, name);
    int c, h, w;
    in_shape(b->net, input, &c, &h, &w);
    nd.c = out, nd.h = 1, nd.w = 1;
    nd.p.linear.in = c * h * w;
    nd.p.linear.out = out;
    snprintf(nd.p.linear.weight_name, sizeof nd.p.linear.weight_name, "%s", weight_name);
    return add_node(b, &nd);
}

static int add_add_relu(Builder *b, int a, int c2, const char *name) {
    PcNode nd = new_node(PC_NODE_ADD, a, c2, 1, name);
    in_shape(b->net, a, &nd.c, &nd.h, &nd.w);
    int c, h, w;
    in_shape(b->net, c2, &c, &h, &w);
    if (c != nd.c || h != nd.h || w != nd.w) {
        if (!b->failed) pc_fail(b->err, "%s: residual shapes differ", name);
        b->failed = 1;
    }
    return add_node(b, &nd);
}

static void build_vgg(Builder *b, const PcArchSpec *s) {
    char wname[64], bnname[64], name[64];
    int x = -1, idx = 0;   // idx = index in torchvision's features Sequential
    for (int i = 0; i < s->n_vgg_cfg; i++) {
        int v = s->vgg_cfg[i];
        if (v == 0) {
            snprintf(name, sizeof name, "features.%d", idx);
            x = add_maxpool(b, x, 2, 2, 0, name);
            idx += 1;
            continue;
        }
        snprintf(wname, sizeof wname, "features.%d", idx);
        snprintf(bnname, sizeof bnname, "features.%d", idx + 1);
        int relu_idx = idx + (s->vgg_bn ? 2 : 1);
        snprintf(name, sizeof name, "features.%d", relu_idx);
        x = add_conv(b, x, v, 3, 1, 1, wname, s->vgg_bn ? bnname : NULL, 1, name);
        idx = relu_idx + 1;
    }
    x = add_avgpool(b, x, s->vgg_pool, s->vgg_pool, "avgpool");
    // classifier: (Linear, ReLU, Dropout) per hidden width, then the final Linear.
    idx = 0;
    for (int i = 0; i < s->n_vgg_hidden; i++) {
        snprintf(wname, sizeof wname, "classifier.%d", idx);
        snprintf(name, sizeof name, "classifier.%d", idx + 1);   // the ReLU: what the node holds
        x = add_linear(b, x, s->vgg_hidden[i], wname, 1, name);
        idx += 3;
    }
    snprintf(wname, sizeof wname, "classifier.%d", idx);
    x = add_linear(b, x, s->n_classes, wname, 0, wname);
    snprintf(b->net->nodes[x].alias, sizeof b->net->nodes[x].alias, "logits");
}

static void build_resnet(Builder *b, const PcArchSpec *s) {
    char w1[64], w2[64], name[64];
    int x = add_conv(b, -1, s->resnet_stem, 7, 2, 3, "conv1", "bn1", 1, "relu");
    x = add_maxpool(b, x, 3, 2, 1, "maxpool");
    int inplanes = s->resnet_stem;
    int expansion = s->resnet_bottleneck ? 4 : 1;
    for (int st = 0; st < s->n_stages; st++) {
        int planes = s->stage_planes[st];
        for (int bl = 0; bl < s->stage_blocks[st]; bl++) {
            int stride = bl == 0 ? s->stage_stride[st] : 1;
            char pre[48];
            snprintf(pre, sizeof pre, "layer%d.%d", st + 1, bl);
            int block_in = x, y;
            if (s->resnet_bottleneck) {
                snprintf(w1, sizeof w1, "%s.conv1", pre), snprintf(w2, sizeof w2, "%s.bn1", pre);
                y = add_conv(b, block_in, planes, 1, 1, 0, w1, w2, 1, NULL);
                snprintf(w1, sizeof w1, "%s.conv2", pre), snprintf(w2, sizeof w2, "%s.bn2", pre);
                y = add_conv(b, y, planes, 3, stride, 1, w1, w2, 1, NULL);
                snprintf(w1, sizeof w1, "%s.conv3", pre), snprintf(w2, sizeof w2, "%s.bn3", pre);
                y = add_conv(b, y, planes * 4, 1, 1, 0, w1, w2, 0, NULL);
            } else {
                snprintf(w1, sizeof w1, "%s.conv1", pre), snprintf(w2, sizeof w2, "%s.bn1", pre);
                y = add_conv(b, block_in, planes, 3, stride, 1, w1, w2, 1, NULL);
                snprintf(w1, sizeof w1, "%s.conv2", pre), snprintf(w2, sizeof w2, "%s.bn2", pre);
                y = add_conv(b, y, planes, 3, 1, 1, w1, w2, 0, NULL);
            }
            int identity = block_in;
            if (stride != 1 || inplanes != planes * expansion) {
                snprintf(w1, sizeof w1, "%s.downsample.0", pre);
                snprintf(w2, sizeof w2, "%s.downsample.1", pre);
                identity = add_conv(b, block_in, planes * expansion, 1, stride, 0, w1, w2, 0, NULL);
            }
            x = add_add_relu(b, y, identity, pre);
            inplanes = planes * expansion;
        }
        snprintf(name, sizeof name, "layer%d", st + 1);
        snprintf(b->net->nodes[x].alias, sizeof b->net->nodes[x].alias, "%s", name);
    }
    x = add_avgpool(b, x, 1, 1, "avgpool");
    x = add_linear(b, x, s->n_classes, "fc", 0, "fc");
    snprintf(b->net->nodes[x].alias, sizeof b->net->nodes[x].alias, "logits");
}

static int validate_spec(const PcArchSpec *s, PcError *err) {
    if (s->n_classes < 1) return pc_fail(err, "%s: n_classes must be positive", s->arch);
    if (s->in_size < 1) return pc_fail(err, "%s: in_size must be positive", s->arch);
    if (!s->is_resnet) {
        int convs = 0;
        if (s->n_vgg_cfg < 1 || s->n_vgg_cfg > PC_MAX_VGG_CFG)
            return pc_fail(err, "%s: VGG cfg needs 1..%d entries", s->arch, PC_MAX_VGG_CFG);
        for (int i = 0; i < s->n_vgg_cfg; i++) {
            if (s->vgg_cfg[i] < 0) return pc_fail(err, "%s: negative VGG cfg entry", s->arch);
            convs += s->vgg_cfg[i] > 0;
        }
        if (!convs) return pc_fail(err, "%s: VGG cfg has no convolution", s->arch);
        if (s->n_vgg_hidden < 0 || s->n_vgg_hidden > 8)
            return pc_fail(err, "%s: 0..8 classifier hidden layers", s->arch);
        for (int i = 0; i < s->n_vgg_hidden; i++)
            if (s->vgg_hidden[i] < 1) return pc_fail(err, "%s: classifier width must be positive", s->arch);
        if (s->vgg_pool < 1) return pc_fail(err, "%s: vgg_pool must be positive", s->arch);
    } else {
        if (s->resnet_stem < 1) return pc_fail(err, "%s: stem width must be positive", s->arch);
        if (s->n_stages < 1 || s->n_stages > PC_MAX_STAGES)
            return pc_fail(err, "%s: ResNet needs 1..%d stages", s->arch, PC_MAX_STAGES);
        for (int i = 0; i < s->n_stages; i++)
            if (s->stage_planes[i] < 1 || s->stage_blocks[i] < 1 || s->stage_stride[i] < 1)
                return pc_fail(err, "%s: stage %d needs positive planes, blocks and stride", s->arch, i + 1);
    }
    return 0;
}

// Parameter floats of one node (weights + biases, folded).
static size_t node_param_count(const PcNode *nd) {
    if (nd->op == PC_NODE_CONV) {
        const PcConvParams *c = &nd->p.conv;
        return (size_t)c->cout * c->cin * c->k * c->k + (size_t)c->cout;
    }
    if (nd->op == PC_NODE_LINEAR) return (size_t)nd->p.linear.out * nd->p.linear.in + nd->p.linear.out;
    return 0;
}

int pc_net_create(const PcArchSpec *spec, PcNet *net, PcError *err) {
    memset(net, 0, sizeof *net);
    if (validate_spec(spec, err)) return -1;
    net->spec = *spec;
    net->in_c = 3, net->in_h = spec->in_size, net->in_w = spec->in_size;
    net->n_classes = spec->n_classes;
    Builder b = {net, 0, err, 0};
    if (spec->is_resnet) build_resnet(&b, spec);
    else build_vgg(&b, spec);
    if (b.failed) {
        pc_net_free(net);
        return -1;
    }
    size_t total = 0;
    for (int i = 0; i < net->n_nodes; i++) total += node_param_count(&net->nodes[i]);
    net->params = xcalloc(total ? total : 1, sizeof(float));
    net->n_params = total;
    float *p = net->params;
    for (int i = 0; i < net->n_nodes; i++) {
        PcNode *nd = &net->nodes[i];
        if (nd->op == PC_NODE_CONV) {
            PcConvParams *c = &nd->p.conv;
            c->weight = p;
            p += (size_t)c->cout * c->cin * c->k * c->k;
            c->bias = p;
            p += c->cout;
        } else if (nd->op == PC_NODE_LINEAR) {
            nd->p.linear.weight = p;
            p += (size_t)nd->p.linear.out * nd->p.linear.in;
            nd->p.linear.bias = p;
            p += nd->p.linear.out;
        }
    }
    return 0;
}

void pc_net_free(PcNet *net) {
    if (!net) return;
    free(net->nodes);
    free(net->params);
    memset(net, 0, sizeof *net);
}

// ---- expected state dict ---------------------------------------------------------------------

// torchvision's VGG convolutions carry a bias (even before batch norm); ResNet's never do.
static int conv_has_bias(const PcNet *net) { return !net->spec.is_resnet; }

typedef struct {
    PcStateDict *sd;
    int cap;
} EntryList;

static void push_entry(EntryList *l, const char *prefix, const char *suffix, PcDtype dt, int ndim,
                       int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    PcStateDict *sd = l->sd;
    if (sd->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        sd->tensors = realloc(sd->tensors, (size_t)l->cap * sizeof(PcTensor));
        if (!sd->tensors) pc_die("alloc", "realloc", __FILE__, __LINE__, "expected state");
    }
    PcTensor *t = &sd->tensors[sd->n++];
    memset(t, 0, sizeof *t);
    size_t len = strlen(prefix) + strlen(suffix) + 2;
    t->name = xmalloc(len);
    snprintf(t->name, len, "%s.%s", prefix, suffix);
    t->dtype = dt;
    t->ndim = ndim;
    int64_t dims[4] = {d0, d1, d2, d3};
    t->numel = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = dims[d];
        t->numel *= dims[d];
    }
}

static void push_bn(EntryList *l, const char *bn, int c) {
    push_entry(l, bn, "weight", PC_DT_F32, 1, c, 0, 0, 0);
    push_entry(l, bn, "bias", PC_DT_F32, 1, c, 0, 0, 0);
    push_entry(l, bn, "running_mean", PC_DT_F32, 1, c, 0, 0, 0);
    push_entry(l, bn, "running_var", PC_DT_F32, 1, c, 0, 0, 0);
    push_entry(l, bn, "num_batches_tracked", PC_DT_I64, 0, 0, 0, 0, 0);
}

int pc_net_expected_state(const PcNet *net, PcStateDict *expected, PcError *err) {
    (void)err;
    memset(expected, 0, sizeof *expected);
    expected->path = strdup("<expected>");
    EntryList l = {expected, 0};
    for (int i = 0; i < net->n_nodes; i++) {
        const PcNode *nd = &net->nodes[i];
        if (nd->op == PC_NODE_CONV) {
            const PcConvParams *c = &nd->p.conv;
            push_entry(&l, c->weight_name, "weight", PC_DT_F32, 4, c->cout, c->cin, c->k, c->k);
            if (conv_has_bias(net)) push_entry(&l, c->weight_name, "bias", PC_DT_F32, 1, c->cout, 0, 0, 0);
            if (c->has_bn) push_bn(&l, c->bn_name, c->cout);
        } else if (nd->op == PC_NODE_LINEAR) {
            const PcLinearParams *lp = &nd->p.linear;
            push_entry(&l, lp->weight_name, "weight", PC_DT_F32, 2, lp->out, lp->in, 0, 0);
            push_entry(&l, lp->weight_name, "bias", PC_DT_F32, 1, lp->out, 0, 0, 0);
        }
    }
    return 0;
}

// ---- loading ---------------------------------------------------------------------------------

static void shape_str(const PcTensor *t, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? "," : "", (long long)t->shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static int is_float(PcDtype dt) { return dt == PC_DT_F32 || dt == PC_DT_F16 || dt == PC_DT_BF16; }

static int is_num_batches(const char *name) {
    size_t n = strlen(name), s = strlen(".num_batches_tracked");
    return n > s && strcmp(name + n - s, ".num_batches_tracked") == 0;
}

// Finds the file's tensor for an expected entry, checking dtype and shape.
static int lookup(const PcStateDict *sd, const PcTensor *want, const PcTensor **out, int *used,
                  PcError *err) {
    *out = NULL;
    int idx = -1;
    for (int i = 0; i < sd->n; i++) {
        if (strcmp(sd->tensors[i].name, want->name) == 0) {
            idx = i;
            break;
        }
    }
    const char *src = sd->path ? sd->path : "weights";
    if (idx < 0) {
        // PyTorch < 0.4.1 checkpoints (e.g. older torchvision downloads) have no
        // num_batches_tracked; it is never used in eval mode.
        if (is_num_batches(want->name)) return 0;
        return pc_fail(err, "%s: missing tensor '%s'", src, want->name);
    }
    const PcTensor *t = &sd->tensors[idx];
    char ws[96], hs[96];
    shape_str(want, ws, sizeof ws);
    shape_str(t, hs, sizeof hs);
    if (want->dtype == PC_DT_I64) {
        if (t->dtype != PC_DT_I64 || t->numel != 1)
            return pc_fail(err, "%s: tensor '%s': expected an I64 scalar, file has %s %s", src,
                           want->name, pc_dtype_name(t->dtype), hs);
    } else {
        if (!is_float(t->dtype))
            return pc_fail(err, "%s: tensor '%s': dtype %s, a floating type (F32/F16/BF16) is expected",
                           src, want->name, pc_dtype_name(t->dtype));
        int same = t->ndim == want->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == want->shape[d];
        if (!same)
            return pc_fail(err, "%s: tensor '%s': shape %s expected, file has %s", src, want->name, ws, hs);
    }
    used[idx] = 1;
    *out = t;
    return 0;
}

static void read_floats(const PcTensor *t, double *dst) {
    for (int64_t i = 0; i < t->numel; i++) dst[i] = pc_tensor_get_f32(t, i);
}

static void copy_floats(const PcTensor *t, float *dst) {
    if (t->dtype == PC_DT_F32) {
        memcpy(dst, t->data, (size_t)t->numel * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < t->numel; i++) dst[i] = pc_tensor_get_f32(t, i);
}

static char *join2(char *buf, size_t cap, const char *a, const char *b) {
    snprintf(buf, cap, "%s.%s", a, b);
    return buf;
}

static int load_conv(PcNet *net, PcConvParams *c, const PcStateDict *sd, int *used, PcError *err) {
    char nm[96];
    PcTensor want;
    const PcTensor *w, *bias = NULL, *g = NULL, *be = NULL, *mu = NULL, *var = NULL, *nbt = NULL;
    memset(&want, 0, sizeof want);
    want.dtype = PC_DT_F32;
    want.name = join2(nm, sizeof nm, c->weight_name, "weight");
    want.ndim = 4;
    want.shape[0] = c->cout, want.shape[1] = c->cin, want.shape[2] = want.shape[3] = c->k;
    if (lookup(sd, &want, &w, used, err)) return -1;
    want.ndim = 1;
    want.shape[0] = c->cout;
    if (conv_has_bias(net)) {
        want.name = join2(nm, sizeof nm, c->weight_name, "bias");
        if (lookup(sd, &want, &bias, used, err)) return -1;
    }
    if (c->has_bn) {
        const PcTensor **dst[4] = {&g, &be, &mu, &var};
        const char *sfx[4] = {"weight", "bias", "running_mean", "running_var"};
        for (int i = 0; i < 4; i++) {
            want.name = join2(nm, sizeof nm, c->bn_name, sfx[i]);
            if (lookup(sd, &want, dst[i], used, err)) return -1;
        }
        want.dtype = PC_DT_I64;
        want.ndim = 0;
        want.name = join2(nm, sizeof nm, c->bn_name, "num_batches_tracked");
        if (lookup(sd, &want, &nbt, used, err)) return -1;
    }
    size_t per_out = (size_t)c->cin * c->k * c->k;
    if (!c->has_bn) {
        copy_floats(w, c->weight);
        if (bias) copy_floats(bias, c->bias);
        else memset(c->bias, 0, (size_t)c->cout * sizeof(float));
        return 0;
    }
    // y = gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta, folded per output channel.
    double *tmp = xmalloc((size_t)(4 * c->cout + 1) * sizeof(double));
    double *gd = tmp, *bd = tmp + c->cout, *md = tmp + 2 * c->cout, *vd = tmp + 3 * c->cout;
    read_floats(g, gd);
    read_floats(be, bd);
    read_floats(mu, md);
    read_floats(var, vd);
    for (int o = 0; o < c->cout; o++) {
        if (!(vd[o] + BN_EPS > 0)) {
            free(tmp);
            return pc_fail(err, "%s: tensor '%s.running_var' has a negative or NaN value at %d",
                           sd->path ? sd->path : "weights", c->bn_name, o);
        }
        double scale = gd[o] / sqrt(vd[o] + BN_EPS);
        for (size_t j = 0; j < per_out; j++) {
            size_t i = (size_t)o * per_out + j;
            c->weight[i] = (float)((double)pc_tensor_get_f32(w, (int64_t)i) * scale);
        }
        double b0 = bias ? (double)pc_tensor_get_f32(bias, o) : 0.0;
        c->bias[o] = (float)((b0 - md[o]) * scale + bd[o]);
    }
    free(tmp);
    return 0;
}

static int load_linear(PcLinearParams *lp, const PcStateDict *sd, int *used, PcError *err) {
    char nm[96];
    PcTensor want;
    const PcTensor *w, *b;
    memset(&want, 0, sizeof want);
    want.dtype = PC_DT_F32;
    want.name = join2(nm, sizeof nm, lp->weight_name, "weight");
    want.ndim = 2;
    want.shape[0] = lp->out, want.shape[1] = lp->in;
    if (lookup(sd, &want, &w, used, err)) return -1;
    want.name = join2(nm, sizeof nm, lp->weight_name, "bias");
    want.ndim = 1;
    if (lookup(sd, &want, &b, used, err)) return -1;
    copy_floats(w, lp->weight);
    copy_floats(b, lp->bias);
    return 0;
}

int pc_net_load(PcNet *net, const PcStateDict *sd, PcError *err) {
    int *used = xcalloc((size_t)(sd->n ? sd->n : 1), sizeof(int));
    int rc = 0;
    for (int i = 0; i < net->n_nodes && rc == 0; i++) {
        PcNode *nd = &net->nodes[i];
        if (nd->op == PC_NODE_CONV) rc = load_conv(net, &nd->p.conv, sd, used, err);
        else if (nd->op == PC_NODE_LINEAR) rc = load_linear(&nd->p.linear, sd, used, err);
    }
    for (int i = 0; i < sd->n && rc == 0; i++) {
        if (!used[i])
            rc = pc_fail(err, "%s: unexpected tensor '%s' (not part of %s)", sd->path ? sd->path : "weights",
                         sd->tensors[i].name, net->spec.arch);
    }
    free(used);
    net->loaded = rc == 0;
    return rc;
}

// ---- queries ---------------------------------------------------------------------------------

int pc_net_find(const PcNet *net, const char *name) {
    if (!name || !name[0]) return -1;
    for (int i = 0; i < net->n_nodes; i++)
        if (strcmp(net->nodes[i].name, name) == 0 || strcmp(net->nodes[i].alias, name) == 0) return i;
    return -1;
}

int pc_net_default_targets(const PcNet *net, char names[][64], int max) {
    int n = 0;
    if (net->spec.is_resnet) {
        if (n < max) snprintf(names[n++], 64, "relu");
        for (int s = 0; s < net->spec.n_stages && n < max; s++) snprintf(names[n++], 64, "layer%d", s + 1);
        return n;
    }
    for (int i = 0; i + 1 < net->n_nodes && n < max; i++) {
        if (net->nodes[i].op == PC_NODE_CONV && net->nodes[i + 1].op == PC_NODE_MAXPOOL)
            snprintf(names[n++], 64, "%s", net->nodes[i].name);
    }
    return n;
}

double pc_net_flops(const PcNet *net) {
    double f = 0;
    for (int i = 0; i < net->n_nodes; i++) {
        const PcNode *nd = &net->nodes[i];
        if (nd->op == PC_NODE_CONV) {
            const PcConvParams *c = &nd->p.conv;
            f += 2.0 * c->cout * c->cin * c->k * c->k * nd->h * nd->w;
        } else if (nd->op == PC_NODE_LINEAR) {
            f += 2.0 * nd->p.linear.in * nd->p.linear.out;
        }
    }
    return f;
}
