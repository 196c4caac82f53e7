#!/usr/bin/env bash
# System packages the tests use beyond the venv: a real Prometheus server, which one integration
# test starts to scrape the service, and Chromium, which the inspector's browser tests drive
# through Playwright (never `playwright install`: it downloads a browser from the internet).
# Installed with apt-get where we are root; elsewhere those tests say they are skipped and why
# (CI sets WIYH_REQUIRE_PROMETHEUS=1 and WIYH_REQUIRE_CHROMIUM=1, so there they must run).
set -euo pipefail
missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[test-deps] installing ${missing[*]} (Debian packages)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "[test-deps] ${missing[*]} not installed and this user cannot apt-get them: the tests that need them will be skipped"
fi
