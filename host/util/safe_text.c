// safe_text.c: the allowed set of names read from files and the escaping of text into Markdown,
// links and CSV (see safe_text.h and docs/hostile-inputs.md).
#include "safe_text.h"

#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


// Length of the valid UTF-8 sequence at p (1..4), its code point in *cp; 0 when not valid
// (overlong forms, surrogates and values above U+10FFFF included).
static int utf8_char(const unsigned char *p, unsigned *cp) {
    if (p[0] < 0x80) return *cp = p[0], 1;
    int n = p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 && p[0] < 0xE0 ? 2 : 0;
    if (!n || p[0] > 0xF4) return 0;
    unsigned v = p[0] & (0x7F >> n);
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return n;
}

char *pc_utf8_clean(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    char *out = xmalloc(4 * n + 1), *o = out;
    for (size_t i = 0; i < n;) {
        unsigned cp;
        int k = utf8_char(p + i, &cp);
        if (k) {
            memcpy(o, p + i, (size_t)k);
            o += k, i += (size_t)k;
        } else {
            o += sprintf(o, "\\x%02x", p[i]);
            i++;
        }
    }
    *o = 0;
    return out;
}

static int is_control(unsigned cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

// 1 when s has ".." as a whole path component.
static int has_dotdot(const char *s) {
    for (const char *p = strstr(s, ".."); p; p = strstr(p + 1, ".."))
        if ((p == s || p[-1] == '/') && (p[2] == 0 || p[2] == '/')) return 1;
    return 0;
}

const char *pc_name_problem(const char *s, int method_id) {
    size_t n = strlen(s);
    if (n == 0) return "is empty";
    if (n > PC_NAME_MAX) return "is longer than 4096 bytes";
    if (method_id && n >= PC_METHOD_ID_LEN) return "is longer than 95 bytes";
    if (strchr("=+-@ ", s[0])) return "starts with = + - @ or a space (a spreadsheet formula)";
    if (has_dotdot(s)) return "has a '..' path component";
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned cp;
        int k = utf8_char(p + i, &cp);
        if (!k) return "is not valid UTF-8";
        if (is_control(cp)) return "holds a control character (newline, tab, escape...)";
        if (cp == '|' || cp == '<' || cp == '>' || cp == '`') return "holds one of | < > `";
        if (method_id && cp == '/') return "holds a '/' (a method id is one name)";
        i += (size_t)k;
    }
    return NULL;
}

// The text one character of s stands for: *k bytes of s consumed, the text in buf or at s.
// md = 1: Markdown (backslash before \ ` * [ ] < > | &); control characters and bytes that are
// not UTF-8 become \xNN either way.
static const char *piece(const unsigned char *s, int md, char buf[8], size_t *len, int *k) {
    unsigned cp = 0;
    *k = utf8_char(s, &cp);
    if (!*k || is_control(cp)) {
        snprintf(buf, 8, "\\x%02x", s[0]);
        *k = 1, *len = 4;
        return buf;
    }
    if (md && cp < 0x80 && strchr("\\`*[]<>|&", (int)cp)) {
        buf[0] = '\\', buf[1] = (char)cp;
        *len = 2;
        return buf;
    }
    *len = (size_t)*k;
    return (const char *)s;
}

// Escaped s into out (cap bytes with the NUL); when it does not fit, cut at a character and end
// with "..." (dots = 1) or nothing. Returns the length written.
static size_t escape(char *out, size_t cap, const char *s, int md, int dots) {
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, total = 0, len;
    int k;
    char buf[8];
    if (!cap) return 0;
    for (size_t i = 0; p[i]; i += (size_t)k) piece(p + i, md, buf, &len, &k), total += len;
    size_t room = total <= cap - 1 ? cap - 1 : dots && cap > 4 ? cap - 4 : cap - 1;
    for (size_t i = 0; p[i]; i += (size_t)k) {
        const char *text = piece(p + i, md, buf, &len, &k);
        if (o + len > room) break;
        memcpy(out + o, text, len);
        o += len;
    }
    if (total > cap - 1 && dots && cap > 4) memcpy(out + o, "...", 3), o += 3;
    out[o] = 0;
    return o;
}

char *pc_printable(char *out, size_t cap, const char *s) {
    escape(out, cap, s, 0, 1);
    return out;
}

size_t pc_md_escape(char *out, size_t cap, const char *s) { return escape(out, cap, s, 1, 0); }

void pc_md_write(FILE *f, const char *s) {
    size_t n = strlen(s) * 4 + 1;
    char small[1024], *buf = n <= sizeof small ? small : xmalloc(n);
    pc_md_escape(buf, n, s);
    fputs(buf, f);
    if (buf != small) free(buf);
}

int pc_md_code_ok(const char *s) {
    int plain = 1;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; p[i] && plain;) {
        unsigned cp = 0;
        int k = utf8_char(p + i, &cp);
        plain = k && !is_control(cp) && cp != '`' && cp != '|';
        i += k ? (size_t)k : 1;
    }
    return plain;
}

void pc_md_code(FILE *f, const char *s) {
    if (pc_md_code_ok(s)) fprintf(f, "`%s`", s);
    else pc_md_write(f, s);
}

void pc_url_write(FILE *f, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                   strchr("-._~/", *p);
        if (keep) fputc(*p, f);
        else fprintf(f, "%%%02X", *p);
    }
}

void pc_md_image(FILE *f, const char *title, const char *file) {
    fprintf(f, "\n![");
    pc_md_write(f, title);
    fprintf(f, "](");
    pc_url_write(f, file);
    fprintf(f, ")\n");
}

void pc_csv_field(FILE *f, const char *s) {
    const int guard = s[0] && strchr("=+-@\t\r", s[0]);
    const int quote = strpbrk(s, ",\"\r\n") != NULL;
    if (quote) fputc('"', f);
    if (guard) fputc('\'', f);
    for (const char *p = s; *p; p++) {
        if (*p == '"') fputc('"', f);
        fputc(*p, f);
    }
    if (quote) fputc('"', f);
}
