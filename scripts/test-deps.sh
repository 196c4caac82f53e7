#!/usr/bin/env bash
# System packages the tests use beyond the venv: a real Prometheus server, which one integration
# test starts to scrape the service. Installed with apt-get where we are root; elsewhere that test
# says it is skipped and why (CI sets WIYH_REQUIRE_PROMETHEUS=1, so there it must run).
set -euo pipefail
if command -v prometheus >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[test-deps] installing prometheus (Debian package)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
else
    echo "[test-deps] prometheus is not installed and this user cannot apt-get it: the real-Prometheus test will be skipped"
fi
