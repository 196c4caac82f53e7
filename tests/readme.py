"""The README's shell commands as a user would paste them: each ```bash block split into commands
(backslash continuations joined, a `# ...` comment after a command dropped)."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")  # "[--n 200]": an optional part, written out here


def readme_commands() -> list[str]:
    """Every command of every bash block, in order."""
    commands: list[str] = []
    for block in _BLOCK.findall(README.read_text()):
        joined = block.replace("\\\n", " ")
        pending = ""
        for line in joined.splitlines():
            pending = f"{pending}\n{line}" if pending else line
            try:
                words = shlex.split(pending, comments=True)
            except ValueError:  # an open quote: the command goes on on the next line (curl -d '{...}')
                continue
            if words:
                commands.append(pending.strip())
            pending = ""
    return commands


def words_of(command: str, optional_parts: bool = True) -> list[str]:
    """The command's words, with its optional `[...]` parts written out (or left out)."""
    text = _OPTIONAL.sub(r"\1" if optional_parts else "", command)
    return shlex.split(text, comments=True)
