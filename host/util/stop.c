// stop.c: signal handlers of the graceful stop (see stop.h). The only state is the signal number,
// a sig_atomic_t the handler sets and the run loop reads between images.
#define _GNU_SOURCE
#include "stop.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop_signal;

static void on_stop_signal(int sig) {
    if (g_stop_signal) {
        // Second signal: stop now. Only async-signal-safe calls (write, _exit).
        static const char msg[] =
            "\npolycam-eval: interrupted again: stopped at once; rerun the same command to continue\n";
        ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)ignored;
        _exit(PC_EXIT_INTERRUPTED);
    }
    g_stop_signal = sig;
}

void pc_stop_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;   // file writes and condition waits carry on; the loop checks the flag
    static const int sigs[] = {SIGTERM, SIGINT, SIGUSR1};
    for (int i = 0; i < 3; i++) sigaction(sigs[i], &sa, NULL);
}

int pc_stop_requested(void) { return g_stop_signal; }

const char *pc_stop_signal_name(int sig) {
    static char other[32];
    switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    default: snprintf(other, sizeof other, "signal %d", sig); return other;
    }
}
