// methods.h: the registry of saliency methods. One table (methods.c) names every method id, its
// family, the settings it reads and its compute function; the config check, the run loop, the
// store's method list and the README iterate over it. Adding a method = one row here plus its
// compute function (host/methods_*.c), nothing else.
//
// Families:
//   polycam   pcamp, pcamm, pcampm and their ablation ids (<id>.level.<layer>, <id>.cam.<layer>,
//             <id>.no_lnorm): all computed together from one set of masked passes (pc_explain);
//             compute is NULL: their maps are picked from the PcExplanation (polycam_ids.h).
//   gradient  one forward + backward pass family (BASELINES.md B2, B4): native computes the map at its own size, pc_method_compute brings it to S x S.
//   forward   forward-only baselines (issue 10, BASELINES.md B3, B5), same interface: batches of
//             perturbed inputs through `forward` only (methods_scorecam.c: scorecam, sscam, iscam).
//   external  ext:NAME, maps made elsewhere read from [external NAME] file (methods_external.c,
//             docs/external-maps.md): one registry row "ext:" whose id is a prefix; a per-run
//             state (open / close) holds the file. No sensitivity-max or sanity check (the maps do
//             not depend on the model).
#ifndef PC_METHODS_H
#define PC_METHODS_H

#include <stdint.h>
#include <stdio.h>

#include "backend.h"

typedef enum { PC_FAMILY_POLYCAM = 0, PC_FAMILY_GRADIENT, PC_FAMILY_FORWARD, PC_FAMILY_EXTERNAL } PcMethodFamily;

// The id prefix of maps made elsewhere: "ext:NAME", NAME of letters, digits, '_' and '-' (at
// most 48), the NAME of its [external NAME] section.
#define PC_EXT_PREFIX "ext:"
int pc_method_ext_name_ok(const char *name);

#define PC_MAX_METHOD_LAYERS 64
#define PC_METHOD_MAX_EXTERNAL 32   // [external NAME] sections (config.h PC_MAX_EXTERNAL)

// A resolved list of layers (tap nodes of the net), earliest first.
typedef struct {
    int n;
    int nodes[PC_MAX_METHOD_LAYERS];
    char names[PC_MAX_METHOD_LAYERS][64];
} PcLayerList;

// Settings of the non-Poly-CAM methods ([cam], [layercam], [zoomcam], [ig], [smoothgrad],
// [smoothgradcampp], [sscam], [iscam], [run] seed). Text values come from the config (method_config.c); layers are
// resolved against the model (pc_method_settings_resolve).
typedef struct PcMethodSettings {
    char cam_layer[64];                 // "" = the arch default (BASELINES B1)
    char layercam_layers[1024];         // "" = the arch default
    char zoomcam_layers[1024];          // "" = the arch default
    int ig_steps;                       // 50
    int smoothgrad_samples;             // 50
    float smoothgrad_sigma;             // 1.0 (absolute, in normalised space)
    int sgcampp_samples;                // 4
    float sgcampp_sigma;                // 0.3
    int sscam_samples;                  // 35 (SS-CAM noisy samples N)
    float sscam_sigma;                  // 2.0 (SS-CAM noise std, added to the [0, 1] masks)
    int iscam_samples;                  // 10 (IS-CAM integration steps N)
    uint64_t seed;                      // [run] seed
    // [external NAME] sections of ext:NAME: the resolved file and the result file's method ("" =
    // NAME or the file's only one); pointers into the configuration, which outlives the run
    int n_external;
    struct {
        char name[64];
        const char *file, *method;
    } external[PC_METHOD_MAX_EXTERNAL];
    int rise_masks;                     // 6000
    int rise_cells;                     // 8
    double rise_p;                      // 0.1
    int occ_window;                     // 64
    int occ_stride;                     // 8
    // resolved against the net
    PcLayerList cam, layercam, zoomcam;
} PcMethodSettings;

// Noise streams: the sample index of pc_philox_normal is (stream << 16) | s, so two random
// methods of one image never share a draw.
// RISE draws its masks once per run, shared by every image: its draws use the `image` word
// PC_RISE_IMAGE (no image has that list position) and sample (PC_STREAM_RISE << 16) | mask index.
enum { PC_STREAM_SMOOTHGRAD = 1, PC_STREAM_SGCAMPP = 2, PC_STREAM_SSCAM = 3, PC_STREAM_RISE = 4,
       PC_STREAM_SENSITIVITY = 5 };
#define PC_RISE_IMAGE 0xFFFFFFFFu

// Everything a method's compute function sees for one image.
typedef struct {
    PcBackend *be;
    PcBackendNet *bn;               // prepared for at least `batch` images
    const PcNet *net;
    const PcMethodSettings *set;
    const float *x;                 // host (3, S, S) normalised input
    int size;                       // S
    int cls;                        // explained class
    uint32_t image;                 // the image's position in the list (/images/index): noise key
    int batch;                      // images per backward / forward pass
    int unsummed;                   // 1: ig and ixg write their whole (3, S, S) attribution (*h = 3 S,
                                    //   the channel planes stacked; out holds 3 S S floats), as
                                    //   sensitivity-max reads them (BASELINES.md B6); others ignore it
    const char *name;               // the image's name in the list (ext: looks its map up by it)
    void *state;                    // the method's per-run state (PcMethodDesc open), or NULL
} PcMethodCtx;

// native: the method's map at its native resolution, host (h, w) with *h, *w set; out holds at
// least S * S floats. A map that the library would leave NaN (e.g. min-max of a constant map) is
// returned as NaN with rc 0; the caller notes it in the image's status. PC_METHOD_NO_MAP: the
// method has no map for this image (ext: an image its file lacks); the caller records it for
// this method only.
typedef int (*PcMethodNative)(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
#define PC_METHOD_NO_MAP 2

// Per-run state of a method that has one (ext:): open is called once per run before its first
// image (also for --check) with the settings, the method's id as written and the run's n image
// names (kept: they outlive the state); warnings go to log. 0 with *state set, or -1 with err.
// close frees it.
typedef int (*PcMethodOpen)(const PcMethodSettings *s, const char *id, char *const *names, int n, FILE *log,
                            void **state, PcError *err);
typedef void (*PcMethodClose)(void *state);

// Run-level datasets of a method (run_data.h: PcRunData; e.g. RISE's masks), stored once per result
// file: fills out[0 .. return value - 1] (at most PC_METHOD_RUN_DATA), data malloc'd.
typedef struct PcRunData PcRunData;
#define PC_METHOD_RUN_DATA 4
typedef int (*PcMethodRunData)(const PcMethodSettings *s, int size, PcRunData *out);

typedef struct {
    const char *id;                 // "gradcam"
    const char *title;              // "Grad-CAM"
    PcMethodFamily family;
    const char *settings;           // the keys it reads, for --help / README ("[cam] layer")
    const char *native_size;        // its native map size rule
    const char *source;             // the library it reproduces
    PcMethodNative native;          // NULL for the Poly-CAM family
    PcMethodRunData run_data;       // NULL: nothing stored beside the per-image results
    // Forward-pass equivalents per image for the map alone (methods_cost.c; a full backward
    // counts as PC_COST_BACKWARD passes). NULL for the Poly-CAM family (cost.c counts its
    // masked passes once for all variants).
    double (*cost)(const PcNet *net, const PcMethodSettings *s);
    PcMethodOpen open;              // NULL: no per-run state
    PcMethodClose close;
} PcMethodDesc;

int pc_method_count(void);
const PcMethodDesc *pc_method_at(int i);
// The entry of id: an exact id, or "ext:NAME" with a valid NAME for the "ext:" row. NULL if none.
const PcMethodDesc *pc_method_find(const char *id);
// "pcamp, pcamm, ..., occlusion, ext:NAME": every id, for error messages.
void pc_method_list_ids(char *buf, size_t n);

// The method's map brought to S x S with up() (SPEC §2): map host (S, S). 0, PC_METHOD_NO_MAP
// (map NaN), or -1 with err.
int pc_method_compute(const PcMethodDesc *d, const PcMethodCtx *ctx, float *map, PcError *err);

// ---- settings (method_config.c; reading them from the config: method_config.h) ----------------
// Resolves the layer settings against the net (defaults per arch); one line naming the key and
// the model's valid layer names when a layer is missing.
int pc_method_settings_resolve(PcMethodSettings *s, const PcNet *net, PcError *err);

// Default layer lists (names) of the arch: cam = the last default Poly-CAM target (VGG: the ReLU
// before the last max-pool; ResNet: layer4); layercam = the default Poly-CAM targets; zoomcam =
// VGG every conv ReLU output (features.1, 3, ...), ResNet relu + every stage output.
int pc_method_default_layers(const PcNet *net, const char *which, char names[][64], int max);

// ---- shared helpers for the compute functions (methods_common.c) ------------------------------
// up() (SPEC §2) on the backend: in (h, w) host -> out (oh, ow) host.
void pc_method_up(const PcMethodCtx *ctx, const float *in, int h, int w, int oh, int ow, float *out);
// torchcam's min-max: m = (m - min m) / max(m - min m), in place; NaN everywhere when constant.
void pc_method_minmax(float *m, size_t n);
// Data gradients of the class logit for n inputs (host (n, 3, S, S)) in batches of ctx->batch:
// taps (t, n, C_t, H_t, W_t) host or NULL, grad_taps likewise, grad_x (n, 3, S, S) host or NULL.
// 0, -1 with err set, or PC_ERR_OOM with err set (the backend had no memory for the buffers of a
// batch, or for a pass).
int pc_method_backward(const PcMethodCtx *ctx, const float *x, int n, int n_taps, const int *tap_nodes,
                       float **taps, float **grad_taps, float *grad_x, PcError *err);

// Gauss-Legendre nodes t (ascending, in (-1, 1)) and weights w of n points, double precision,
// as numpy.polynomial.legendre.leggauss (Newton iteration on P_n).
void pc_gauss_legendre(int n, double *t, double *w);

// native-resolution compute functions (methods_gradcam.c, methods_attrib.c)
int pc_method_gradcam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_gradcampp(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_smoothgradcampp(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_layercam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_zoomcam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_ixg(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_ig(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_smoothgrad(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
// forward-only compute functions (methods_scorecam.c)
int pc_method_scorecam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_sscam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_iscam(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
// methods_external.c: ext:NAME (its native map brought to S x S itself: it may be larger than S)
int pc_method_external(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_external_open(const PcMethodSettings *s, const char *id, char *const *names, int n, FILE *log,
                            void **state, PcError *err);
void pc_method_external_close(void *state);
// methods_perturb.c
int pc_method_rise(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);
int pc_method_occlusion(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err);

// RISE mask geometry of an S x S input: cell = ceil(S / cells), up = (cells + 1) * cell (the side
// of the resized grid before the crop).
void pc_rise_geometry(int cells, int size, int *cell, int *up);
// The grids and offsets of masks first .. first + n - 1 of the run (from s->seed, rise_cells,
// rise_p): grid (n, cells, cells) 0/1 bytes, offsets (n, 2) (row, column) in [0, cell).
void pc_rise_draw(const PcMethodSettings *s, int size, int first, int n, unsigned char *grid, int *offsets);
// /methods/rise/masks/grid (N, cells, cells) u8 and /methods/rise/masks/offsets (N, 2) i32.
int pc_rise_run_data(const PcMethodSettings *s, int size, PcRunData *out);

// ---- cost per image (methods_cost.c), in forward-pass equivalents ------------------------------
// A backward pass costs about twice a forward pass (two convolutions per forward one: data
// gradient and, in cuDNN's and our CPU kernel, the same FLOPs); heads-only backwards are counted
// as full ones, so these are upper bounds.
#define PC_COST_BACKWARD 2.0
double pc_cost_one_backward(const PcNet *net, const PcMethodSettings *s);
double pc_cost_smoothgradcampp(const PcNet *net, const PcMethodSettings *s);
double pc_cost_ig(const PcNet *net, const PcMethodSettings *s);
double pc_cost_smoothgrad(const PcNet *net, const PcMethodSettings *s);
double pc_cost_scorecam(const PcNet *net, const PcMethodSettings *s);
double pc_cost_sscam(const PcNet *net, const PcMethodSettings *s);
double pc_cost_iscam(const PcNet *net, const PcMethodSettings *s);
double pc_cost_rise(const PcNet *net, const PcMethodSettings *s);
double pc_cost_occlusion(const PcNet *net, const PcMethodSettings *s);

#endif
