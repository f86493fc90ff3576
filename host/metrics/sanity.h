// sanity.h: the cascading-randomisation sanity check (BASELINES.md B7, the paper's App. G; Adebayo
// et al. 2018). The network's Conv2d / Linear layers are re-initialised cumulatively from the output
// layer down, as PyTorch's reset_parameters() draws them; after each step the class is recomputed
// (argmax of the current model), the chosen methods' maps are computed, and each map is compared
// with the original network's map of the same image and method (similarity.h). Results go to
// /sanity of the run's output file (docs/measures.md: Sanity check).
//
// Order: the Conv2d / Linear layers in the reverse of torchvision's module order — VGG16:
// classifier.6, .3, .0, features.28, 26, ..., 0; ResNet: fc, then per block from layer4's last
// down to layer1's first: conv3, conv2, conv1 (downsample.0 before conv3 in a block that has it),
// and conv1 (the stem) last.
// Draw: element i of the weights, then element n_w + o of the bias, of Philox stream 6 (sample
// (6 << 16) | L with L the layer's position in forward order, image 0, the run's [run] seed):
//   u uniform in [0, 1), value = (float)((2u - 1) / sqrt(fan_in))     (fan_in = cin * k * k or in)
// which is kaiming_uniform_(a = sqrt(5)) for weights and the bias rule of reset_parameters().
// Batch norm: the BN after a re-initialised conv is reset with it (reset_parameters() and
// reset_running_stats(): weight 1, bias 0, running mean 0, running var 1), then folded as at load:
// scale 1 / sqrt(1 + 1e-5). (Adebayo et al.'s TF code re-initialised the trainable variables of a
// block, i.e. BN's beta but not its moving statistics; the folded net here keeps no separate BN
// statistics, so the BN goes with its conv.)
//
// Independent randomisation ([sanity] order = independent; Quantus 0.6.0 MPRT with layer_order =
// "independent"): at step t only the step's layer (and its BN) is re-initialised, on the original
// network (every other layer as trained); the same draws as the cascade's step. The class is the
// original network's at every step (Quantus explains the given y_batch), /sanity/class holds it
// and /sanity/score its softmax probability under the step's network. Quantus randomises a
// ResNet's BatchNorm2d layers as steps of their own; here a BN goes with its conv (as above).
#ifndef PC_SANITY_H
#define PC_SANITY_H

#include <stdint.h>

#include "backend.h"
#include "dataset.h"
#include "maps_format.h"
#include "methods.h"
#include "saliency.h"

// [sanity]: the cascading-randomisation sanity check (docs/measures.md: Sanity check).
#define PC_SANITY_MAX_METHODS 32
typedef struct {
    int enabled;                    // [sanity] enabled (--sanity)
    int images;                     // the first N images of the run
    int independent;                // [sanity] order = independent (below), 0 = cascading
    int n_methods;                  // ids: Poly-CAM variants (pcamp, ...) and registry methods
    char ids[PC_SANITY_MAX_METHODS][64];
} PcSanitySettings;

// Philox stream of the re-initialisation (the list of streams: methods.h).
enum { PC_STREAM_SANITY = 6 };

// The Conv / Linear nodes in re-initialisation order (output layer first). Returns the count.
int pc_sanity_order(const PcNet *net, int *nodes, int max);
// The torchvision module name of a Conv / Linear node ("features.28", "layer4.0.downsample.0").
const char *pc_sanity_layer_name(const PcNet *net, int node);
// Position of the node among the Conv / Linear nodes in forward order (the draw's key L), or -1.
int pc_sanity_layer_index(const PcNet *net, int node);
// fan_in of the node's weight (cin * k * k, or in).
int pc_sanity_fan_in(const PcNet *net, int node);
// Re-initialises the node's weights and bias (and resets its BN) in net's parameter arena, as the
// header says. The backend's prepared copy must be refreshed afterwards (net_prepare).
void pc_sanity_reinit_layer(PcNet *net, int node, uint64_t seed);
// Independent randomisation's step: the parameter arena back to orig (a copy of net->params taken
// before the check), then pc_sanity_reinit_layer(net, node, seed) alone.
void pc_sanity_independent_layer(PcNet *net, const float *orig, int node, uint64_t seed);

// What the run hands over: its backend and prepared net (released and prepared again after every
// step), the net itself (its weights are overwritten: call this last), the targets and options.
typedef struct {
    PcBackend *be;
    PcBackendNet **bn;
    int max_batch;                  // images per pass the net is prepared for
    PcNet *net;
    const PcTargets *tg;
    const PcSaliencyOptions *sopt;
    const PcMethodSettings *mset;   // layers resolved when a registry method is checked
    const PcDataset *ds;
    PcResizeMode resize;
    int size;                       // S
    PcMapsFormat maps;              // [output] maps: how /sanity/maps are stored (none: not at all)
} PcSanityEnv;

// Runs the check on the first ss->images images and writes /sanity into the (finished) HDF5 file
// output, replacing an older /sanity; one made with the same methods, images, seed and map format
// is kept (nothing computed). Progress on stderr. 0, -1 with err, or 1 when a stop signal
// (stop.h) ended it between two steps (err says so; /sanity not written). Each finished step is
// appended to <output>.sanity.journal; a later call with the same settings on the same output
// continues at the first unfinished step and writes the same /sanity; the journal is removed
// once /sanity is written.
int pc_sanity_run(PcSanityEnv *env, const PcSanitySettings *ss, const char *output, PcError *err);

#endif
