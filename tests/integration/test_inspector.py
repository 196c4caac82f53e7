"""The inspector page (GET /inspect) in a real browser, against the session's Serve app.

Headless Debian chromium (apt-get install -y chromium; scripts/test-deps.sh does it) driven by
Playwright from PyPI, launched with the system binary because Playwright's own browser download
needs the internet. Without chromium or playwright these tests are skipped, saying so; with
WIYH_REQUIRE_CHROMIUM=1 (`make test` sets it when CI=true) they fail instead.

A screenshot of each view is written under reports/inspect/.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import FAIL, ROOT

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LAPTOP = {"width": 1366, "height": 768}
SHOTS = ROOT / "reports" / "inspect"
WAIT_MS = 60_000  # the machine may be busy; an answer normally takes well under a second
HOSTILE_CONTEXT = ('Ann Lee wrote <script>window.__pwned = 1</script> the song in 1920 and '
                   '<img src=x onerror="window.__pwned = 2"> sold 300 copies.')


def _unavailable(reason: str):
    if os.environ.get("WIYH_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"{reason}, but WIYH_REQUIRE_CHROMIUM=1 requires the browser tests to run")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    executable = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    if executable is None:
        _unavailable("chromium is not installed (apt-get install -y chromium, or bash scripts/test-deps.sh)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, service):
    """A fresh tab on the inspector; fails the test on any console error or uncaught exception."""
    context = browser.new_context(viewport=LAPTOP)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda err: problems.append(f"uncaught: {err}"))
    tab.goto(f"{service.url}/inspect")
    tab.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    tab.problems = problems
    yield tab
    context.close()
    assert problems == [], f"the page logged errors: {problems}"


def shot(tab, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def no_sideways_scroll(tab) -> None:
    width, visible = tab.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width <= visible, f"the page is {width} px wide in a {visible} px window: it scrolls sideways"


def drawn_text(tab, selector: str) -> str:
    """The input text as drawn in a marked view (without the head labels set before each mark)."""
    return tab.eval_on_selector(selector, "el => [...el.querySelectorAll('.seg')].map(s => s.textContent).join('')")


def choose_example(tab, task: str, select: str = "#example") -> None:
    value = tab.locator(f"{select} option", has_text=f"{task}:").first.get_attribute("value")
    tab.select_option(select, value)


def wait_answers(tab, n: int) -> None:
    tab.wait_for_selector(f"#inspect-out[data-answers='{n}']", timeout=WAIT_MS)


def marks_match_their_text(tab, scope: str, passage: str, question: str) -> list[tuple[str, int, int, str]]:
    """Every listed mark's text and the text of the segments drawn for it equal the slice of the
    input at its offsets. Returns (head, start, end, field) of every mark."""
    marks = tab.eval_on_selector_all(f"{scope} .mark-item", """items => items.map(li => ({
        id: li.dataset.mark || null, head: li.dataset.head, start: +li.dataset.start, end: +li.dataset.end,
        field: li.dataset.field, text: li.querySelector('.mark-text').textContent}))""")
    segments = tab.eval_on_selector_all(f"{scope} .seg.m", "segs => segs.map(s => ({marks: s.dataset.marks.split(' '), "
                                        "text: s.textContent, inQuestion: !!s.closest('#marked-question')}))")
    found = []
    for mark in marks:
        source = passage if mark["field"] == "passage" else question
        expected = source[mark["start"]:mark["end"]]
        assert mark["text"] == expected, mark
        if mark["id"]:
            drawn = "".join(s["text"] for s in segments if mark["id"] in s["marks"] and s["inQuestion"] == (mark["field"] == "question"))
            assert drawn == expected, (mark, drawn)
        found.append((mark["head"], mark["start"], mark["end"], mark["field"]))
    return found


def api_spans(result: dict) -> set[tuple[str, int, int, str]]:
    """What the API says the span and tagging heads point at, as the page should mark it."""
    spans = set()
    for out in [result["target"], *result["non_target"]]:
        o = out["output"]
        if out["kind"] == "span":
            listed = [o, *o.get("alternatives", [])]
        elif out["kind"] == "tagging":
            listed = o["spans"]
        else:
            continue
        spans |= {(out["head"], s["start"], s["end"], "question" if s["field"] == "question" else "passage")
                  for s in listed if s["end"] > s["start"]}
    return spans


def test_the_page_loads_clean_and_offers_examples_of_the_three_settings(page, service):
    assert service.manifest.name in page.text_content("#checkpoint")
    groups = page.eval_on_selector_all("#example optgroup", "gs => gs.map(g => g.label)")
    assert len(groups) == 3 and any("numerical" in g for g in groups), groups
    unlabelled = page.evaluate("""[...document.querySelectorAll('input, select, textarea')]
        .filter(c => c.type !== 'hidden' && !c.closest('template') && !c.labels.length && !c.getAttribute('aria-label'))
        .map(c => c.id || c.className)""")
    assert unlabelled == [], f"controls without a label: {unlabelled}"
    no_sideways_scroll(page)


def test_a_numeric_sample_gives_every_head_a_panel_and_marks_the_spans_where_they_stand(page, service):
    choose_example(page, "drop_number")
    wait_answers(page, 1)
    question, passage = page.input_value("#question"), page.input_value("#passage")
    target = service.manifest.tasks["drop_number"]
    assert page.get_attribute("#target-body", "data-head") == target
    panels = set(page.eval_on_selector_all("#panels .panel", "ps => ps.map(p => p.dataset.head)"))
    assert panels == {h.name for h in service.manifest.heads} - {target}

    marks = marks_match_their_text(page, "#inspect-out", passage, question)
    with service.client() as client:  # the same input straight from the API: deterministic heads, same spans
        result = client.post("/v1/predict", json={"task": "drop_number", "inputs": {"question": question, "context": passage}}).json()
    assert set(marks) >= api_spans(result)
    for arg in (result.get("explanation") or {}).get("arguments", []):
        assert page.locator(f"#explanation .arg-link", has_text=arg["text"]).count() >= 1
    for out in [result["target"], *result["non_target"]]:  # a number decoder's arithmetic is shown
        if out["output"].get("expression"):
            assert out["output"]["expression"] in page.inner_text("#inspect-out")
    no_sideways_scroll(page)
    shot(page, "inspect")


def test_editing_the_question_requeries_and_shows_what_changed_per_head(page, service):
    choose_example(page, "drop_number")
    wait_answers(page, 1)
    first_id = page.get_attribute("#inspect-out", "data-request-id")

    # A question the fault-injected multispan head fails on: its panel shows it did not answer.
    broken = f"How many copies {FAIL}?"
    with page.expect_request(lambda r: r.url.endswith("/v1/predict") and r.post_data_json["inputs"].get("question") == broken,
                             timeout=WAIT_MS):
        page.fill("#question", broken)  # typing re-queries after a pause, without pressing Run
    wait_answers(page, 2)
    assert page.get_attribute("#inspect-out", "data-request-id") != first_id
    assert page.get_attribute("#target-body", "data-head") == service.manifest.tasks["drop_number"]
    degraded = page.locator("#panels .panel.degraded[data-head=multispan]")
    assert degraded.count() == 1 and "did not answer" in degraded.text_content()
    assert drawn_text(page, "#marked-question") == broken
    for panel in page.query_selector_all("#panels .panel:not(.degraded)"):
        assert panel.query_selector(".changes h4") is not None, panel.get_attribute("data-head")

    # Back to a plain question: the head answers again and its panel says so.
    page.fill("#question", "How many copies were sold?")
    page.keyboard.press("Enter")  # keyboard: Enter in the question runs it at once
    # predicates as functions: the page's CSP forbids evaluating strings
    page.wait_for_function("() => +document.querySelector('#inspect-out').dataset.answers >= 3", timeout=WAIT_MS)
    recovered = page.locator("#panels .panel[data-head=multispan] .changes")
    assert recovered.get_attribute("data-changed") == "true"
    assert "did not answer last time" in recovered.text_content()
    shot(page, "edit-and-compare")


def test_hostile_text_is_shown_as_text_never_run(page, service):
    question = '<b onmouseover="window.__pwned = 3">Who</b> wrote the song?'
    page.fill("#passage", HOSTILE_CONTEXT)
    page.select_option("#task", "task:squad")
    page.fill("#question", question)
    page.click("#run")
    page.wait_for_selector("#inspect-out:not([hidden])", timeout=WAIT_MS)
    page.wait_for_function("() => document.querySelector('#marked-question').textContent.includes('wrote the song')", timeout=WAIT_MS)
    assert page.evaluate("window.__pwned") is None
    assert drawn_text(page, "#marked-passage") == HOSTILE_CONTEXT
    assert drawn_text(page, "#marked-question") == question
    assert page.locator("#inspect-out img, #inspect-out script, #inspect-out b").count() == 0
    marks_match_their_text(page, "#inspect-out", HOSTILE_CONTEXT, question)
    shot(page, "hostile")


def test_steer_runs_two_questions_on_one_passage_side_by_side(page, service):
    page.click("button[data-view=steer]")
    choose_example(page, "squad", select="#steer-example")
    passage = page.input_value("#steer-passage")
    questions = ("Who founded it?", "When was it founded?")
    page.fill("#steer-q1", questions[0])
    page.fill("#steer-q2", questions[1])
    with page.expect_response(lambda r: r.url.endswith("/v1/predict/batch"), timeout=WAIT_MS) as answer:
        page.click("#steer-run")
    assert answer.value.ok and [i["inputs"]["question"] for i in answer.value.request.post_data_json["items"]] == list(questions)
    page.wait_for_selector("#steer-out:not([hidden])", timeout=WAIT_MS)
    generative = {h.name for h in service.manifest.heads if h.kind == "generative"}
    for column, question in zip(("#steer-a", "#steer-b"), questions):
        shown = set(page.eval_on_selector_all(f"{column} .summary-box", "bs => bs.map(b => b.dataset.head)"))
        assert shown == generative - {h for h in generative if page.locator(f"{column} .error", has_text=h).count()}
        marks_match_their_text(page, column, passage, question)
    compared = set(page.eval_on_selector_all("#steer-diff li", "ls => ls.map(l => l.dataset.head)"))
    assert compared, "the steer view compares no head"
    no_sideways_scroll(page)
    shot(page, "steer")


def test_the_batch_view_sends_one_batch_and_shows_a_column_per_head(page, service):
    page.click("button[data-view=batch]")
    page.click("#batch-fill")
    rows = page.locator("#batch-rows .batch-row").count()
    assert rows == len(service.manifest.tasks)
    with page.expect_response(lambda r: r.url.endswith("/v1/predict/batch"), timeout=WAIT_MS) as answer:
        page.click("#batch-run")
    assert answer.value.ok
    page.wait_for_selector("#batch-out:not([hidden])", timeout=WAIT_MS)
    body = answer.value.json()
    table = page.eval_on_selector_all("#batch-table tbody tr", """rows => rows.map(r => ({
        heads: [...r.querySelectorAll('td')].map(td => td.dataset.head),
        target: (r.querySelector('td.target-cell') || {dataset: {}}).dataset.head}))""")
    assert len(table) == rows
    heads = [h.name for h in service.manifest.heads]
    for row, result in zip(table, body["results"]):
        assert sorted(row["heads"]) == sorted(heads)
        assert row["target"] == result["target"]["head"]
    no_sideways_scroll(page)
    shot(page, "batch")


def test_examples_endpoint_matches_the_checkpoint(service):
    from model.checkpoint import read_examples

    body = httpx.get(f"{service.url}/v1/examples", timeout=30).json()
    assert {e["id"] for e in body["examples"]} == {e.id for e in read_examples(service.checkpoint) if e.task in service.manifest.tasks}


KEY = "inspector-test-key-0123456789"


@pytest.fixture
def keyed_api(service):
    """The same API and page with API keys configured: the in-process app over fake stages (no
    second Serve application), with the session checkpoint's examples."""
    import threading

    import uvicorn

    from loadtests.serving import free_port
    from service.inspector.routes import inspector_routes
    from service.pipeline.predict import Predictor
    from service.http.router import create_api
    from service.deploy.settings import Auth, Limits, Timeouts
    from tests.unit.service.fakes import FakeEngine, make_catalog

    catalog = make_catalog()
    api = create_api(Predictor(FakeEngine(catalog), catalog, Timeouts()), catalog, Limits(), auth=Auth(api_keys=[KEY]))
    api.include_router(inspector_routes(service.checkpoint, catalog))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        from tests.integration.conftest import wait_for

        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2).status_code == 200, 30, "the keyed API")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_with_api_keys_the_page_asks_for_one_and_keeps_it_in_the_tab_only(browser, keyed_api):
    context = browser.new_context(viewport=LAPTOP)
    tab = context.new_page()
    try:
        tab.goto(f"{keyed_api}/inspect")
        tab.wait_for_selector("#key-form:not([hidden])", timeout=WAIT_MS)
        assert tab.evaluate("document.activeElement.id") == "key"  # the prompt takes the focus
        tab.fill("#key", "not-the-key-at-all-000")
        tab.press("#key", "Enter")
        tab.wait_for_function("() => document.querySelector('#key-error').textContent.length > 0", timeout=WAIT_MS)
        tab.fill("#key", KEY)
        tab.press("#key", "Enter")
        tab.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
        choose_example(tab, "squad")
        wait_answers(tab, 1)
        assert tab.evaluate("[localStorage.length, sessionStorage.length, document.cookie]") == [0, 0, ""]
        tab.reload()  # not remembered beyond the page's life
        tab.wait_for_selector("#key-form:not([hidden])", timeout=WAIT_MS)
    finally:
        context.close()
