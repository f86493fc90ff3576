// versions.c: the libraries polycam-eval was built with, for the output file's provenance
// (/ attribute "libraries") and --version.
#include <stdio.h>   // before jpeglib.h, which uses FILE
#include <hdf5.h>
#include <jpeglib.h>

#include "cpu_backend.h"
#include "versions.h"

#ifdef PC_HAVE_PNG
#include <png.h>
#endif

#define PC_STR2(x) #x
#define PC_STR(x) PC_STR2(x)

void pc_library_versions(const char *inih_version, char *buf, size_t n) {
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    char blas[512];
    pc_backend_cpu_libraries(blas, sizeof blas);
    size_t used = 0;
#ifdef LIBJPEG_TURBO_VERSION
    used += (size_t)snprintf(buf + used, n - used, "libjpeg-turbo %s", PC_STR(LIBJPEG_TURBO_VERSION));
#else
    used += (size_t)snprintf(buf + used, n - used, "libjpeg %d", JPEG_LIB_VERSION);
#endif
    if (used < n) used += (size_t)snprintf(buf + used, n - used, "; HDF5 %u.%u.%u", maj, min, rel);
    if (used < n) used += (size_t)snprintf(buf + used, n - used, "; inih %s", inih_version ? inih_version : "unknown");
    if (used < n) used += (size_t)snprintf(buf + used, n - used, "; %s", blas);
#ifdef PC_HAVE_PNG
    if (used < n) used += (size_t)snprintf(buf + used, n - used, "; libpng %s", PNG_LIBPNG_VER_STRING);
#endif
    (void)used;
}
