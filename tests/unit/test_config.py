"""A bad training config fails before any training, naming the key and the valid values."""
from __future__ import annotations

import pytest
import yaml

from training.config import ConfigError, PRESETS, load_config


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_loads(preset):
    config = load_config(preset=preset)
    assert set(config.tasks.values()) <= {h.name for h in config.heads}


@pytest.mark.parametrize("setting", ["numeric", "multihop", "qa_summary"])
def test_the_per_setting_research_configs_load_and_train_only_their_setting(setting):
    config = load_config(load_config.__globals__["PRESETS_DIR"] / "paper" / f"{setting}.yaml")
    assert list(config.data.synthetic) == [setting]
    assert set(config.tasks.values()) <= {h.name for h in config.heads}
    assert all(set(h.tasks) <= set(config.tasks) for h in config.heads)


def _write(tmp_path, mutate):
    raw = yaml.safe_load(open(load_config.__globals__["PRESETS_DIR"] / "tiny.yaml"))
    mutate(raw)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r["heads"][0].update(kind="spn"), r"heads\.0\.kind: unknown head kind 'spn'; valid kinds: \['classification', 'generative', 'span', 'tagging'\]"),
    (lambda r: r["heads"][1].update(tasks=["drop_spam"]), r"heads\.1\.tasks: unknown tasks \['drop_spam'\]; valid tasks: \["),
    (lambda r: r["tasks"].update(squad="nohead"), r"tasks\.squad: unknown head 'nohead'; heads in this config: \['span'"),
    (lambda r: r["optim"].update(stepz=3), r"optim\.stepz: unknown field; remove it or check its spelling"),
    (lambda r: r["data"]["synthetic"].update(maths=10), r"unknown settings \['maths'\]; valid settings: \['numeric', 'multihop', 'qa_summary'\]"),
    (lambda r: r["tasks"].update(summarize="span"), r"tasks\.summarize: its target head 'span' does not train on 'summarize'"),
    (lambda r: r["backbone"]["tiny"].update(hidden_size=30, num_attention_heads=4), r"hidden_size 30 must be divisible by num_attention_heads 4"),
])
def test_bad_configs_name_the_key_and_the_fix(tmp_path, mutate, message):
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_unknown_preset_and_missing_file():
    with pytest.raises(ConfigError, match=r"unknown preset 'huge'; valid presets: \['default', 'quick', 'real', 'tiny', 'tiny_linear'\]"):
        load_config(preset="huge")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/nonexistent/config.yaml")


def test_dotted_overrides_apply():
    config = load_config(preset="tiny", overrides={"optim.steps": 7, "data.synthetic.numeric": 5})
    assert config.optim.steps == 7 and config.data.synthetic["numeric"] == 5
