// report_sanity.h: the sanity-check part of --report (report.c calls it once per file): when a
// result file holds /sanity (sanity.h), a Markdown table per method (randomisation step x the four
// similarity measures, means over the checked images, and the class at each step), the sanity grid
// (methods x randomisation steps, viridis maps of the first checked image; PNG + SVG) and the
// similarity curves (one chart per measure, x = randomisation step, one line per method).
#ifndef PC_REPORT_SANITY_H
#define PC_REPORT_SANITY_H

#include <stdio.h>

#include "layout.h"

// Writes the section into md and the figures into dir (figures = 0: tables only, e.g. no cairo).
// A file without /sanity writes nothing. 0, or -1 with err when a figure cannot be written.
int pc_report_sanity(FILE *md, const char *dir, const PcResultFile *rf, const char *label, int figures,
                     PcError *err);

// Before the report writes anything: a /sanity that is there is as the layout says (every dataset
// checked against the counts of steps, methods and images, h5shape.h; names in the allowed set).
// 0, or -1 with one line in err.
int pc_report_sanity_check(const PcResultFile *rf, PcError *err);

#endif
