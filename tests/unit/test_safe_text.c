// test_safe_text: the allowed set of names read from files and the escaping of report output
// (host/util/safe_text.h, docs/hostile-inputs.md): which method ids and image names pass, what the
// Markdown, link and CSV writers make of hostile text (RFC 4180 quoting, the formula guard), the
// one-line form of a name in an error message; and the pickle reader on a legal empty tuple built
// as MARK + TUPLE (issue 22: UBSan stopped on memcpy from NULL there).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "pth_pickle.h"
#include "safe_text.h"
#include "testutil.h"

// What writer(f, s) writes, as a string (static buffer).
static const char *written(void (*writer)(FILE *, const char *), const char *s) {
    static char out[4096];
    FILE *f = fmemopen(out, sizeof out, "w");
    writer(f, s);
    fclose(f);
    return out;
}

static void test_names(void) {
    static const char *const good[] = {"pcamp", "pcampm.level.features.13", "pcamp.no_lnorm", "layer4.0.downsample.0",
                                       "gradcam"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CHECK(!pc_name_problem(good[i], 1), "method id %s allowed", good[i]);
    static const char *const images[] = {"synthetic/synth_000.jpg", "/data/imagenet/ILSVRC2012_val_00000001.JPEG",
                                         "caf\xc3\xa9 au lait.jpg", "latin1_\\xe9.jpg", "a..b.jpg", "x-1+2=3@.jpg"};
    for (size_t i = 0; i < sizeof images / sizeof *images; i++)
        CHECK(!pc_name_problem(images[i], 0), "image name %s allowed", images[i]);
    static const struct {
        const char *s;
        int id;
        const char *why;
    } bad[] = {{"", 1, "empty"},
               {"../../images", 1, "'..'"},
               {"a/../b.jpg", 0, "'..'"},
               {"..", 0, "'..'"},
               {"x/..", 0, "'..'"},
               {"a|b", 1, "| < >"},
               {"<img src=x onerror=alert(1)>", 1, "| < >"},
               {"a`b", 0, "| < >"},
               {"a\nb", 1, "control"},
               {"a\tb.jpg", 0, "control"},
               {"a\x1b[31mb", 0, "control"},
               {"a\xc2\x9b" "31mb", 0, "control"},   // C1 CSI
               {"=HYPERLINK(\"http://x\",\"y\")", 1, "formula"},
               {"+1", 1, "formula"},
               {"-x", 0, "formula"},
               {"@SUM(1)", 0, "formula"},
               {" lead", 0, "formula"},
               {"a\xff" "b", 0, "UTF-8"},
               {"\xc0\xaf", 0, "UTF-8"},   // overlong '/'
               {"gradcam/insertion", 1, "'/'"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *why = pc_name_problem(bad[i].s, bad[i].id);
        char shown[64];
        CHECK(why && strstr(why, bad[i].why), "'%s' refused (%s): %s", pc_printable(shown, sizeof shown, bad[i].s),
              bad[i].why, why ? why : "allowed");
    }
    char longid[PC_METHOD_ID_LEN + 1];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    CHECK(pc_name_problem(longid, 1) && !pc_name_problem(longid, 0), "96-byte id refused, name allowed");
}

static void test_printable(void) {
    char out[32];
    CHECK(!strcmp(pc_printable(out, sizeof out, "a\nb\x01"), "a\\x0ab\\x01"), "control bytes as \\xNN: %s", out);
    CHECK(!strcmp(pc_printable(out, sizeof out, "caf\xc3\xa9"), "caf\xc3\xa9"), "UTF-8 kept: %s", out);
    CHECK(!strcmp(pc_printable(out, 12, "abcdefghijklmnopqrstuvwxyz"), "abcdefgh..."), "cut with ...: %s", out);
    CHECK(strlen(pc_printable(out, 8, "\n\n\n\n\n")) <= 7 && !strchr(out, '\n'), "cut escapes fit: %s", out);
}

static void test_markdown(void) {
    CHECK(!strcmp(written(pc_md_write, "pcampm.level.features_13"), "pcampm.level.features_13"),
          "a plain id unchanged: %s", written(pc_md_write, "pcampm.level.features_13"));
    const char *md = written(pc_md_write, "a|b<img src=x>*[l](u)`&\\\n");
    CHECK(!strcmp(md, "a\\|b\\<img src=x\\>\\*\\[l\\](u)\\`\\&\\\\\\x0a"), "Markdown escaped: %s", md);
    CHECK(!strcmp(written(pc_md_code, "results/demo.h5"), "`results/demo.h5`"), "code span: %s",
          written(pc_md_code, "results/demo.h5"));
    CHECK(!strcmp(written(pc_md_code, "a`b|c"), "a\\`b\\|c"), "no code span for a backtick: %s",
          written(pc_md_code, "a`b|c"));
    CHECK(pc_md_code_ok("resnet*<b>") && !pc_md_code_ok("a`b") && !pc_md_code_ok("a|b") && !pc_md_code_ok("a\tb") &&
              !pc_md_code_ok("\xff"),
          "pc_md_code_ok: what a code span can hold");
    char buf[8];
    size_t n = pc_md_escape(buf, sizeof buf, "||||||");
    CHECK(n == 6 && !strcmp(buf, "\\|\\|\\|"), "escape cut at a whole character: %s", buf);
}

static void test_links_and_csv(void) {
    CHECK(!strcmp(written(pc_url_write, "curves_run 1_insertion.png"), "curves_run%201_insertion.png"), "space: %s",
          written(pc_url_write, "curves_run 1_insertion.png"));
    CHECK(!strcmp(written(pc_url_write, "a(b)#c\xc3\xa9.png"), "a%28b%29%23c%C3%A9.png"), "link encoded: %s",
          written(pc_url_write, "a(b)#c\xc3\xa9.png"));
    static const char *const csv[][2] = {{"pcamp", "pcamp"},
                                         {"a,b", "\"a,b\""},
                                         {"say \"hi\"", "\"say \"\"hi\"\"\""},
                                         {"=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""},
                                         {"+1", "'+1"},
                                         {"-2", "'-2"},
                                         {"@x", "'@x"},
                                         {"a\nb", "\"a\nb\""}};
    for (size_t i = 0; i < sizeof csv / sizeof *csv; i++)
        CHECK(!strcmp(written(pc_csv_field, csv[i][0]), csv[i][1]), "CSV field of %s: %s", csv[i][0],
              written(pc_csv_field, csv[i][0]));
}

// MARK + TUPLE: a legal empty tuple; the reader takes it without copying from a NULL array.
static void test_empty_tuple(void) {
    static const unsigned char pkl[] = "\x80\x02(t.";
    PthPickle pk;
    PcError err = {{0}};
    size_t used = 0;
    int rc = pth_unpickle_next(pkl, sizeof pkl - 1, "empty tuple", PTH_WANT_ANY, pth_mem_limit(sizeof pkl - 1), &pk, &used,
                               &err);
    CHECK(rc == 0 && used == sizeof pkl - 1, "MARK + TUPLE read: %s", err.msg);
    if (rc == 0) pth_pickle_free(&pk);
}

int main(void) {
    test_names();
    test_printable();
    test_markdown();
    test_links_and_csv();
    test_empty_tuple();
    return test_summary();
}
