"""Answer-type routing (GenBERT): a number that stands in the passage is the span head's answer,
a computed one the decoder's; hand-made head outputs."""
from __future__ import annotations

from types import SimpleNamespace

from model.routing import RouteHeads, route_number, routed_answer, routes_for, routing_heads

HEADS = RouteHeads(classifier="answer_type", span="span", decoder="number")


def _answer_type(span: float, number: float) -> dict:
    return {"label": "span" if span > number else "number",
            "probabilities": {"number": number, "span": span, "spans": 1.0 - span - number}}


def test_an_in_passage_max_goes_to_the_span_head():
    # "Which was the longest field goal?" over "... a 52-yard field goal ... a 31-yard ..."
    outputs = {"span": {"text": "52", "field": "context", "score": 0.9}, "number": {"text": "51"}}
    route = route_number(HEADS, _answer_type(span=0.8, number=0.15), outputs["span"])
    assert route.head == "span" and route.confidence == 0.8 and "stands in the passage" in route.reason
    assert routed_answer(route, outputs) == "52"


def test_a_computed_difference_goes_to_the_decoder():
    outputs = {"span": {"text": "24", "field": "context", "score": 0.6}, "number": {"text": "7"}}
    route = route_number(HEADS, _answer_type(span=0.1, number=0.85), outputs["span"])
    assert route.head == "number" and route.confidence == 0.85 and "computed" in route.reason
    assert routed_answer(route, outputs) == "7"


def test_a_span_answer_that_is_no_number_of_the_passage_falls_back_to_the_decoder():
    for span in ({"text": "Bears", "field": "context"}, {"text": "24", "field": "question"}):
        route = route_number(HEADS, _answer_type(span=0.7, number=0.2), span)
        assert route.head == "number" and "no number of the passage" in route.reason


def _spec(name, kind, tasks, config=None):
    return SimpleNamespace(name=name, kind=kind, tasks=tasks, config=config or {})


def test_routed_tasks_are_found_from_the_heads_kinds_and_tasks():
    heads = [_spec("span", "span", ["squad", "drop_number"]),
             _spec("answer_type", "classification", ["drop_number"], {"labels": ["number", "span", "spans"]}),
             _spec("yesno", "classification", ["hotpot_yesno"], {"labels": ["yes", "no", "span"]}),
             _spec("number", "generative", ["drop_number"])]
    assert routes_for(heads, {"drop_number": "number", "squad": "span", "hotpot_yesno": "yesno"}) == {"drop_number": HEADS}
    # without a span head trained on the task, the decoder answers alone
    assert routing_heads([h for h in heads if h.name != "span"], "drop_number", "number") is None
