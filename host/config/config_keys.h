// config_keys.h: every configuration key, once: X(enum name, section, key, default, help, affects
// results). the key enum below is made of it and config_keys.c the table (defaults, --help,
// the checks, the canonical text), so the two cannot drift apart; tests/cli/cli_config_doc.sh holds
// docs/configuration.md to the same list. A new key is one line here (its enum name is used where
// its value is read), plus its row in the docs. Comments are /* */: a // comment would swallow
// the line continuation.
#ifndef PC_CONFIG_KEYS_H
#define PC_CONFIG_KEYS_H

#define PC_CONFIG_KEYS(X) \
    X(K_ARCH, "model", "arch", "vgg16", "network: vgg11|vgg13|vgg16|vgg19 (optionally _bn), resnet18|resnet34|resnet50|resnet101|resnet152, or vgg|resnet for a custom member (vgg_* / resnet_* keys)", 1) \
    X(K_WEIGHTS, "model", "weights", "", "state dict with torchvision tensor names: .safetensors or torch.save .pth (required)", 1) \
    X(K_CLASSES, "model", "classes", "", "class-name file (one name a line, line k = class k), or a class count; optional", 1) \
    X(K_LAYERS, "model", "layers", "", "target layers, earliest first, comma-separated; empty = the arch's default (VGG: the ReLU before each max-pool; ResNet: relu,layer1,...,layer4)", 1) \
    X(K_NUM_CLASSES, "model", "num_classes", "", "class count of the classifier; empty = from classes, else 1000", 1) \
    X(K_VGG_CFG, "model", "vgg_cfg", "", "arch = vgg: conv widths and M (2x2 max-pool), e.g. 16,16,M,32,32,M", 1) \
    X(K_VGG_CLASSIFIER, "model", "vgg_classifier", "4096,4096", "arch = vgg: hidden widths of the classifier", 1) \
    X(K_VGG_BN, "model", "vgg_bn", "no", "arch = vgg: batch norm after every conv (yes|no)", 1) \
    X(K_RESNET_BLOCK, "model", "resnet_block", "bottleneck", "arch = resnet: basic|bottleneck", 1) \
    X(K_RESNET_STEM, "model", "resnet_stem", "64", "arch = resnet: stem width (conv1 output channels)", 1) \
    X(K_RESNET_STAGES, "model", "resnet_stages", "", "arch = resnet: planes x blocks / stride per stage, e.g. 64x3/1,128x4/2,256x6/2,512x3/2", 1) \
    X(K_LIST, "data", "list", "", "image list, one file name (relative to root) a line (required)", 1) \
    X(K_ROOT, "data", "root", "", "image folder; empty = the list's folder", 1) \
    X(K_LABELS, "data", "labels", "", "ground-truth labels, lines '<name> <class> ...'; optional", 1) \
    X(K_OFFSET, "data", "offset", "0", "first list entry to use (0-based)", 1) \
    X(K_LIMIT, "data", "limit", "0", "number of list entries from offset; 0 = all (--limit N sets this)", 1) \
    X(K_RESIZE, "preprocess", "resize", "bilinear", "bilinear (reference: no antialias) | antialias | crop256 (shorter side 256, centre crop)", 1) \
    X(K_SIZE, "preprocess", "size", "224", "network input side in pixels", 1) \
    X(K_METHODS, "saliency", "methods", "pcamp,pcamm,pcampm", "method ids: pcamp (PCAM+), pcamm (PCAM-), pcampm (PCAM+-), gradcam, gradcampp, smoothgradcampp, layercam, zoomcam, ixg, ig, smoothgrad, scorecam, sscam, iscam, rise, occlusion, ext:NAME (maps made elsewhere, [external NAME]) (docs/configuration.md: method ids)", 1) \
    X(K_LNORM, "saliency", "lnorm", "code", "layer normalisation: code (reference code) | paper", 1) \
    X(K_NORMALIZE, "saliency", "normalize", "code", "map normalisation: code (divide by the 99.9th percentile) | paper (by its distance to the 0.1th)", 1) \
    X(K_ABLATIONS, "saliency", "ablations", "none", "none, or any of levels, cams, no_lnorm (extra method ids per variant)", 1) \
    X(K_CLASS, "saliency", "class", "predicted", "class to explain: predicted (argmax) | label (ground truth; images without one use the prediction)", 1) \
    X(K_SAL_BATCH, "saliency", "batch", "auto", "masked images per forward pass | auto (CPU 32, GPU by memory: 256 from 40 GB)", 1) \
    X(K_INSERTION, "metrics", "insertion", "yes", "compute the insertion curve and AUC (yes|no)", 1) \
    X(K_DELETION, "metrics", "deletion", "yes", "compute the deletion curve and AUC (yes|no)", 1) \
    X(K_STEPS, "metrics", "steps", "224", "steps of each curve", 1) \
    X(K_BASELINE, "metrics", "baseline", "blur", "blur (Gaussian blur of the input) | grey (pixel value 0.5) | zero (0 after normalisation = the dataset mean)", 1) \
    X(K_BLUR_KERNEL, "metrics", "blur_kernel", "11", "blur kernel side (odd)", 1) \
    X(K_BLUR_SIGMA, "metrics", "blur_sigma", "5", "blur standard deviation in pixels", 1) \
    X(K_MET_BATCH, "metrics", "batch", "auto", "curve samples per forward pass | auto (as [saliency] batch)", 1) \
    X(K_FILE, "output", "file", "", "HDF5 output; empty = <config name>.h5 in the current folder", 0) \
    X(K_MAPS, "output", "maps", "float16", "saliency maps stored as float16 | float32 | none", 1) \
    X(K_OVERLAYS, "output", "overlays", "0", "PNG heat-map overlays for the first K images (<output>_overlays/)", 0) \
    X(K_DEVICE, "run", "device", "auto", "auto (CUDA when available) | cpu | cuda | cuda:K (GPU ordinal K; cuda = cuda:0)", 0) \
    X(K_PRECISION, "run", "precision", "fp32", "fp32 | tf32 | fp16 | bf16 (CUDA only; the CPU computes in fp32) | fp8 | int8 (8-bit convs, [precision]; the CPU emulates them)", 1) \
    X(K_THREADS, "run", "threads", "0", "CPU worker threads; 0 = all cores (or PC_THREADS)", 0) \
    X(K_DECODERS, "run", "decoders", "2", "image decode threads feeding the backend", 0) \
    X(K_SHARD, "run", "shard", "0/1", "i/n: process only the images whose list index mod n == i (one output per shard) | auto (i/n of a Slurm array task)", 1) \
    /* settings of the baseline methods (read by method_config.c; docs/configuration.md: method ids) */ \
    X(K_SEED, "run", "seed", "0", "seed of the random methods' noise (Philox, keyed by seed, image list position, sample)", 1) \
    X(K_CAM_LAYER, "cam", "layer", "", "layer of gradcam, gradcampp, smoothgradcampp, scorecam, sscam, iscam; empty = VGG: the ReLU before the last max-pool, ResNet: layer4", 1) \
    X(K_LAYERCAM_LAYERS, "layercam", "layers", "", "layercam's layers, earliest first; empty = the default target layers (VGG: ReLU before each max-pool; ResNet: relu,layer1..4)", 1) \
    X(K_ZOOMCAM_LAYERS, "zoomcam", "layers", "", "zoomcam's layers, earliest first; empty = VGG: every conv ReLU output; ResNet: relu,layer1..4", 1) \
    X(K_IG_STEPS, "ig", "steps", "50", "Integrated Gradients: Gauss-Legendre points", 1) \
    X(K_SG_SAMPLES, "smoothgrad", "samples", "50", "SmoothGrad: noisy samples", 1) \
    X(K_SG_SIGMA, "smoothgrad", "sigma", "1.0", "SmoothGrad: noise standard deviation (absolute, normalised input space)", 1) \
    X(K_SGCPP_SAMPLES, "smoothgradcampp", "samples", "4", "Smooth Grad-CAM++: noisy samples", 1) \
    X(K_SGCPP_SIGMA, "smoothgradcampp", "sigma", "0.3", "Smooth Grad-CAM++: noise standard deviation", 1) \
    X(K_SSCAM_SAMPLES, "sscam", "samples", "35", "SS-CAM: noisy samples (each a forward pass per channel of the [cam] layer)", 1) \
    X(K_SSCAM_SIGMA, "sscam", "sigma", "2", "SS-CAM: standard deviation of the noise added to the [0, 1] channel masks", 1) \
    X(K_ISCAM_SAMPLES, "iscam", "samples", "10", "IS-CAM: integration steps (each a forward pass per channel of the [cam] layer)", 1) \
    /* the cascading-randomisation sanity check (read by method_config.c; docs/measures.md: Sanity check). Not */ \
    /* result keys: /sanity is added to (or replaced in) a finished output without recomputing it */ \
    X(K_SANITY_ENABLED, "sanity", "enabled", "no", "after the run, the cascading-randomisation sanity check into /sanity (yes|no; --sanity sets yes)", 0) \
    X(K_SANITY_METHODS, "sanity", "methods", "", "method ids of the sanity check; empty = the run's [saliency] methods", 0) \
    X(K_SANITY_IMAGES, "sanity", "images", "1", "the sanity check explains the first N images of the run", 0) \
    /* sensitivity-max (read by method_config.c; host/metrics/sensitivity.h) */ \
    X(K_SENS, "robustness", "sensitivity", "no", "sensitivity-max of every method (yes|no; about samples + 1 times the cost of each map)", 1) \
    X(K_SENS_SAMPLES, "robustness", "samples", "10", "sensitivity-max: perturbed inputs per image (captum's n_perturb_samples)", 1) \
    X(K_SENS_RADIUS, "robustness", "radius", "0.02", "sensitivity-max: L-infinity radius of the uniform perturbation (normalised input space)", 1) \
    X(K_RISE_MASKS, "rise", "masks", "6000", "RISE: random masks (drawn once per run from [run] seed, stored in /methods/rise/masks)", 1) \
    X(K_RISE_CELLS, "rise", "cells", "8", "RISE: grid cells per side of a mask", 1) \
    X(K_RISE_P, "rise", "p", "0.1", "RISE: probability that a grid cell is 1, in (0, 1]", 1) \
    X(K_OCC_WINDOW, "occlusion", "window", "64", "Occlusion: side of the zeroed square window, in pixels", 1) \
    X(K_OCC_STRIDE, "occlusion", "stride", "8", "Occlusion: step between window positions, in pixels", 1) \
    /* localisation (SPEC §10): ground-truth object masks */ \
    X(K_MASKS, "data", "masks", "", "folder of object masks: <name without extension>.png per image (any PNG, grey value not 0 = object; full list name or base name), for energy in mask and pointing; optional", 1) \
    /* the 8-bit precisions (read by method_config.c; host/shared/quant_scheme.h, docs/precisions.md: 8-bit precisions). In the */ \
    /* configuration texts only when [run] precision is fp8 or int8 */ \
    X(K_PREC_CALIB, "precision", "calibration_images", "16", "fp8/int8: input scales calibrated on the first N images of the list (by list position, after offset and limit: the same for every shard and a resume)", 1) \
    X(K_PREC_CLIP, "precision", "clip", "1.0", "fp8/int8: input scale = clip * (largest |x| seen in calibration) / QMAX, clip in (0, 1]", 1) \
    X(K_PREC_KEEP, "precision", "keep", "", "fp8/int8: conv layers kept in 16 bits (CUDA) / fp32 (CPU), comma-separated, e.g. layer4.2.conv3", 1) \
    X(K_PREC_GUARD_IMAGES, "precision", "guard_images", "8", "fp8/int8: accuracy guard on the first N images of each process, against an fp32 reference; 0 = off", 0) \
    X(K_PREC_GUARD_DAUC, "precision", "guard_max_dauc", "0.005", "fp8/int8: the guard stops the run when the mean |AUC(8-bit) - AUC(fp32)| over its maps and curves exceeds this", 0) \
    X(K_PREC_GUARD_AGREE, "precision", "guard_min_agreement", "0.75", "fp8/int8: the guard stops the run when fewer than this fraction of its images keep the fp32 predicted class", 0) \
    X(K_PREC_APPLY, "precision", "apply", "all", "fp8/int8: all (every forward pass in 8 bits) | maps (the maps' passes in 8 bits, the class and the insertion/deletion curves on an unquantised net: fp16 on CUDA, fp32 on the CPU)", 1) \
    /* localisation beside [data] masks (host/metrics/localisation.h); in the texts only when not 15, so the */ \
    /* keys of earlier runs with masks stay */ \
    X(K_POINT_TOL, "data", "pointing_tolerance", "15", "pointing game with a tolerance: a hit when an object pixel lies closer than this many pixels to the map's maximum (TorchRay's 15; 0 = the pixel itself)", 1) \
    /* the sanity check's randomisation (host/metrics/sanity.h); not a result key, as the rest of [sanity] */ \
    X(K_SANITY_ORDER, "sanity", "order", "cascading", "cascading (layers re-initialised cumulatively from the output down, Adebayo et al.) | independent (one layer at a time on the original network, Quantus MPRT layer_order=independent)", 0) \
    /* In the configuration texts only when set (pc_config_canonical): the texts and keys of earlier */ \
    /* runs stay as they were */ \
    X(K_CAM_LAYERS, "saliency", "cam_layers", "", "layers of the isolated-CAM ids <variant>.cam.<layer> (ablations = cams), earliest first; empty = [model] layers. Layers outside [model] layers get their own masked passes; shared ones are computed once", 1) \
    X(K_REF_CLASSES, "data", "reference_classes", "", "reference top-1 class per image, lines '<name>,<class>' (e.g. ../data/authors_top1_vgg16.csv): the run counts how many of its predicted classes agree; optional", 0) \
    /* perturbation metrics (read by metric_config.c; host/metric_perturb.h, docs/metrics.md) */ \
    X(K_PM_ROAD, "metrics", "road", "no", "ROAD (Rong et al. 2022): noisy linear imputation, MoRF and LeRF (yes|no; 2 x percentages passes per map)", 1) \
    X(K_PM_ROAD_PCT, "metrics", "road_percentages", "10,20,30,40,50,60,70,80,90", "ROAD: percentages of the pixels imputed, comma-separated, each in (0, 100)", 1) \
    X(K_PM_ROAD_NOISE, "metrics", "road_noise", "0.01", "ROAD: standard deviation of the noise added to each imputed value (normalised input space; 0 = none)", 1) \
    X(K_PM_FLIP, "metrics", "flip", "no", "pixel flipping (Bach et al. 2015), MoRF and LeRF (yes|no)", 1) \
    X(K_PM_FLIP_PIXELS, "metrics", "flip_pixels", "224", "pixel flipping: pixels replaced per step", 1) \
    X(K_PM_FLIP_BASE, "metrics", "flip_baseline", "black", "pixel flipping: black (smallest value of the input) | mean (mean of the input) | blur | uniform (noise over the pixel range)", 1) \
    X(K_PM_REGION, "metrics", "region", "no", "region perturbation (Samek et al. 2017), MoRF and LeRF, AOPC (yes|no)", 1) \
    X(K_PM_REGION_PATCH, "metrics", "region_patch", "16", "region perturbation: side of the square patches, in pixels", 1) \
    X(K_PM_REGION_STEPS, "metrics", "region_steps", "100", "region perturbation: patches replaced, one per step", 1) \
    X(K_PM_REGION_BASE, "metrics", "region_baseline", "uniform", "region perturbation: black | mean | blur | uniform", 1) \
    X(K_PM_ADCC, "metrics", "adcc", "no", "Average Drop, Increase in Confidence, Average Gain (yes|no; one pass per map)", 1)


#include "config.h"

// Key indices, in the order of config_keys.h.
enum {
#define PC_KEY_ENUM(name, section, key, def, help, affects) name,
    PC_CONFIG_KEYS(PC_KEY_ENUM)
#undef PC_KEY_ENUM
    K_COUNT
};

extern const PcConfigKeyDef pc_config_keys[K_COUNT];   // the table, in enum order (config_keys.c)
extern const char *const pc_config_sections[];           // the fixed sections, in the texts' order
extern const int pc_config_n_sections;

// 1 when s is one of the fixed sections ([external NAME] is config_external.h's).
int pc_config_section_known(const char *s);
// The index of [section] key, or -1.
int pc_config_key_index(const char *section, const char *key);
// The effective text of key k: its value, or the default when absent or empty ("key =").
const char *cfg_effective(const PcConfig *cfg, int k);

#endif
