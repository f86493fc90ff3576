// model.h: torchvision VGG / ResNet networks as a flat list of nodes, with torchvision's module
// names on the nodes whose outputs can be asked for (target layers, "fc", ...). Batch norm is
// folded into the preceding convolution at load; ReLU is fused into the node it follows.
#ifndef PC_MODEL_H
#define PC_MODEL_H

#include "common.h"
#include "weights.h"

typedef enum {
    PC_NODE_CONV = 0,       // 2-D convolution (+ folded BN) (+ ReLU)
    PC_NODE_MAXPOOL,        // max pooling
    PC_NODE_ADAPTIVE_AVG,   // adaptive average pooling to (out_h, out_w), torchvision bin rule
    PC_NODE_LINEAR,         // fully connected on the flattened (C*H*W) input (+ ReLU)
    PC_NODE_ADD,            // residual add of input and input2 (+ ReLU)
} PcNodeOp;

typedef struct {
    int cin, cout, k, stride, pad;
    int has_bn;             // BN follows in the state dict; folded into weight/bias at load
    char bn_name[64];       // state-dict prefix of that BN ("bn1", "layer1.0.downsample.1"), or ""
    char weight_name[64];   // state-dict prefix of the conv ("features.0", "layer1.0.conv1")
    float *weight;          // (cout, cin, k, k), points into PcNet.params
    float *bias;            // (cout), points into PcNet.params (zeros when the conv has no bias)
} PcConvParams;

typedef struct {
    int k, stride, pad;
} PcPoolParams;

typedef struct {
    int out_h, out_w;
} PcAdaptivePoolParams;

typedef struct {
    int in, out;
    char weight_name[64];   // "classifier.0", "fc"
    float *weight;          // (out, in)
    float *bias;            // (out)
} PcLinearParams;

typedef struct {
    PcNodeOp op;
    int input;              // producing node, -1 = network input
    int input2;             // second operand of ADD, else -1
    int relu;               // ReLU applied to this node's output
    int c, h, w;            // output shape of one image (linear: c = out, h = w = 1)
    char name[64];          // torchvision name of the output ("features.3", "layer2.0", "fc"), or ""
    char alias[64];         // second name for the same tensor ("layer4" for "layer4.2"), or ""
    union {
        PcConvParams conv;
        PcPoolParams pool;
        PcAdaptivePoolParams apool;
        PcLinearParams linear;
    } p;
} PcNode;

#define PC_MAX_STAGES 8
#define PC_MAX_VGG_CFG 64

// What to build: a torchvision family member by name, or a custom member of either family.
typedef struct {
    char arch[32];          // "vgg11".."vgg19", "vgg16_bn", ..., "resnet18".."resnet152", "vgg", "resnet"
    int is_resnet;
    // VGG
    int n_vgg_cfg;
    int vgg_cfg[PC_MAX_VGG_CFG];        // channel count, or 0 for 'M' (max-pool 2/2)
    int vgg_bn;
    int n_vgg_hidden;
    int vgg_hidden[8];                  // classifier hidden widths (torchvision: 4096, 4096)
    int vgg_pool;                       // adaptive pool output side (7)
    // ResNet
    int resnet_bottleneck;              // 1 = Bottleneck (expansion 4), 0 = BasicBlock
    int resnet_stem;                    // stem width (64)
    int n_stages;
    int stage_planes[PC_MAX_STAGES], stage_blocks[PC_MAX_STAGES], stage_stride[PC_MAX_STAGES];
    // both
    int n_classes;                      // 1000
    int in_size;                        // input side, 224
} PcArchSpec;

typedef struct {
    PcArchSpec spec;
    int n_nodes;
    PcNode *nodes;
    int in_c, in_h, in_w;
    int n_classes;
    float *params;          // one arena: every folded weight and bias
    size_t n_params;
    int loaded;             // params hold real weights
} PcNet;

// Fills spec with the torchvision definition of a family member ("vgg16", "resnet50", ...).
// "vgg" / "resnet" give an empty custom spec to be completed by the caller.
int pc_arch_from_name(const char *arch, PcArchSpec *spec, PcError *err);

// Builds the node list and allocates the parameter arena (zeroed). No weights yet.
int pc_net_create(const PcArchSpec *spec, PcNet *net, PcError *err);

// Expected state-dict entries (names, shapes) of the network, in torchvision's order,
// batch-norm buffers included (num_batches_tracked as I64 scalars). Caller frees with
// pc_state_dict_free (data pointers are NULL).
int pc_net_expected_state(const PcNet *net, PcStateDict *expected, PcError *err);

// Copies the weights of sd into the net, folding batch norm (eps 1e-5). Every expected tensor
// must be present with its shape, and no unexpected tensor may remain; otherwise one error
// naming the tensor (and both shapes).
int pc_net_load(PcNet *net, const PcStateDict *sd, PcError *err);

// Index of the node whose output has this torchvision name (name or alias), or -1.
int pc_net_find(const PcNet *net, const char *name);

// Default target layers of the arch (SPEC §3): VGG = the ReLU before each max-pool; ResNet =
// "relu, layer1, ..., layerN" (the paper's list). Writes up to max names; returns the count.
int pc_net_default_targets(const PcNet *net, char names[][64], int max);

// Multiply-accumulate count x2 of one forward pass of one image.
double pc_net_flops(const PcNet *net);

void pc_net_free(PcNet *net);

#endif
