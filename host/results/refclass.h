// refclass.h: the reference top-1 classes of [data] reference_classes (e.g. the authors' own
// predictions, data/authors_top1_vgg16.csv) and how many of a run's predicted classes agree with
// them: the first check that a reproduction used the same model and preprocessing.
//
// The file: one line '<name>,<class>' per image (the reference repository's results/*.csv, no
// header; a first line 'name,class' is accepted as one), blank lines and '#' comments skipped,
// CRLF and a UTF-8 byte order mark tolerated. A list entry matches by its full name or its base
// name, as [data] labels.
//
// In the result file (layout.h), only when the run has a reference with at least one of its images:
//   /reference_classes          group; attributes file (the resolved path), description, and at
//                               the end of the run n_compared, n_agree, n_disagree
//   /reference_classes/class    (N) i32: the reference's class of each image, -1 = not in the file
//   /reference_classes/agree    (N) i8: 1 = /images/class equals it, 0 = it differs (a disagreeing
//                               image), -1 = not compared (no reference class, or the image was
//                               skipped); filled when the run (or a merge) finishes
#ifndef PC_REFCLASS_H
#define PC_REFCLASS_H

#include <hdf5.h>
#include <stdio.h>

#include "common.h"

typedef struct {
    char *path;     // the file
    int n;          // images of the run
    int *cls;       // (n) the reference class of each image, -1 = not in the file
    int n_found;    // images of the run that the file names
    int n_lines;    // entries of the file
} PcRefClasses;

// Reads path and looks up the n names of the run. One line naming the file and line on a bad line
// ('<name>,<class>' with a class >= 0) or a name given twice with two classes; 0, or -1 with err.
int pc_refclasses_load(const char *path, char *const *names, int n, PcRefClasses *out, PcError *err);
// The same for a run, with a warning on warn when the file names only some of its images, or none
// (n_found 0: another list than the reference's; nothing is stored then).
int pc_refclasses_load_run(const char *path, char *const *names, int n, FILE *warn, PcRefClasses *out, PcError *err);
void pc_refclasses_free(PcRefClasses *r);

// Creates /reference_classes in a new result file (cls: n classes; file: the reference's path),
// agree at its fill value -1. 0, or -1 with err naming path (the result file).
int pc_refclasses_create(hid_t file, const char *path, const int *cls, int n, const char *ref_file, PcError *err);
// A finishing result file: when it has /reference_classes, fills agree from /images/class and
// /images/status and writes the counts. 0 (also when it has none), or -1 with err.
int pc_refclasses_finish(hid_t file, const char *path, PcError *err);

// The agreement as stored in a result file (finished or not: computed from the per-image datasets).
typedef struct {
    int present;            // the file has /reference_classes
    char *file;             // its file attribute
    int n;
    int *cls;               // (n) reference classes
    signed char *agree;     // (n) 1 / 0 / -1 as above
    int n_compared, n_agree;
} PcRefAgreement;

// Reads /reference_classes of an open result file with n images (present = 0 when it has none).
int pc_refclasses_read(hid_t file, int n, PcRefAgreement *out);
void pc_refagreement_free(PcRefAgreement *a);

// One line "class agreement with FILE: A of C images (...)" and the disagreeing images (names[i],
// ours, theirs; at most max_list, then a count), for --table and the end of a run.
void pc_refagreement_print(FILE *out, const PcRefAgreement *a, char *const *names, const int *ours, int max_list);
// The same for a result file (finished or .partial), after a blank line, at most 20 images listed;
// nothing when it has no /reference_classes or cannot be read.
void pc_refagreement_print_file(FILE *out, const char *h5_path);

#endif
