#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests and the QBR PDF, and poppler-utils
# (pdftoppm) for the QBR PDF test, when they are missing.
# Playwright drives this binary (no browser download: the network only reaches
# package registries). Without root or apt-get the browser tests skip themselves.
set -u
if command -v chromium >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian chromium and poppler-utils for the browser and PDF tests..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null) \
    || echo "warning: could not install chromium/poppler-utils; browser and PDF tests will be skipped"
else
  echo "warning: chromium or pdftoppm is not installed and cannot be installed here; browser and PDF tests will be skipped"
fi
exit 0
