// safe_text.h: text that comes from files we did not just write (method ids and image names read
// from a result file, list entries, result file names) before it reaches a report, a table, a CSV
// or an error line. Rules in docs/hostile-inputs.md.
//
// The allowed set of a name (method id or image name; one set for both):
//   - 1 to PC_NAME_MAX bytes of valid UTF-8;
//   - no control character: U+0000..U+001F, U+007F, U+0080..U+009F (newline, tab, escape, CSI);
//   - none of | < > ` (table cell breaks, raw HTML, code span breaks);
//   - does not start with = + - @ or a space (what spreadsheets run as a formula);
//   - no ".." path component ("..", "../x", "x/../y", "x/..");
//   - a method id is also one HDF5 link name: no '/', shorter than PC_METHOD_ID_LEN.
// Everything else is allowed, e.g. spaces inside a name, non-ASCII letters, "sub/b.jpg", the "\xNN"
// that the writer puts for bytes that are not UTF-8 (h5util.h: pc_utf8_clean).
#ifndef PC_SAFE_TEXT_H
#define PC_SAFE_TEXT_H

#include <stddef.h>
#include <stdio.h>

// Bytes of a method id with its terminating NUL (the longest id has 95 bytes): the id fields of
// the result file's layout (layout.h) and of the method registry.
#define PC_METHOD_ID_LEN 96

#define PC_NAME_MAX 4096

// s as valid UTF-8 (malloc'd): every byte that is not part of a valid UTF-8 sequence is written as
// the four characters \xNN (Python's errors="backslashreplace"), so h5py's .asstr() always decodes.
char *pc_utf8_clean(const char *s);

// NULL when s is in the allowed set (method_id = 1: the method id rule as well), else why not (a
// static phrase: "holds a control character", "starts with '='", ...).
const char *pc_name_problem(const char *s, int method_id);

// s for an error line: at most cap - 1 bytes, control characters as \xNN, cut with "..." when
// longer; returns out.
char *pc_printable(char *out, size_t cap, const char *s);

// Markdown text (table cell, heading, link text): \ ` * [ ] < > | & are backslash-escaped,
// control characters written as \xNN; everything else as it is. pc_md_escape writes into out (at
// most cap - 1 bytes, cut at a character boundary) and returns its length.
void pc_md_write(FILE *f, const char *s);
size_t pc_md_escape(char *out, size_t cap, const char *s);
// A Markdown code span `s`, or escaped text (pc_md_write) when s holds a backtick, a '|' or a
// control character (which a code span cannot carry).
void pc_md_code(FILE *f, const char *s);
// 1 when s can stand in a code span as it is (what pc_md_code decides): valid UTF-8 without a
// backtick, a '|' or a control character.
int pc_md_code_ok(const char *s);
// A link target: every byte outside A-Z a-z 0-9 - . _ ~ / percent-encoded ("run 1" -> "run%201").
void pc_url_write(FILE *f, const char *s);
// Figure line "\n![title](file)\n": the title as Markdown text, the file name percent-encoded (a
// result file named "run 1.h5" gives curves_run%201_insertion.png).
void pc_md_image(FILE *f, const char *title, const char *file);
// One CSV field (RFC 4180): quoted, with its quotes doubled, when it holds a comma, a quote, CR or
// LF; a field starting with = + - @ tab or CR gets a leading ' first, so a spreadsheet shows it as
// text instead of running it as a formula.
void pc_csv_field(FILE *f, const char *s);

#endif
