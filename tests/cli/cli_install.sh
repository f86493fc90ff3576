#!/usr/bin/env bash
# cli_install.sh: `cmake --install <build> --prefix P` into a temporary prefix, then the installed
# program run from an unrelated folder: `--config demo.ini` (a bare name) must find
# P/share/polycam-eval/configs/demo.ini, say so in one line, and run the demo's first image with
# the installed image lists, labels, classes and model (the shipped configs' relative paths must
# resolve inside the prefix). Also: a config of that name in the current folder wins, an unknown
# name lists the folders searched, the prefix still works after being moved, the build-tree
# program finds the source tree's configs, and the Slurm scripts (scripts/slurm/, when present)
# and the module file are installed.
# Usage: bash cli_install.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump

build=$(dirname "$bin")
prefix=$tmp/prefix
share=$prefix/share/polycam-eval
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1
rc=$?
check "cmake --install exits 0 (rc $rc): $(tail -n 2 "$tmp/install.log")" [ $rc -eq 0 ]
check "bin/polycam-eval installed and executable" [ -x "$prefix/bin/polycam-eval" ]
for f in "$src"/configs/*.ini; do
    check "config $(basename "$f") installed" [ -f "$share/configs/$(basename "$f")" ]
done
for f in demo_list.txt ilsvrc2012_val_2000.txt ilsvrc2012_val_labels.txt imagenet_classes.txt \
         synthetic/classes.txt synthetic/labels.txt models/synth_resnet.safetensors paper_tables.csv \
         authors_top1_vgg16.csv authors_top1_resnet50.csv; do
    check "data/$f installed" [ -f "$share/data/$f" ]
done
for f in README.md docs/SPEC.md docs/BASELINES.md docs/usage.md docs/configuration.md docs/output.md docs/report.md; do
    check "$f installed (the documentation README links to)" [ -f "$share/$f" ]
done
check "installed configs write to the current folder, not into the prefix" \
    bash -c "! awk '/^\\[/ { out = \$0 == \"[output]\" } out && /^file *= *[^ ]/' '$share'/configs/*.ini | grep -q ."
check "module file prepends P/bin to PATH" \
    grep -qx "prepend-path PATH $prefix/bin" "$prefix/share/modulefiles/polycam-eval/"*
if [ -d "$src/scripts/slurm" ]; then
    for f in $(cd "$src/scripts/slurm" && find . -type f); do
        check "scripts/slurm/$f installed" [ -f "$share/slurm/$f" ]
        if [ -x "$src/scripts/slurm/$f" ]; then
            check "scripts/slurm/$f stays executable" [ -x "$share/slurm/$f" ]
        fi
    done
    # The installed scripts find the installed program (common.sh looks at ../../../bin).
    check "installed slurm scripts find bin/polycam-eval" \
        [ "$(PATH=/usr/bin:/bin POLYCAM_EVAL= bash -c "source '$share/slurm/common.sh' && pc_find_bin")" = "$prefix/bin/polycam-eval" ]
    check "multi_gpu.sh installed beside them" [ -x "$share/multi_gpu.sh" ]
fi

# Every relative path of every installed config resolves inside the prefix.
for ini in "$share"/configs/*.ini; do
    while read -r key rel; do
        check "$(basename "$ini"): $key = $rel exists in the prefix" [ -e "$share/configs/$rel" ]
    done < <(sed -n 's/^\([a-z_]*\) *= *\(\.\.\/[^ ;]*\).*/\1 \2/p' "$ini")
done

# ---- the installed program from an unrelated folder ---------------------------------------------
work=$tmp/elsewhere
mkdir -p "$work"
touch "$tmp/marker"
(cd "$work" && "$prefix/bin/polycam-eval" --config demo.ini --limit 1 --set run.device=cpu \
    --set output.file=out/demo.h5 --set output.overlays=0 >"$tmp/run.out" 2>"$tmp/run.err")
rc=$?
check "installed demo.ini run exits 0 (rc $rc): $(tail -n 2 "$tmp/run.err")" [ $rc -eq 0 ]
check "one line says where the config was found" \
    [ "$(grep -c "using the shipped configuration $share/configs/demo.ini" "$tmp/run.err")" -eq 1 ]
check "output written where --set said (relative to the current folder)" [ -f "$work/out/demo.h5" ]
check "one image done" [ "$(h5attr "$work/out/demo.h5" n_done | tr -d ' ')" = "1" ]
check "its status is ok" grep -q '"ok"' <<<"$(h5dump -y -d /images/status "$work/out/demo.h5")"
check "the table is printed" grep -q "^| pcampm " "$tmp/run.out"
# The installed --report finds the installed paper tables (forced: the demo model is synthetic).
(cd "$work" && "$prefix/bin/polycam-eval" --report rep out/demo.h5 --set report.paper=yes >/dev/null 2>"$tmp/rep.err")
check "installed --report finds data/paper_tables.csv: $(tail -n 1 "$tmp/rep.err")" \
    grep -q '^Paper values for synth_resnet: forced' "$work/rep/report.md"
check "nothing written into the prefix" [ -z "$(find "$prefix" -newer "$tmp/marker" -type f)" ]

# A demo.ini in the current folder wins over the shipped one.
printf '[model]\narch = not_an_arch\n' >"$work/demo.ini"
(cd "$work" && "$prefix/bin/polycam-eval" --config demo.ini >/dev/null 2>"$tmp/local.err")
check "a local demo.ini is read first: $(cat "$tmp/local.err")" grep -q "^polycam-eval: demo.ini:2: " "$tmp/local.err"
check "no shipped-config line for a local file" bash -c "! grep -q 'shipped' '$tmp/local.err'"
rm "$work/demo.ini"

# An unknown name: exit 1, the folders searched.
(cd "$work" && "$prefix/bin/polycam-eval" --config nothere.ini >/dev/null 2>"$tmp/none.err")
rc=$?
check "unknown config: exit 1 (rc $rc)" [ $rc -eq 1 ]
check "unknown config: one line listing the shipped folder: $(cat "$tmp/none.err")" \
    bash -c "[ \$(wc -l <'$tmp/none.err') -eq 1 ] && grep -qF '$share/configs' '$tmp/none.err'"

# The prefix moved as a whole still finds its configs (the lookup is relative to the program);
# `--config table1_vgg16` without .ini too. A bad --set stops the run right after the lookup.
mv "$prefix" "$tmp/moved"
(cd "$work" && "$tmp/moved/bin/polycam-eval" --config table1_vgg16 --set run.device=bogus >/dev/null 2>"$tmp/moved.err")
check "moved prefix: table1_vgg16 found in the moved share folder: $(head -n 1 "$tmp/moved.err")" \
    grep -q "using the shipped configuration $tmp/moved/share/polycam-eval/configs/table1_vgg16.ini" "$tmp/moved.err"

# The build-tree program finds the source tree's configs.
(cd "$work" && "$bin" --config table1_resnet50.ini --set run.device=bogus >/dev/null 2>"$tmp/build.err")
check "build-tree program: table1_resnet50.ini from the source tree: $(head -n 1 "$tmp/build.err")" \
    grep -q "using the shipped configuration $(cd "$src" && pwd -P)/configs/table1_resnet50.ini" "$tmp/build.err"

# The two commands of the paper by bare name, from the build tree and from the (moved) prefix:
# --check costs them before the weights are needed, then says the weights are not set; the
# reference classes they name are installed beside them.
for f in authors_top1_vgg16.csv authors_top1_resnet50.csv; do
    check "data/$f installed, byte for byte" cmp -s "$src/data/$f" "$tmp/moved/share/polycam-eval/data/$f"
done
for pair in vgg16_2000:55222 resnet50_2000:137910; do
    ini=${pair%%:*} passes=${pair##*:}
    for prog in "$bin" "$tmp/moved/bin/polycam-eval"; do
        where=$([ "$prog" = "$bin" ] && echo "$(cd "$src" && pwd -P)/configs" || echo "$tmp/moved/share/polycam-eval/configs")
        (cd "$work" && "$prog" --config "$ini.ini" --check --set "data.root=$work" >/dev/null 2>"$tmp/paper.err")
        rc=$?
        check "$ini.ini by bare name ($where): exit 1, no weights yet (rc $rc)" [ $rc -eq 1 ]
        check "... found there: $(head -n 1 "$tmp/paper.err")" \
            grep -q "^polycam-eval: using the shipped configuration $where/$ini.ini " <(sed -n 1p "$tmp/paper.err")
        check "... its pass count first" grep -q "^cost: about $passes forward passes per image" <(sed -n 2p "$tmp/paper.err")
        check "... its projected GPU time" grep -q "^projected GPU time (not measured" <(sed -n 3p "$tmp/paper.err")
        check "... then the missing weights" grep -q "\[model\] weights is not set" <(tail -n 1 "$tmp/paper.err")
    done
done
finish
