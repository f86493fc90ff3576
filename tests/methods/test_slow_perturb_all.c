// test_slow_perturb_all.c: test_perturb_baselines on every model and image of
// fixtures/perturb_baselines.h5 (tiny nets 2 images, synthetic nets 4; several minutes on 2 cores).
#define PC_PERTURB_ALL 1
#include "test_perturb_baselines.c"
