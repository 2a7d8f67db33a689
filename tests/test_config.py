"""The training config's values (fitclip.config): a file's values are typed JSON, the command line's are
parsed strings; int keys take whole numbers only; `validate` bounds the keys where a slip (an extra zero)
would fail much later. No model, no data: these run in well under a second.
"""

from __future__ import annotations

import json
import re

import pytest

import fitclip.train as T
from fitclip.config import PRESETS, UPPER_BOUNDS, ConfigError, TrainConfig, config_from_dict, parse_cli, validate


def write(path, values) -> str:
    path.write_text(json.dumps(values), encoding="utf-8")
    return str(path)


def test_a_quoted_number_or_bool_in_a_file_is_refused_with_how_to_write_it(tmp_path):
    """``"lr": "1e-4"`` and ``"bf16": "yes"`` were accepted; now every such value of the file is named at once,
    with the file, the key, the value and the same value written as JSON."""
    f = write(tmp_path / "run.json", {"lr": "1e-4", "bf16": "yes", "max_steps": "10", "betas": ["0.9", "0.99"],
                                      "lam": 0.5})
    with pytest.raises(ConfigError) as e:
        parse_cli(["--config", f, "--seed", "x"])
    assert str(e.value).splitlines() == [
        f"{f}: lr='1e-4' is a string; write it as a JSON number, without quotes: 1e-4",
        f"{f}: bf16='yes' is a string; write it as a JSON bool, without quotes: true (bf16 is the older name of "
        f'precision; "precision": "bf16" or "fp32" says the same)',
        f"{f}: max_steps='10' is a string; write it as a JSON number, without quotes: 10",
        f"{f}: betas=['0.9', '0.99'] is a list of strings; write it as a JSON list, without quotes: [0.9, 0.99]",
        "seed='x' is not a valid int (e.g. 0)",  # the command line's own errors, in the same report
    ]
    # A dict built in Python is held to the same rule (the study code passes typed values).
    with pytest.raises(ConfigError, match=r"^lr='fast' is a string; write it as a JSON number, e.g. 3e-05$"):
        config_from_dict({"lr": "fast"})
    with pytest.raises(ConfigError, match=r"^bf16='yes' is a string; write it as a JSON bool, without quotes: true"):
        config_from_dict({"bf16": "yes"})


def test_the_command_line_still_parses_its_strings(tmp_path):
    """Values given as --key value are strings by nature: parsed as before, and they override the file's."""
    f = write(tmp_path / "run.json", {"lr": 3e-4, "max_steps": 1e3, "betas": [0.8, 0.9], "labeled_csv": None,
                                      "unlabeled": "folder:/videos"})
    cfg, _ = parse_cli(["--config", f])
    assert (cfg.lr, cfg.max_steps, cfg.betas, cfg.labeled_csv) == (3e-4, 1000, (0.8, 0.9), None)
    assert isinstance(cfg.max_steps, int) and cfg.unlabeled == {"name": "folder", "path": "/videos"}
    cfg, _ = parse_cli(["--config", f, "--lr", "1e-4", "--max_steps", "1e3", "--betas", "0.5,0.6", "--precision",
                        "bf16", "--val_csv", "none", "--seed", "7"])
    assert (cfg.lr, cfg.max_steps, cfg.betas, cfg.precision, cfg.val_csv, cfg.seed) == \
        (1e-4, 1000, (0.5, 0.6), "bf16", None, 7)
    # The saved config.json (typed values) is a --config that gives the same config, for every preset.
    for preset in PRESETS:
        cfg = config_from_dict({"preset": preset, "betas": (0.5, 0.6)})
        assert parse_cli(["--config", write(tmp_path / "saved.json", cfg.to_dict())])[0] == cfg
        assert config_from_dict(cfg.to_dict(), base=None) == cfg and cfg.replace(lr=1e-4).lr == 1e-4


@pytest.mark.parametrize("value, why", [(1e30, "too large to be exact"), (2.5, "not a whole number"),
                                        (float("inf"), "not a whole number"), (True, "not a valid int")])
def test_an_int_key_takes_whole_numbers_only(value, why):
    """`"max_steps": 1e30` was read as 1000000000000000019884624838656; a fraction or a bool is no int either."""
    with pytest.raises(ConfigError, match=f"^max_steps={re.escape(repr(value))} is .*{why}"):
        config_from_dict({"max_steps": value})
    if not isinstance(value, bool):
        with pytest.raises(ConfigError, match=why):
            parse_cli(["--max_steps", str(value)])


def test_validate_bounds_the_keys_where_a_slip_fails_late():
    """max_steps 1e30 / num_frames 100000 were accepted and failed (or ran for ever) after loading everything."""
    for key, most, _ in UPPER_BOUNDS:
        at_most = config_from_dict({key: most, "teacher_mode": "online"})
        validate(at_most, check_files=False)  # the bound itself is fine
        with pytest.raises(ConfigError) as e:
            validate(at_most.replace(**{key: most * 2}), check_files=False)
        assert f"{key}={getattr(at_most, key) * 2!r} is too large: at most {most:,} (" in str(e.value), str(e.value)
    # seeds must fit numpy (< 2**32) and torch
    assert [k for k, _, _ in UPPER_BOUNDS if k == "seed"] and dict((k, m) for k, m, _ in UPPER_BOUNDS)["seed"] < 2**32


def test_unlabeled_bool_options_must_be_json_bools():
    cfg = config_from_dict({"teacher_mode": "online", "unlabeled": {"name": "webvid", "exclude_labeled": "no"}})
    with pytest.raises(ConfigError, match=r"unlabeled.exclude_labeled='no' is not a JSON bool; write true or false"):
        validate(cfg, check_files=False)


def test_main_refuses_a_quoted_value_before_any_work(tmp_path, monkeypatch, capsys):
    def boom(*a, **k):
        raise AssertionError("work started")
    monkeypatch.setattr(T, "setup_distributed", boom)
    out = tmp_path / "out"
    f = write(tmp_path / "run.json", {**TrainConfig(out_dir=str(out)).to_dict(), "lr": "1e-4"})
    assert T.main(["--config", f]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"error: {f}: lr='1e-4' is a string; write it as a JSON number, without quotes: 1e-4"]
    assert not out.exists()
    # The same value on the command line is what it always was.
    assert T.main(["--config", write(tmp_path / "run.json", TrainConfig(out_dir=str(out)).to_dict()), "--lr", "1e-4",
                   "--max_steps", "100000000000"]) == 2
    err = capsys.readouterr().err
    assert "lr=" not in err and "max_steps=100000000000 is too large: at most 10,000,000" in err
    assert not out.exists()
