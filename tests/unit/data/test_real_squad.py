"""Real SQuAD next to the synthetic settings (`data.real_squad`): split by article, so no held-out
paragraph is trained on; the official train file used when present; held-out examples evaluated
apart from the synthetic squad set, under their own name."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.config import RealSquad
from training.data.loading import by_eval_set, real_squad_split, task_of
from training.evaluate import format_table, primary_metric


def _article(title: str, questions: int) -> dict:
    context = f"{title} was founded by Ada Lovelace in 1843. It stands in Ghent."
    qas = [{"id": f"{title}-{i}", "question": f"Who founded {title}? ({i})",
            "answers": [{"text": "Ada Lovelace", "answer_start": context.index("Ada")}]} for i in range(questions)]
    return {"title": title, "paragraphs": [{"context": context, "qas": qas}]}


def _squad_file(path: Path, articles: dict[str, int]) -> Path:
    path.write_text(json.dumps({"version": "1.1", "data": [_article(t, n) for t, n in articles.items()]}))
    return path


def test_the_dev_file_alone_is_split_by_article_and_nothing_held_out_is_trained_on(tmp_path):
    _squad_file(tmp_path / "dev-v1.1.json", {"Alpha": 3, "Beta": 2, "Gamma": 4})
    train, held_out = real_squad_split(RealSquad(dir=str(tmp_path), held_out_articles=["Gamma"]))
    assert {e.extra["title"] for e in held_out} == {"Gamma"} and len(held_out) == 4
    assert {e.extra["title"] for e in train} == {"Alpha", "Beta"} and len(train) == 5
    assert not {(e.question, e.context) for e in train} & {(e.question, e.context) for e in held_out}


def test_the_official_train_file_is_used_when_it_is_there(tmp_path):
    _squad_file(tmp_path / "dev-v1.1.json", {"Alpha": 3, "Gamma": 4})
    _squad_file(tmp_path / "train-v1.1.json", {"Delta": 6})
    train, held_out = real_squad_split(RealSquad(dir=str(tmp_path), held_out_articles=["Gamma"]))
    assert {e.extra["title"] for e in train} == {"Delta"}
    assert {e.extra["title"] for e in held_out} == {"Gamma"}
    (tmp_path / "train-v1.1.json").write_text("not JSON: a held-out-only read never opens it")
    train, held_out = real_squad_split(RealSquad(dir=str(tmp_path), held_out_articles=["Gamma"]), train=False)
    assert train == [] and {e.extra["title"] for e in held_out} == {"Gamma"}


def test_an_unknown_held_out_article_is_refused_with_the_file_named(tmp_path):
    _squad_file(tmp_path / "dev-v1.1.json", {"Alpha": 1})
    with pytest.raises(ValueError, match=r"held_out_articles: \['Omega'\] are not articles of .*dev-v1\.1\.json"):
        real_squad_split(RealSquad(dir=str(tmp_path), held_out_articles=["Omega"]))


def test_a_missing_dev_file_says_which(tmp_path):
    with pytest.raises(FileNotFoundError, match="dev-v1.1.json"):
        real_squad_split(RealSquad(dir=str(tmp_path), held_out_articles=["Alpha"]))


def test_held_out_real_examples_are_an_evaluation_set_of_their_own(tmp_path, synthetic):
    _squad_file(tmp_path / "dev-v1.1.json", {"Alpha": 2, "Gamma": 3})
    _, held_out = real_squad_split(RealSquad(dir=str(tmp_path), held_out_articles=["Gamma"]))
    templates = [e for e in synthetic("qa_summary", "heldout", n=20) if e.task == "squad"]
    sets = by_eval_set(templates + held_out)
    assert set(sets) == {"squad", "squad@held-out articles"}
    assert len(sets["squad@held-out articles"]) == 3 and len(sets["squad"]) == len(templates)
    assert task_of("squad@held-out articles") == "squad" and primary_metric("squad@held-out articles") == "em"
    table = format_table({"squad@held-out articles": {"em": 0.5, "f1": 0.75, "n": 3}, "score": 0.5})
    assert "squad@held-out articles" in table and "0.750" in table


def test_evaluate_scores_a_checkpoint_on_another_configs_held_out_articles(tmp_path, capsys):
    import yaml

    from training.__main__ import main
    from training.configs import PRESETS_DIR
    from training.testing import make_random_checkpoint

    make_random_checkpoint(tmp_path / "tiny", seed=0)
    _squad_file(tmp_path / "dev-v1.1.json", {"Alpha": 2, "Gamma": 3})
    config = yaml.safe_load((PRESETS_DIR / "tiny.yaml").read_text())
    config["data"] |= {"eval_per_setting": 2, "real_squad": {"dir": str(tmp_path), "held_out_articles": ["Gamma"]}}
    (tmp_path / "real.yaml").write_text(yaml.safe_dump(config))
    assert main(["evaluate", "--checkpoint", str(tmp_path / "tiny"), "--data", str(tmp_path / "real.yaml")]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("squad@held-out articles"))
    assert row.split()[2] == "3"  # n: the held-out article's questions, scored apart from the templates
    (tmp_path / "dev-v1.1.json").unlink()
    assert main(["evaluate", "--checkpoint", str(tmp_path / "tiny"), "--data", str(tmp_path / "real.yaml")]) == 2
    assert "dev-v1.1.json" in capsys.readouterr().err
