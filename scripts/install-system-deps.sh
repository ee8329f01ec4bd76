#!/usr/bin/env bash
# Installs the optional system tools with Debian's packages: chromium (the report is checked in a real
# browser), a LaTeX engine (paper/build/main.pdf) and SLURM (the rehearsal's one-node cluster). Without root or apt-get it says what is missing
# and carries on: the workflow still writes the HTML report and the .tex sources.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v pdflatex >/dev/null 2>&1 || need+=(texlive-latex-base texlive-latex-recommended texlive-fonts-recommended)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
# A one-node SLURM cluster with accounting, for the offline rehearsal of the real-model path
# (tests/workflow/test_rehearsal.py, make rehearsal; started by scripts/slurm-cluster.sh).
command -v slurmctld >/dev/null 2>&1 || need+=(slurmctld)
command -v slurmd >/dev/null 2>&1 || need+=(slurmd)
command -v sbatch >/dev/null 2>&1 || need+=(slurm-client)
command -v munged >/dev/null 2>&1 || need+=(munge)
command -v slurmdbd >/dev/null 2>&1 || need+=(slurmdbd)
command -v mariadbd >/dev/null 2>&1 || need+=(mariadb-server)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: not root or no apt-get; missing: ${need[*]} (report browser check, PDF build and SLURM rehearsal are skipped)" >&2
  exit 0
fi
echo "system-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
  || echo "system-deps: apt-get failed; report browser check, PDF build and SLURM rehearsal will be skipped" >&2
exit 0
