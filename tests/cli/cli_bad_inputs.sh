#!/usr/bin/env bash
# cli_bad_inputs.sh: a run over data/bad_inputs (plus a name that does not exist, a directory, a
# FIFO with no writer and a 286-byte JPEG whose header declares 60000x60000 pixels) completes with
# exit 0, without blocking on the FIFO or allocating the bomb; the five valid files (grayscale, CMYK, progressive, one pixel, 4000x3000) are processed,
# the others are recorded in /images/status with their reason, skipped in the table's N and listed
# in the closing summary. Plumbing test: tiny_vgg, two target layers, 4 curve steps.
# Usage: bash cli_bad_inputs.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump

# Absolute names in the list are taken as they are (not joined to root).
mkdir "$tmp/dir.jpg"
mkfifo "$tmp/fifo.jpg"
# one_pixel.jpg with its SOF0 frame size (4 bytes at +5 of the FF C0 marker) set to 60000x60000
cp "$src/data/bad_inputs/one_pixel.jpg" "$tmp/bomb.jpg"
sof=$(LC_ALL=C grep -obUaP '\xff\xc0' "$tmp/bomb.jpg" | head -n 1 | cut -d: -f1)
printf '\xea\x60\xea\x60' | dd of="$tmp/bomb.jpg" bs=1 seek=$((sof + 5)) conv=notrunc status=none
names=(cmyk.jpg cut_in_half.jpg empty.JPEG grayscale.jpg large_4000x3000.jpg one_pixel.jpg png_named_as.JPEG
       progressive.jpg text_named_as.JPEG truncated.jpg does_not_exist.jpg "$tmp/dir.jpg" "$tmp/fifo.jpg"
       "$tmp/bomb.jpg")
printf '%s\n' "${names[@]}" >"$tmp/list.txt"
cat >"$tmp/bad.ini" <<EOF
$(tiny_vgg_model)
layers = features.18,features.23
[data]
root = $src/data/bad_inputs
list = list.txt
[saliency]
methods = pcampm
[metrics]
steps = 4
[output]
file = bad.h5
overlays = 2
[run]
device = cpu
EOF

out=$tmp/bad.h5
# bounded: a reader blocked on the FIFO would otherwise hang the test
timeout 300 "$bin" --config "$tmp/bad.ini" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "run completes with exit 0 (rc $rc): $(tail -n 2 "$tmp/stderr")" [ $rc -eq 0 ]
check "output written" [ -f "$out" ]
[ -f "$out" ] || finish

# statuses, one a line, in list order
# (h5dump -w 0 prints them on one line: "a", "b", ...)
mapfile -t status < <(h5dump -y -w 0 -d /images/status "$out" | sed -n '/DATA {/,/^ *}/p' | sed '1d;$d' |
    sed 's/^ *"//; s/" *$//' | awk 'BEGIN { RS = "\", \"" } { sub(/\n$/, ""); print }')
check "14 statuses (${#status[@]})" [ "${#status[@]}" -eq 14 ]
expect_status() {   # index, expected substring
    local i=$1 want=$2
    check "status of ${names[$i]}: '${status[$i]:-}' contains '$want'" grep -qF -- "$want" <<<"${status[$i]:-}"
}
expect_status 0 ok                      # CMYK
expect_status 1 "cut_in_half.jpg: Premature end of JPEG file"
expect_status 2 "empty.JPEG: not a JPEG file: empty file (0 bytes)"
expect_status 3 ok                      # grayscale
expect_status 4 ok                      # 4000 x 3000
expect_status 5 ok                      # 1 x 1
expect_status 6 "png_named_as.JPEG: not a JPEG file"
expect_status 6 "(a PNG file)"
expect_status 7 ok                      # progressive
expect_status 8 "text_named_as.JPEG: not a JPEG file"
expect_status 9 "truncated.jpg: "
expect_status 10 "does_not_exist.jpg: cannot open (No such file or directory)"
expect_status 11 "dir.jpg: not a regular file (a directory)"
expect_status 12 "fifo.jpg: not a regular file (a FIFO)"
expect_status 13 "bomb.jpg: image of 60000x60000 pixels is above the limit of 178956970 pixels"
for i in 0 3 4 5 7; do
    check "valid image ${names[$i]} has status exactly ok" [ "${status[$i]:-}" = "ok" ]
done

mapfile -t cls < <(h5vals "$out" /images/class)
mapfile -t auc < <(h5vals "$out" /methods/pcampm/insertion/auc)
mapfile -t done_ < <(h5vals "$out" /images/done)
for i in "${!names[@]}"; do
    check "${names[$i]} counted done" [ "${done_[$i]:-0}" = "1" ]
    if [ "${status[$i]:-}" = "ok" ]; then
        check "${names[$i]} has a class" [ "${cls[$i]:--1}" -ge 0 ]
        check "${names[$i]} has an AUC (${auc[$i]:-})" awk -v a="${auc[$i]:-nan}" 'BEGIN { exit !(a + 0 == a && a >= 0 && a <= 1) }'
    else
        check "skipped ${names[$i]} has class -1" [ "${cls[$i]:-0}" = "-1" ]
        check "skipped ${names[$i]} has AUC NaN (${auc[$i]:-})" grep -qi nan <<<"${auc[$i]:-}"
    fi
done
check "table counts the 5 valid images" grep -qE "^\| pcampm +\|.*\| +5 \|$" "$tmp/stdout"
check "summary line" grep -q "skipped 9 of 14 images" "$tmp/stderr"
check "summary lists a reason" grep -q "empty.JPEG: .*empty file" "$tmp/stderr"
check "summary lists the directory" grep -q "dir.jpg: .*not a regular file" "$tmp/stderr"
check "overlay of the first valid image" [ -f "$out"_overlays/cmyk_pcampm.png ]
check "no overlay of a skipped image" [ ! -f "$out"_overlays/cut_in_half_pcampm.png ]
check "nothing but progress and summary on stderr" [ "$(grep -vcE '^(polycam-eval |cost: |progress: |done: |skipped |  |results written|table written)' "$tmp/stderr")" -eq 0 ]
finish
