#!/usr/bin/env bash
# Best effort: make headless Chromium available for the dashboard browser test.
# Installs Debian's `chromium` with apt-get when it is missing and we run as root. Never fails
# the build by itself: without a browser the browser test is skipped with its reason.
set -u
for candidate in chromium chromium-browser google-chrome; do
  if command -v "$candidate" >/dev/null 2>&1; then
    exit 0
  fi
done
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: no Chromium and cannot install it (need root and apt-get);" \
       "the dashboard browser test will be skipped" >&2
  exit 0
fi
echo "ensure-chromium: installing Debian chromium (apt-get)" >&2
if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2; then
  echo "ensure-chromium: installing chromium failed; the browser test will be skipped" >&2
fi
exit 0
