"""The layout promises of docs/service.md (Module map), held: small modules, and head kinds owned by
the registry in model/heads/ rather than branched on by name anywhere else in the code."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SERVICE = ROOT / "service"
MAX_LINES = 300
# Where kinds are defined: the registry itself.
KINDS_LIVE_IN = ROOT / "model" / "heads"


def modules() -> list[Path]:
    return sorted(SERVICE.rglob("*.py"))


def test_no_module_under_service_is_over_300_lines():
    long = {str(p.relative_to(SERVICE)): n for p in modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_code_outside_the_registry_branches_on_a_head_kind_name():
    kind_test = re.compile(r"""\bkind\s*(==|!=|in)\s*[(\[{]?["'](span|tagging|classification|generative)["']|SPAN_KINDS""")
    code = [p for package in ("model", "training", "service", "loadtests") for p in sorted((ROOT / package).rglob("*.py"))
            if KINDS_LIVE_IN not in p.parents]
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in code
             for i, line in enumerate(p.read_text().splitlines(), 1) if kind_test.search(line)]
    assert found == []
