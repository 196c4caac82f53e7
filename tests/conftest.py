from __future__ import annotations

from tests.hostile import summary_lines


def pytest_terminal_summary(terminalreporter) -> None:
    lines = summary_lines()
    if lines:
        terminalreporter.section("hostile inputs tried")
        for line in lines:
            terminalreporter.write_line(line)
