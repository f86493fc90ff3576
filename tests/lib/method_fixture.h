// method_fixture.h: the method-versus-fixture table of the baseline tests (test_baselines,
// test_forward_baselines, test_perturb_baselines; docs/testing.md). A test writes one row per
// (fixture file, model): the images, the methods with their tolerances and the settings; mf_run
// loads the net, prepares it, and for every image of the fixture (input, class, image_index)
// builds the method context and the insertion / deletion context, then checks each method's
// native map (shape, values, NaN positions), its S x S map and its AUCs against the fixture and
// prints the worst differences. Lower-level helpers (a fixture net prepared on a backend, an
// image's input and class) serve the Poly-CAM engine tests too.
#ifndef PC_METHOD_FIXTURE_H
#define PC_METHOD_FIXTURE_H

#include <stdint.h>

#include "backend.h"
#include "methods.h"
#include "model.h"

// One method of a row and its bounds. A map's difference is max |ours - fixture| over the
// positions where both are numbers (NaN positions must agree), divided by the fixture's max
// |value| when rel; it must be <= tol, and, when p99_tol > 0, its 99th percentile <= p99_tol too.
// Own draws: where the fixture holds <image>/<id>/library_own_draws (the library run on its own
// random draws), our S x S map must lie within the library's run-to-run spread of it (attribute
// library_spread_max_abs), max abs.
typedef struct {
    const char *id;
    double tol, p99_tol;
    int rel;
} MfMethod;

typedef struct {
    const char *fixture;            // name of a file in tests/fixtures: <model>/<image>/<id>/{map_native, map}
    const char *input_fixture;      // the one holding <model>/<image>/input (NULL: fixture)
    const char *model;              // fixture_net_load's name
    const char *const *images;      // groups <model>/<image> (attributes class, image_index)
    int n_images;
    const MfMethod *methods;        // the first one's group holds auc_steps (the curves' steps)
    int n_methods;
    PcMethodSettings settings;      // copied, then resolved against the net
    // attributes of the model group naming the resolved default layers, compared with ours
    // ("cam_layer", "layercam_layers", "zoomcam_layers"; comma-separated lists); NULL-ended
    const char *const *layer_attrs;
    // optional: settings read from the fixture's model group (e.g. sample counts); 0 when done
    int (*model_settings)(const char *fixture, const char *model, PcMethodSettings *set);
    double auc_tol;                 // insertion / deletion AUCs vs the fixture's, absolute
    int batch;                      // images per pass (the net is prepared for the curves' batch too)
    int family;                     // the methods' registry family, or -1 for any
    // 1: check map_native (shape, values) and make the S x S map with up() of it (the first
    // method's also through pc_method_compute, which must give the same bits); 0: the S x S map
    // from pc_method_compute alone
    int native;
} MfRow;

// The rows on backend be, in order: CHECKs and printed lines.
void mf_run(PcBackend *be, const MfRow *rows, int n_rows);

// ---- helpers -----------------------------------------------------------------------------------

// A fixture net (fixture_net_load), prepared on be for `batch` images when batch > 0. 0, or -1
// (nothing held) after a failed CHECK naming the model.
typedef struct {
    PcBackend *be;
    const char *model;
    PcNet net;
    PcBackendNet *bn;
} MfNet;
int mf_net_open(PcBackend *be, const char *model, int batch, MfNet *n);
// Prepares n->net on n->be once it is loaded (e.g. after the targets are resolved); 0 or -1
// after a failed CHECK.
int mf_net_prepare(MfNet *n, int batch);
void mf_net_close(MfNet *n);

// The (3, 224, 224) input dataset `input` of file `file` and the attributes class (and, when
// image_index is not NULL, image_index) of object grp of file `attrs`: malloc'd, or NULL after a
// failed CHECK.
float *mf_read_image(const char *file, const char *input, const char *attrs, const char *grp, int *cls,
                     uint32_t *image_index);

#endif
