// png_trap.h: libpng's error handling as one line of text. libpng reports an error by calling
// the error function, which must not return: it stores the message and longjmps back to the
// setjmp of the caller (png_create_*_struct(..., &trap, pc_png_trap_error, pc_png_trap_warning);
// if (setjmp(trap.escape)) { ... trap.message ... }). Warnings are dropped. Used by overlay.c
// (writing) and mask.c (reading).
#ifndef PC_PNG_TRAP_H
#define PC_PNG_TRAP_H

#include <png.h>
#include <setjmp.h>
#include <stdio.h>

typedef struct {
    jmp_buf escape;
    char message[256];
} PngTrap;

static inline void pc_png_trap_error(png_structp png, png_const_charp msg) {
    PngTrap *trap = png_get_error_ptr(png);
    snprintf(trap->message, sizeof trap->message, "%s", msg);
    longjmp(trap->escape, 1);
}

static inline void pc_png_trap_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

#endif
