#!/usr/bin/env bash
# Installs the optional system tools with Debian's packages: chromium (the report is checked in a real
# browser) and a LaTeX engine (paper/build/main.pdf). Without root or apt-get it says what is missing
# and carries on: the workflow still writes the HTML report and the .tex sources.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v pdflatex >/dev/null 2>&1 || need+=(texlive-latex-base texlive-latex-recommended texlive-fonts-recommended)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: not root or no apt-get; missing: ${need[*]} (report browser check and PDF build are skipped)" >&2
  exit 0
fi
echo "system-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
  || echo "system-deps: apt-get failed; report browser check and PDF build will be skipped" >&2
exit 0
