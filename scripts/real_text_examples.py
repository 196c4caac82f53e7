"""A checkpoint's answers to real questions it never trained on, chosen by a rule fixed before any
answer was seen: the first question of the first paragraph of each held-out SQuAD article of the
checkpoint's `data.real_squad` block, with the gold answers and SQuAD's official EM/F1.

    .venv/bin/python scripts/real_text_examples.py --checkpoint checkpoints/real [--articles 5]

Prints a Markdown table (what the README shows)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.checkpoint import load_model  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.data.loading import real_squad_split  # noqa: E402
from training.evaluate import predict_examples  # noqa: E402
from training.metrics import squad_scores  # noqa: E402


def first_questions(config: TrainConfig, articles: int) -> list:
    """The first question of each held-out article's first paragraph, in the config's order."""
    if config.data.real_squad is None:
        raise SystemExit("this checkpoint was trained without data.real_squad: it has no held-out articles")
    _, held_out = real_squad_split(config.data.real_squad, train=False)
    first: dict[str, object] = {}
    for example in held_out:
        first.setdefault(example.extra["title"], example)
    return [first[t] for t in config.data.real_squad.held_out_articles[:articles] if t in first]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--articles", type=int, default=5, help="how many held-out articles (in the config's order)")
    args = parser.parse_args(argv)
    model, tokenizer, manifest = load_model(args.checkpoint)
    config = TrainConfig.model_validate(manifest.training["config"])
    examples = first_questions(config, args.articles)
    target = manifest.tasks["squad"]
    predictions = predict_examples(model.eval(), tokenizer, examples, [target], manifest.encoding.model_dump())
    print("| article | question | gold | answer | EM | F1 |\n|---|---|---|---|---|---|")
    for example, prediction in zip(examples, predictions):
        answer = prediction[target]["text"]
        golds = list(dict.fromkeys(example.extra["answers"]))
        em, f1 = squad_scores(answer, golds)
        print(f"| {example.extra['title']} | {example.question.strip()} | {' / '.join(golds)} | {answer} | {em:.0f} | {f1:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
