#!/usr/bin/env bash
# check_layers.sh: checks that every #include "..." of host/ and cuda/ runs down the layers of
# host/layers.txt (a folder includes only its own headers and those of folders on lines above its
# own), that host/CMakeLists.txt links each layer only to libraries below it, and that no header
# includes itself through others (an include circle). Exit 0 when all hold, 1 otherwise, each
# violation on one line ("host/metrics/sanity.c:14: includes h5util.h of results, ...").
#   tools/check_layers.sh [--list] [ROOT]   --list: also print every cross-folder include
# CI runs it (scripts/test.sh); tests/cli/cli_layers.sh checks that it fails on an upward include.
set -euo pipefail
list=0
if [ "${1:-}" = "--list" ]; then list=1; shift; fi
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
[ -f host/layers.txt ] || { echo "check_layers: $root/host/layers.txt: not found" >&2; exit 1; }

# Every source and header with its folder (host/<folder>/... or cuda/...).
files=$( { find host -mindepth 2 -maxdepth 2 -type f \( -name '*.c' -o -name '*.h' \); \
           find cuda -maxdepth 1 -type f \( -name '*.cu' -o -name '*.cuh' -o -name '*.h' \) 2>/dev/null; } | sort)

awk -v list="$list" -v files="$files" '
function folder(path,   p) { n = split(path, p, "/"); return p[1] == "cuda" ? "cuda" : p[2] }
function base(path,   p) { n = split(path, p, "/"); return p[n] }
BEGIN {
    # layers.txt: one line per rank, bottom first
    while ((getline line < "host/layers.txt") > 0) {
        sub(/#.*/, "", line)
        if (line ~ /^[ \t]*$/) continue
        r++
        n = split(line, f, /[ \t]+/)
        for (i = 1; i <= n; i++) if (f[i] != "") rank[f[i]] = r
    }
    nf = split(files, all, "\n")
    for (i = 1; i <= nf; i++) {
        b = base(all[i])
        if (b ~ /\.(h|cuh)$/) {
            if (b in owner) { printf "%s: header name also in %s (headers must have unique names)\n", all[i], owner[b]; bad++ }
            owner[b] = all[i]
        }
        fo = folder(all[i])
        if (!(fo in rank)) { printf "%s: folder %s is not in host/layers.txt\n", all[i], fo; bad++; rank[fo] = 0 }
    }
    for (i = 1; i <= nf; i++) {
        src = all[i]; sf = folder(src); ln = 0
        while ((getline line < src) > 0) {
            ln++
            if (line !~ /^[ \t]*#[ \t]*include[ \t]*"/) continue
            inc = line; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc)
            ib = base(inc)
            if (!(ib in owner)) continue          # generated (pc_git_commit.h) or not ours
            tf = folder(owner[ib])
            if (base(src) ~ /\.(h|cuh)$/) edge[base(src)] = edge[base(src)] " " ib
            if (tf == sf) continue
            if (list) printf "%s:%d: %s -> %s (%s)\n", src, ln, sf, tf, ib
            if (rank[tf] >= rank[sf]) {
                printf "%s:%d: includes %s of %s, which is %s %s in host/layers.txt\n", src, ln, ib, tf,
                       rank[tf] == rank[sf] ? "on the same line as" : "above", sf
                bad++
            }
        }
        close(src)
    }
    # CMake: pc_layer(NAME DEPS pc_x ...) links only libraries of lower layers
    while ((getline line < "host/CMakeLists.txt") > 0) {
        cl++
        if (line !~ /^pc_layer\(/) continue
        l = line; sub(/^pc_layer\(/, "", l); sub(/\).*/, "", l)
        n = split(l, w, /[ \t]+/)
        for (i = 3; i <= n; i++) {
            d = w[i]; if (d !~ /^pc_/) continue
            d = substr(d, 4)
            if (!(d in rank)) continue
            if (rank[d] >= rank[w[1]]) { printf "host/CMakeLists.txt:%d: pc_%s links pc_%s, which is not below it\n", cl, w[1], d; bad++ }
        }
    }
    # include circles among headers (depth-first search)
    for (h in edge) if (!(h in state)) dfs(h, h)
    exit bad ? 1 : 0
}
function dfs(h, path,   k, n, e, t) {
    state[h] = 1
    n = split(edge[h], e, " ")
    for (k = 1; k <= n; k++) {
        t = e[k]; if (t == "") continue
        if (!(t in state)) dfs(t, path " -> " t)
        else if (state[t] == 1) { printf "include circle: %s -> %s\n", path, t; bad++ }
    }
    state[h] = 2
}
' /dev/null || { echo "check_layers: the includes or links above run up the layers (host/layers.txt)" >&2; exit 1; }
[ "$list" = 1 ] || echo "check_layers: every include of host/ and cuda/ runs down host/layers.txt; no include circles"
