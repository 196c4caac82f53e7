"""Screenshot the inspector on a running service: the first of the checkpoint's examples of a task
whose answer carries an explanation with argument spans (the README's picture).

    .venv/bin/python scripts/inspector_screenshot.py --url http://127.0.0.1:8000 \
        --task drop_number --out docs/img/inspector-numeric.png

Needs Debian chromium (scripts/test-deps.sh) and playwright (the dev extras).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--task", default="drop_number")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).is_file():
        print(f"error: {CHROMIUM} not found: apt-get install -y chromium (or bash scripts/test-deps.sh)", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": 900})
        page.goto(f"{args.url}/inspect")
        page.wait_for_selector("body[data-ready=true]", timeout=60_000)
        options = page.locator("#example option", has_text=f"{args.task}:")
        if options.count() == 0:
            print(f"error: the checkpoint offers no example of task {args.task!r} (GET /v1/examples)", file=sys.stderr)
            return 1
        # The first example whose explanation holds (an expression); else the first with any argument spans.
        chosen = None
        for i in range(options.count()):
            value = options.nth(i).get_attribute("value")
            show(page, value)
            if page.locator("#explanation .expr").count():
                chosen = value
                break
            if chosen is None and page.locator("#explanation .arg-link").count():
                chosen = value
        if chosen is None:
            print(f"note: no {args.task} example got an explanation with argument spans; the last one is shown", file=sys.stderr)
        elif chosen != page.input_value("#example"):
            show(page, chosen)
        if page.locator("#explanation .arg-link").count():
            page.locator("#explanation .arg-link").first.focus()  # highlights that argument's mark in the text
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=True)
        print(f"wrote {args.out}")
        browser.close()
    return 0


def show(page, value: str) -> None:
    answers = int(page.get_attribute("#inspect-out", "data-answers") or 0)
    page.select_option("#example", value)
    page.wait_for_selector(f"#inspect-out[data-answers='{answers + 1}']", timeout=60_000)


if __name__ == "__main__":
    sys.exit(main())
