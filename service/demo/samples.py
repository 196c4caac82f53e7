"""The demo's sample requests, one per setting of the paper, and how each answer is printed."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import httpx

# One sample per setting of the paper: the task whose target head answers it, and a title.
SETTINGS = [
    ("drop_number", "numerical reasoning (MSEGenBERT, DROP-like)"),
    ("hotpot_yesno", "multi-hop yes/no (READER, HotpotQA-like)"),
    ("squad", "QA next to a summariser (READERSUM, SQuAD-like)"),
]


class SampleFailed(RuntimeError):
    """A sample request did not get a 200; the message carries the status and the body."""


def show_samples(url: str, checkpoint: Path) -> int:
    """Send one request per setting the checkpoint has a task for, print each answer; returns how
    many were answered. The samples are the held-out examples the checkpoint stores (what the
    inspector offers too): the service never generates data. Each is sent once: a service that is
    ready answers the first try."""
    from model.checkpoint import read_examples, read_manifest

    manifest = read_manifest(checkpoint)
    stored = read_examples(checkpoint, manifest)
    answered = 0
    with httpx.Client(base_url=url, timeout=60) as client:
        for task, title in SETTINGS:
            example = next((e for e in stored if e.task == task and task in manifest.tasks), None)
            if example is None:
                continue
            body = {"task": example.task, "inputs": {"question": example.question, "context": example.context}}
            r = client.post("/v1/predict", json=body)
            if r.status_code != 200:
                raise SampleFailed(f"the sample request for {task} got {r.status_code}: {r.text[:500]}")
            print_answer(title, body, r.json(), example.answer)
            answered += 1
    if not answered:
        print(f"\n{checkpoint} stores no held-out example of {[task for task, _ in SETTINGS]}: no sample sent")
    return answered


def print_answer(title: str, request: dict, answer: dict, reference: str) -> None:
    print(f"\n── {title} · task {request['task']} " + "─" * max(0, 60 - len(title) - len(request["task"])))
    print(f"question:  {request['inputs']['question']}")
    print(textwrap.fill(request["inputs"]["context"], width=100, initial_indent="context:   ", subsequent_indent="           ",
                        max_lines=4, placeholder=" …"))
    target = answer["target"]
    print(f"target     {target['head']:<12} {describe(target['kind'], target['output'])}   (reference answer: {reference!r})")
    print("non-target")
    for out in answer["non_target"]:
        print(f"           {out['head']:<12} {describe(out['kind'], out['output'])}")
    for err in answer["errors"]:
        print(f"           {err['head']:<12} did not answer: {err['kind']}: {err['message']}")
    if answer.get("route"):
        route = answer["route"]
        print(f"route:     {route['head']} answers {route['answer']!r} ({route['reason']})")
    if answer.get("explanation"):
        print(f"explanation: {describe_explanation(answer['explanation'])}")
    t = answer["timings_ms"]
    print(f"({answer['input']['windows']} window(s); {t['total']:.0f} ms in the service, backbone pass {t['backbone_forward']:.0f} ms)")


def describe_explanation(explanation: dict[str, Any]) -> str:
    spans = ", ".join(f"{a['text']!r} ({a['head']})" for a in explanation.get("arguments", [])[:4]) or "no spans"
    if explanation["kind"] == "arithmetic" and explanation.get("consistent"):
        return f"{explanation['expression']} from {spans}"
    if explanation["kind"] == "arithmetic":
        return f"no derivation: {explanation['message']}"
    if explanation["kind"] == "evidence":
        return f"evidence {spans}"
    return explanation.get("message", "")


def describe(kind: str, output: dict[str, Any]) -> str:
    """One line for a head's output, from the fields its kind's output model declares."""
    if "spans" in output:  # a set of spans (tagging)
        spans = output["spans"]
        if not spans:
            return "no spans"
        shown = ", ".join(short(s["text"], 30) for s in spans[:5])
        return f"{len(spans)} span(s): {shown}{' …' if len(spans) > 5 else ''}"
    if "start" in output and "field" in output:  # one span with its offsets
        return f"{short(output['text'])} [{output['field']} {output['start']}:{output['end']}] score {output['score']:.2f}"
    if "label" in output:  # a yes/no that compares two facts says which two
        compared = " with ".join(short(c["text"], 30) for c in output.get("compared") or [])
        return f"{output['label']} ({output['score']:.2f})" + (f", compared {compared}" if compared else "")
    if "num_tokens" in output:
        written = f" = {output['expression']}" if output.get("expression") else ""  # a number decoder's arithmetic
        return f"{short(output['text'])}{written} ({output['num_tokens']} tokens)"
    return json.dumps(output)[:100]


def short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
