// stop.h: the graceful stop of a run. SIGTERM (Slurm's time limit or scancel), SIGINT (Ctrl-C) and
// SIGUSR1 (the signal a batch script asks for before a time limit) ask the run to stop: the image
// being computed is finished and stored (journal and .partial flushed, as after every image), then
// the run ends with PC_EXIT_INTERRUPTED and one line saying how to continue. A second signal stops
// at once: the process exits without finishing the image, which loses nothing either, since a
// resumed run rebuilds everything from the journal (dropping a record torn by the exit).
#ifndef PC_STOP_H
#define PC_STOP_H

// Exit status of a run stopped by a signal (0 ok, 1 error, 2 command-line mistake).
#define PC_EXIT_INTERRUPTED 3

// Installs the handlers of SIGTERM, SIGINT and SIGUSR1 (for the run; --table and --merge keep the
// default actions).
void pc_stop_install(void);
// 0, or the first stop signal received.
int pc_stop_requested(void);
// "SIGTERM", "SIGINT", "SIGUSR1" or "signal N".
const char *pc_stop_signal_name(int sig);

#endif
