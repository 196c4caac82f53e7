"""The built-in training configs: each `<name>.yaml` here is a preset (`--preset <name>`)."""
from pathlib import Path

PRESETS_DIR = Path(__file__).parent
PRESETS = tuple(sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))
