// test_slow_synth_all.c: test_synth_polycam.c on all 16 synthetic test images for synth_vgg and
// synth_resnet (energy in mask and insertion / deletion AUCs within 0.01 of synthetic.h5, maps
// against the reference's f16 maps). Label "slow": several minutes on two CPU cores.
#define SYNTH_IMAGES 16
#include "test_synth_polycam.c"
