// config_find.h: where `--config NAME` is read from. A path with a '/' is used as given; a bare
// name (as users write it: `--config table1_vgg16.ini`, or without the .ini) is looked up in the
// current folder, then among the shipped configurations: the installed ones next to the program
// (<prefix>/bin/polycam-eval -> <prefix>/share/polycam-eval/configs) and, for a program run from
// its build tree, the source tree's configs/.
#ifndef PC_CONFIG_FIND_H
#define PC_CONFIG_FIND_H

#include <stdio.h>

#include "common.h"

// Returns the path to read (malloc'd). When it is not the name as given, one line saying where it
// was found goes to `note` (NULL: none). NULL and err when the name is nowhere: the message lists
// the folders searched.
char *pc_config_find(const char *name, FILE *note, PcError *err);

#endif
