#!/usr/bin/env bash
# cli_config_doc.sh: docs/configuration.md against the program's key table (config.c, printed by
# --help): every key of the table has its row in the documentation, under its section, and the
# documentation names no key the program does not know; where the documentation gives a literal
# default (`value`), it is the table's default. The key table stays the one source: a key added
# there without its documentation (or documented and removed) fails here.
# Usage: bash cli_config_doc.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"

doc="$src/docs/configuration.md"
check "docs/configuration.md exists" test -f "$doc"

# The program's keys: "section<TAB>key<TAB>default" from the --help listing
#   [section]
#     key = default                  meaning
"$bin" --help 2>&1 | awk '
    /^configuration keys/ { on = 1; next }
    on && /^  \[[a-z_]+( NAME)?\]/ { sec = $0; sub(/^  \[/, "", sec); sub(/\].*/, "", sec); next }
    on && /^    [a-z_0-9]+ = / {
        key = $1; def = $0; sub(/^    [a-z_0-9]+ = /, "", def); sub(/  .*/, "", def)
        if (def == "(empty)") def = ""
        printf "%s\t%s\t%s\n", sec, key, def
    }
    on && /^[^ ]/ && !/^configuration keys/ { on = 0 }' | sort >"$tmp/program"
check "the program lists its keys (--help)" test "$(wc -l <"$tmp/program")" -gt 40

# The documented keys: rows "| `key` | default | ..." under "### [section]", or "| `[section] key` |"
awk -F'|' '
    /^##+ \[/ { sec = $0; sub(/^##+ \[/, "", sec); sub(/\].*/, "", sec); next }
    /^##/ { sec = "" }
    sec != "" && /^\| `/ {
        k = $2; gsub(/^ *`|` *$/, "", k)
        s = sec
        if (k ~ /^\[[a-z_]+( NAME)?\] /) { s = k; sub(/^\[/, "", s); sub(/\].*/, "", s); sub(/^\[[a-z_]+( NAME)?\] /, "", k) }
        d = $3; gsub(/^ +| +$/, "", d)
        lit = d ~ /^`[^`]*`$/ ? substr(d, 2, length(d) - 2) : "\001"
        printf "%s\t%s\t%s\n", s, k, lit
    }' "$doc" | sort >"$tmp/doc"

cut -f1,2 "$tmp/program" | sort -u >"$tmp/pk"
cut -f1,2 "$tmp/doc" | sort -u >"$tmp/dk"
missing=$(comm -23 "$tmp/pk" "$tmp/dk" | tr '\t' '.' | tr '\n' ' ')
extra=$(comm -13 "$tmp/pk" "$tmp/dk" | tr '\t' '.' | tr '\n' ' ')
check "every key of the table is documented (missing: ${missing:-none})" test -z "$missing"
check "every documented key is in the table (unknown: ${extra:-none})" test -z "$extra"

# literal defaults agree
bad=$(join -t $'\t' <(awk -F'\t' '{print $1"."$2"\t"$3}' "$tmp/program" | sort) \
                     <(awk -F'\t' '$3 != "\001" {print $1"."$2"\t"$3}' "$tmp/doc" | sort) |
      awk -F'\t' '$2 != $3 { printf "%s (table %s, docs %s) ", $1, $2, $3 }')
check "documented defaults are the table's (${bad:-all agree})" test -z "$bad"
finish
