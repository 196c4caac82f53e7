"""Each task's metric on held-out examples, predicted by the task's target head."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from model.example import Example
from training.data.loading import task_of
from training.metrics import drop_scores, mean, number_match, rouge_l, squad_scores
from model import MultiTaskModel, encode
from model.routing import RouteHeads, route_number, routed_answer

# The metric that ranks checkpoints, per task.
PRIMARY_METRIC = {
    "drop_number": "em",
    "drop_span": "em",
    "drop_spans": "em",
    "hotpot_yesno": "accuracy",
    "hotpot_span": "em",
    "squad": "em",
    "summarize": "rouge_l",
}


def primary_metric(eval_set: str) -> str:
    """The ranking metric of an evaluation set, by its task ("squad@dev-v1.1" -> "em")."""
    return PRIMARY_METRIC[task_of(eval_set)]


def score_prediction(example: Example, prediction: dict[str, Any]) -> dict[str, float]:
    """Metrics of one target-head prediction against the example's answer."""
    text = prediction.get("text", prediction.get("label", ""))
    kind = example.answer_type
    if kind == "number":
        return {"em": number_match(text, example.answer)}
    if kind in ("yes", "no"):
        return {"accuracy": float(prediction.get("label", text) == kind)}
    if kind == "summary":
        return {"rouge_l": rouge_l(text, example.answer)}
    if example.task.startswith("drop_"):  # DROP's official EM/F1, over every gold answer a reader kept
        predicted = [s["text"] for s in prediction["spans"]] if "spans" in prediction else [text]
        golds = example.extra.get("answers") or [[s.text for s in example.answer_spans] or [example.answer]]
        em, f1 = drop_scores(predicted, golds)
        return {"em": em, "f1": f1}
    # SQuAD v1.1's official EM/F1, the maximum over every gold answer a reader kept
    golds = [g for g in example.extra.get("answers") or [] if isinstance(g, str)] or [example.answer]
    em, f1 = squad_scores(text, golds)
    return {"em": em, "f1": f1}


def _routed_scores(example: Example, outputs: dict[str, dict[str, Any]], heads: RouteHeads) -> dict[str, float]:
    route = route_number(heads, outputs[heads.classifier], outputs[heads.span])
    scores = score_prediction(example, {"text": routed_answer(route, outputs)})
    for head in (heads.decoder, heads.span):
        scores |= {f"{m}_{head}": v for m, v in score_prediction(example, outputs[head]).items()}
    return scores | {f"routed_to_{heads.span}": float(route.head == heads.span)}


def predict_examples(
    model: MultiTaskModel,
    tokenizer,
    examples: Sequence[Example],
    heads: Sequence[str],
    encoding: dict[str, int],
    batch_size: int = 32,
) -> list[dict[str, dict[str, Any]]]:
    """For each example, {head: prediction} from one backbone pass per batch."""
    return predict_texts(model, tokenizer, [e.question for e in examples], [e.context for e in examples],
                         heads, encoding, batch_size)


def predict_texts(
    model: MultiTaskModel,
    tokenizer,
    questions: Sequence[str],
    contexts: Sequence[str],
    heads: Sequence[str],
    encoding: dict[str, int],
    batch_size: int = 32,
) -> list[dict[str, dict[str, Any]]]:
    """predict_examples for raw (question, context) pairs: what the analysis uses to ask the same
    context another question, or none."""
    device = next(model.parameters()).device
    out: list[dict[str, dict[str, Any]]] = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, len(contexts), batch_size):
            qs, cs = list(questions[i : i + batch_size]), list(contexts[i : i + batch_size])
            enc = encode(tokenizer, qs, cs, **encoding).to(device)
            preds = model.predict(enc, tokenizer, heads=heads)
            out.extend({h: preds[h][j] for h in heads} for j in range(len(cs)))
    model.train(was_training)
    return out


def evaluate_model(
    model: MultiTaskModel,
    tokenizer,
    eval_sets: dict[str, list[Example]],
    tasks: dict[str, str],
    encoding: dict[str, int],
    batch_size: int = 32,
    limit: int | None = None,
    progress: bool = False,
    routes: dict[str, RouteHeads] | None = None,
) -> dict[str, Any]:
    """{task: {metric: value, "n": count}} for each task that has examples, plus "score", the mean
    of the tasks' primary metrics (what best-checkpoint keeping compares).

    A routed task (`routes`, see model.routing) is scored on the routed answer, and each head
    that can answer it is scored alone too ("em_<head>"), with the share the span head took."""
    results: dict[str, Any] = {}
    routes = routes or {}
    items = [(name, exs[:limit] if limit else exs) for name, exs in eval_sets.items() if exs and task_of(name) in tasks]
    for name, examples in tqdm(items, desc="evaluate", disable=not progress, leave=False):
        target = tasks[task_of(name)]
        route = routes.get(task_of(name))
        heads = [target] if route is None else [route.decoder, route.span, route.classifier]
        preds = predict_examples(model, tokenizer, examples, heads, encoding, batch_size)
        if route is None:
            scores = [score_prediction(ex, p[target]) for ex, p in zip(examples, preds)]
        else:
            scores = [_routed_scores(ex, p, route) for ex, p in zip(examples, preds)]
        results[name] = {m: mean([s[m] for s in scores]) for m in scores[0]} | {"n": len(examples)}
    primaries = [results[name][primary_metric(name)] for name in results]
    results["score"] = mean(primaries)
    return results


def format_table(results: dict[str, Any]) -> str:
    """The metrics as a fixed-width table a person reads in a terminal."""
    metrics = ["em", "f1", "accuracy", "rouge_l"]
    width = max([14] + [len(name) + 1 for name in results if name != "score"])
    rows = [f"{'task':<{width}}{'n':>6}" + "".join(f"{m:>10}" for m in metrics) + f"{'primary':>10}"]
    for task, vals in results.items():
        if task == "score":
            continue
        cells = "".join(f"{vals[m]:>10.3f}" if m in vals else f"{'-':>10}" for m in metrics)
        rows.append(f"{task:<{width}}{vals['n']:>6}{cells}{primary_metric(task):>10}")
        extra = {k: v for k, v in vals.items() if k not in metrics and k != "n" and not k.startswith("f1_")}
        if extra:  # a routed task: each head alone, and how often the span head answered
            rows.append(f"{'':<20}" + "  ".join(f"{k} {v:.3f}" for k, v in extra.items()))
    rows.append(f"mean of primary metrics: {results.get('score', 0.0):.3f}")
    return "\n".join(rows)
