#!/usr/bin/env bash
# The image's default command: `serve run` of a Serve config (default $WIYH_SERVE_CONFIG, the CPU
# config), listening on every interface of the container, on the checkpoint in $WIYH_CHECKPOINT
# (default /models/wiyh/quick: mount the checkpoints directory at /models/wiyh, read-only).
#   docker run --rm -p 8000:8000 --shm-size=2g -v "$PWD/checkpoints:/models/wiyh:ro" IMAGE
#   docker run ... -e WIYH_CHECKPOINT=/models/wiyh/real IMAGE
#   docker run ... --gpus all IMAGE bash deploy/docker/serve.sh deploy/serve_config.gpu.yaml
set -euo pipefail
config=${1:-${WIYH_SERVE_CONFIG:-deploy/serve_config.yaml}}
export WIYH_CHECKPOINT=${WIYH_CHECKPOINT:-/models/wiyh/quick}
if [ ! -f "$WIYH_CHECKPOINT/manifest.json" ]; then
    echo "[serve] no checkpoint at $WIYH_CHECKPOINT (no manifest.json): mount the directory that holds it," \
        "e.g. docker run -v /abs/path/checkpoints:/models/wiyh:ro ..., or set WIYH_CHECKPOINT" >&2
    exit 2
fi
# The shipped CPU config listens on 127.0.0.1, which nothing outside the container reaches.
listening=$(mktemp --suffix .yaml)
python - "$config" "$listening" <<'PY'
import sys

import yaml

with open(sys.argv[1]) as f:
    config = yaml.safe_load(f)
config.setdefault("http_options", {})["host"] = "0.0.0.0"
with open(sys.argv[2], "w") as f:
    yaml.safe_dump(config, f, sort_keys=False)
PY
exec serve run "$listening"
