"""Each task's metric: EM/F1 for spans, set EM/F1 for multi-span, exact match for numbers,
accuracy for classification, ROUGE-L for summaries (rouge-score)."""
from __future__ import annotations

import re
import string
from collections import Counter
from functools import lru_cache
from typing import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def number_match(prediction: str, gold: str) -> float:
    """Numbers compare by value ("7", "7.0", "7 ") and not by spelling."""
    def parse(s: str) -> float | None:
        s = s.replace(",", "").replace(" ", "")
        try:
            return float(s)
        except ValueError:
            return None
    p, g = parse(prediction), parse(gold)
    return float(p is not None and p == g) if g is not None else exact_match(prediction, gold)


def span_set_scores(predicted: Sequence[str], gold: Sequence[str]) -> tuple[float, float]:
    """(exact set match, F1 over aligned spans) for multi-span answers, DROP-style: each gold span
    is matched to its best predicted span by token F1."""
    pred = {normalize_answer(p) for p in predicted if normalize_answer(p)}
    ref = {normalize_answer(g) for g in gold if normalize_answer(g)}
    em = float(pred == ref)
    if not pred or not ref:
        return em, float(pred == ref)
    precision = sum(max(token_f1(p, g) for g in ref) for p in pred) / len(pred)
    recall = sum(max(token_f1(p, g) for p in pred) for g in ref) / len(ref)
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return em, f1


@lru_cache(maxsize=1)
def _rouge():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(prediction: str, reference: str) -> float:
    return float(_rouge().score(reference, prediction)["rougeL"].fmeasure)


def mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0
