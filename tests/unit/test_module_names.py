"""No module of ours may shadow a standard-library or dependency module.

Running a file by path puts its folder first on sys.path: `locust -f loadtests/locustfile.py`
puts loadtests/ there, `python scripts/x.py` puts scripts/ there, `python -m ...` the repository
root. A module in such a folder named like a module another package imports replaces it for the
whole process (a `loadtests/profile.py` broke transformers' generation code, which imports the
standard library's `profile`, and with it every locust run).
"""
from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUR_DISTRIBUTION = "whats-in-your-head"
FOLDERS_PUT_ON_SYS_PATH = (".", "loadtests", "scripts", "scripts/gpu")


def _module_names(folder: Path) -> set[str]:
    names = {p.stem for p in folder.glob("*.py") if p.stem not in ("__init__", "__main__", "conftest")}
    return names | {p.name for p in folder.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}


def _taken_names() -> dict[str, str]:
    """Module name -> who owns it: the standard library or an installed distribution (not ours)."""
    taken = {name: "the standard library" for name in sys.stdlib_module_names}
    for module, owners in importlib.metadata.packages_distributions().items():
        others = [o for o in owners if o != OUR_DISTRIBUTION]
        if others and not module.startswith("_"):
            taken[module] = f"the installed package {others[0]}"
    return taken


def test_no_module_in_a_folder_that_lands_on_sys_path_shadows_another_module() -> None:
    taken = _taken_names()
    clashes = [f"{folder}/{name}: the name of a module of {taken[name]}"
               for folder in FOLDERS_PUT_ON_SYS_PATH for name in sorted(_module_names(ROOT / folder)) if name in taken]
    assert clashes == [], "rename these modules: " + "; ".join(clashes)


def test_the_check_sees_a_clash_where_there_is_one(tmp_path: Path) -> None:
    (tmp_path / "profile.py").write_text("")
    (tmp_path / "mine.py").write_text("")
    assert _module_names(tmp_path) & set(_taken_names()) == {"profile"}
