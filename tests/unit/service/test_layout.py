"""The layout promises of docs/service.md (Module map), held: small modules, and head kinds owned by
the registry in model/heads/ rather than branched on by name in the service."""
from __future__ import annotations

import re
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[3] / "service"
MAX_LINES = 300
# issue 12 owns the explanation logic, which still names the kinds it explains
KIND_NAMES_ALLOWED_IN = {"pipeline/explanations.py"}


def modules() -> list[Path]:
    return sorted(SERVICE.rglob("*.py"))


def test_no_module_under_service_is_over_300_lines():
    long = {str(p.relative_to(SERVICE)): n for p in modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_service_branches_on_no_head_kind_name():
    kind_test = re.compile(r"""kind.*["'](span|tagging|classification|generative)["']|SPAN_KINDS""")
    found = [f"{p.relative_to(SERVICE)}:{i}: {line.strip()}" for p in modules()
             if str(p.relative_to(SERVICE)) not in KIND_NAMES_ALLOWED_IN
             for i, line in enumerate(p.read_text().splitlines(), 1) if kind_test.search(line)]
    assert found == []
