// progress.h: run progress on stderr. On a terminal a bar with images done/total, images/s and
// ETA, redrawn in place with '\r'; otherwise (logs, CI) a plain line every few seconds.
#ifndef PC_PROGRESS_H
#define PC_PROGRESS_H

#include <stdio.h>

typedef struct {
    FILE *out;
    int tty;
    int total;              // images of the run
    int start_done;         // already done when the run started (resumed)
    int done;
    int skipped;            // images whose status is not "ok"
    double t0, last_print;
    double interval;        // seconds between plain lines
    int drawn;              // a bar is on screen (needs a newline before other output)
} PcProgress;

void pc_progress_init(PcProgress *p, FILE *out, int total, int already_done);
// One more image finished (ok = its status is "ok"); name is shown on the bar.
void pc_progress_step(PcProgress *p, int ok, const char *name);
// Prints a message without breaking the bar.
void pc_progress_note(PcProgress *p, const char *msg);
// Final line: images, time, rate.
void pc_progress_finish(PcProgress *p);
// The run stops early: clears the bar (on a terminal) so the next line starts clean; no summary.
void pc_progress_stop(PcProgress *p);

#endif
