#!/usr/bin/env bash
# Clears a stale Snakemake lock before `make reproduce`: a run killed with kill -9 (or a lost SLURM
# allocation) leaves .snakemake/locks behind and Snakemake then refuses to start until `--unlock`.
# The lock is removed only when no Snakemake process runs in this directory; the script says what it did.
set -euo pipefail
locks=.snakemake/locks
shopt -s nullglob
files=("$locks"/*)
if [ ${#files[@]} -eq 0 ]; then
    exit 0
fi
here=$(pwd -P)
for pid in $(pgrep -f snakemake || true); do
    if [ "$(readlink "/proc/$pid/cwd" 2>/dev/null || true)" = "$here" ]; then
        echo "Snakemake lock in $here is held by running process $pid; leaving it (wait for that run or stop it)" >&2
        exit 0
    fi
done
rm -f -- "${files[@]}"
echo "Cleared a stale Snakemake lock (${#files[@]} file(s) in $locks): no Snakemake process runs in $here"
