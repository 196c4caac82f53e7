"""Each task's metric: the official SQuAD v1.1 and DROP EM/F1, exact match for numbers, accuracy
for classification, ROUGE-L for summaries (rouge-score).

`squad_scores` and `drop_scores` compute what the official evaluation scripts compute for one
question (SQuAD's evaluate-v1.1.py, DROP's drop_eval.py), so numbers on the real dev sets are
comparable with published ones."""
from __future__ import annotations

import re
import string
from collections import Counter
from functools import lru_cache
from typing import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
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


def _squad_f1(prediction: str, gold: str) -> float:
    # evaluate-v1.1.py: no shared token is 0, even when both sides normalise to nothing (where
    # token_f1 says 1, as SQuAD 2.0's script does for its empty "no answer").
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def squad_scores(prediction: str, golds: Sequence[str]) -> tuple[float, float]:
    """(EM, F1) of one SQuAD v1.1 prediction as the official script scores it: each the maximum
    over all the question's gold answers (annotators wrote several, and any of them counts)."""
    if not golds:
        raise ValueError("squad_scores: no gold answers given; pass every answer text of the question")
    em = max(exact_match(prediction, g) for g in golds)
    f1 = max(_squad_f1(prediction, g) for g in golds)
    return em, f1


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


# --- DROP (drop_eval.py): an answer is a bag of spans, each span a set of normalised tokens ---


def _is_number(token: str) -> bool:
    # float() as the official script uses it, so its quirks ("1e3", "nan") carry over too.
    try:
        float(token)
    except ValueError:
        return False
    return True


def _drop_token(token: str) -> str:
    token = token.lower()
    if not _is_number(token):
        token = "".join(ch for ch in token if ch not in _PUNCTUATION)
    if _is_number(token):  # "7", "7.0" and "1,000" (once its comma is gone) compare by value
        token = str(float(token))
    return " ".join(_ARTICLES.sub(" ", token).split())


def drop_normalize(span: str) -> str:
    """One span as drop_eval.py normalises it: split on spaces and hyphens, each token lower-cased,
    stripped of punctuation unless it is a number, numbers written as floats, articles removed."""
    parts = (_drop_token(t) for t in re.split(" |-", span))
    return " ".join(p for p in parts if p.strip())


def _bag_f1(predicted: frozenset[str], gold: frozenset[str]) -> float:
    common = len(predicted & gold)
    precision = common / len(predicted) if predicted else 1.0
    recall = common / len(gold) if gold else 1.0
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _numbers_agree(gold: frozenset[str], predicted: frozenset[str]) -> bool:
    """A span pair scores only if the gold span has no number or shares one with the prediction:
    "24 yards" against "17 yards" is wrong, not two-thirds right."""
    gold_numbers = {t for t in gold if _is_number(t)}
    return not gold_numbers or bool(gold_numbers & {t for t in predicted if _is_number(t)})


def best_assignment(scores: Sequence[Sequence[float]]) -> float:
    """The largest total of scores[i][j] over one-to-one pairings of rows with columns (each row
    and each column used at most once): the Hungarian method with potentials, O(n^2 m)."""
    if not scores or not scores[0]:
        return 0.0
    if len(scores) > len(scores[0]):
        scores = [list(col) for col in zip(*scores)]
    n, m = len(scores), len(scores[0])
    inf = float("inf")
    u, v = [0.0] * (n + 1), [0.0] * (m + 1)
    owner = [0] * (m + 1)  # owner[j]: the row (1-based) column j is paired with; 0 = free
    for row in range(1, n + 1):
        owner[0], col = row, 0
        slack, came_from, used = [inf] * (m + 1), [0] * (m + 1), [False] * (m + 1)
        while owner[col]:
            used[col] = True
            i, delta, nxt = owner[col], inf, 0
            for j in range(1, m + 1):
                if used[j]:
                    continue
                reduced = -scores[i - 1][j - 1] - u[i] - v[j]  # maximise = minimise the negation
                if reduced < slack[j]:
                    slack[j], came_from[j] = reduced, col
                if slack[j] < delta:
                    delta, nxt = slack[j], j
            for j in range(m + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    slack[j] -= delta
            col = nxt
        while col:  # flip the augmenting path
            prev = came_from[col]
            owner[col] = owner[prev]
            col = prev
    return sum(scores[owner[j] - 1][j - 1] for j in range(1, m + 1) if owner[j])


def _as_spans(answer: str | Sequence[str]) -> list[str]:
    return [answer] if isinstance(answer, str) else list(answer)


def span_set_scores(predicted: str | Sequence[str], gold: str | Sequence[str]) -> tuple[float, float]:
    """(EM, F1) of a predicted answer against ONE gold answer, each a span or a list of spans, as
    drop_eval.py's get_metrics computes them: EM when the normalised spans are the same set and as
    many; F1 pairs gold and predicted spans one to one so that the total token F1 is largest (a
    pair whose gold span's numbers the predicted span lacks scores 0), divides by the larger bag,
    and rounds to two decimals as the official script does."""
    pred_spans = [drop_normalize(s) for s in _as_spans(predicted)]
    gold_spans = [drop_normalize(s) for s in _as_spans(gold)]
    em = float(set(pred_spans) == set(gold_spans) and len(pred_spans) == len(gold_spans))
    size = max(len(pred_spans), len(gold_spans))
    if size == 0:
        return em, em
    pred_bags = [frozenset(s.split()) for s in pred_spans]
    gold_bags = [frozenset(s.split()) for s in gold_spans]
    scores = [[_bag_f1(p, g) if _numbers_agree(g, p) else 0.0 for p in pred_bags] for g in gold_bags]
    # np.round's arithmetic (scale, round half to even, unscale), which the official script uses
    return em, round(best_assignment(scores) / size * 100) / 100


def drop_scores(predicted: str | Sequence[str], golds: Sequence[str | Sequence[str]]) -> tuple[float, float]:
    """(EM, F1) of one DROP prediction as the official script scores it: each the maximum over the
    question's gold answers (`answer` and every `validated_answers` entry, each a span or a list of
    spans); a gold answer whose first span is blank is not counted, as there."""
    counted = [g for g in golds if _as_spans(g) and _as_spans(g)[0].strip()]
    if not counted:
        raise ValueError("drop_scores: no gold answer with text; pass `answer` and `validated_answers` as spans")
    scores = [span_set_scores(predicted, g) for g in counted]
    return max(em for em, _ in scores), max(f1 for _, f1 in scores)


@lru_cache(maxsize=1)
def _rouge():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(prediction: str, reference: str) -> float:
    return float(_rouge().score(reference, prediction)["rougeL"].fmeasure)


def mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0
