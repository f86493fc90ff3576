// versions.h: the libraries polycam-eval was built with (versions.c).
#ifndef PC_VERSIONS_H
#define PC_VERSIONS_H

#include <stddef.h>

// One line per library: "libjpeg-turbo 2.1.5; HDF5 1.10.8; inih 55; OpenBLAS ...; libpng 1.6.39".
void pc_library_versions(const char *inih_version, char *buf, size_t n);

#endif
