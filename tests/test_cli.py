"""CLI conventions (`mobigen.cli`, `mobigen.commands._common`): --version, --json PATH with '-', exit
statuses (2 user error, 1 bug, --debug traceback), progress bars off without a terminal, choices,
defaults in help, logging through tqdm, a cheap --help."""

from __future__ import annotations

import argparse
import io
import json
import logging
import subprocess
import sys
from importlib.metadata import version

import pytest

from mobigen import cli
from mobigen.cli import main
from mobigen.commands import _common
from mobigen.errors import UserError

CHEAP = ["bench", "controllers", "--slots", "3", "--controllers", "random"]
"""A real command that runs in about a second (the random controller and exact on 3 held-out slots)."""


def _run(argv: list[str], *, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ, **(extra_env or {}))
    return subprocess.run([sys.executable, "-m", "mobigen.cli", *argv], capture_output=True, text=True, env=env,
                          timeout=120)


def test_version_comes_from_package_metadata():
    p = _run(["--version"])
    assert p.returncode == 0
    assert p.stdout.strip() == f"mobigen {version('mobigen')}"


def test_help_imports_no_torch_and_every_subcommand_help_builds():
    code = ("import sys, contextlib, io\n"
            "from mobigen.cli import build_parser\n"
            "p = build_parser()\n"
            "p.format_help()\n"
            "assert 'torch' not in sys.modules, 'mobigen --help imported torch'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    for name in cli.COMMANDS:
        with pytest.raises(SystemExit) as ex:
            main([name, "--help"])
        assert ex.value.code == 0


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "controllers", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "held-out slots (default: 1000)" in out
    assert "seed of the random controller (default: 0)" in out  # a zero default is shown too
    assert "--json PATH" in out and "'-' for stdout" in out
    assert "--no-progress" in out


def test_json_dash_writes_json_to_stdout_and_the_table_to_stderr(capsys):
    assert main([*CHEAP, "--json", "-"]) == 0
    cap = capsys.readouterr()
    data = json.loads(cap.out)  # stdout is exactly one JSON document
    assert data["slots"] == 3 and [c["controller"] for c in data["controllers"]] == ["random", "exact"]
    assert "controller" in cap.err and "reward" in cap.err  # the human table went to stderr
    assert "\r" not in cap.err  # stderr is not a terminal here: no progress bar was drawn


def test_json_path_writes_a_file_and_keeps_the_table_on_stdout(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main([*CHEAP, "--json", str(out)]) == 0
    assert json.loads(out.read_text())["slots"] == 3
    assert "reward" in capsys.readouterr().out


def test_json_path_refused_before_any_work(tmp_path, capsys):
    assert main([*CHEAP, "--json", str(tmp_path / "no-such-folder" / "x.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--json" in err and "does not exist" in err and "\n" not in err


def test_write_json_helper(tmp_path, capsys):
    _common.write_json({"a": 1}, "-")
    assert json.loads(capsys.readouterr().out) == {"a": 1}
    _common.write_json({"a": 2}, None)
    assert capsys.readouterr().out == ""
    _common.write_json({"b": [1, 2]}, str(tmp_path / "x.json"))
    assert json.loads((tmp_path / "x.json").read_text()) == {"b": [1, 2]}
    with pytest.raises(UserError, match="--json: .* is a folder"):
        _common.write_json({}, str(tmp_path))


def test_user_error_exits_2_in_one_line(capsys):
    assert main(["bench", "controllers", "--slots", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "mobigen bench controllers: error: --slots must be >= 1, got 0"


def _broken(exc: BaseException):
    def run(args: argparse.Namespace) -> int:
        raise exc

    return run


def test_a_bug_exits_1_with_one_line_and_no_traceback(monkeypatch, capsys):
    import mobigen.commands.demo as demo

    monkeypatch.setattr(demo, "run", _broken(KeyError("rows")))
    assert main(["demo", "--out", "unused"]) == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "\n" not in err
    assert "internal error" in err and "KeyError" in err and "re-run with --debug for the traceback" in err


def test_a_plain_value_error_from_the_computation_is_a_bug_not_a_user_error(monkeypatch, capsys):
    import mobigen.commands.demo as demo

    monkeypatch.setattr(demo, "run", _broken(ValueError("shapes (3,) and (4,) not aligned")))
    assert main(["demo", "--out", "unused"]) == 1
    assert "internal error" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(monkeypatch, capsys, where):
    import mobigen.commands.demo as demo

    monkeypatch.setattr(demo, "run", _broken(KeyError("rows")))
    argv = ["--debug", "demo", "--out", "unused"] if where == "before" else ["demo", "--out", "unused", "--debug"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "KeyError: 'rows'" in err
    assert "re-run with --debug" not in err


def test_user_errors_wrapper_marks_validation_only():
    with pytest.raises(UserError, match="^--x: bad$"):
        with _common.user_errors():
            raise ValueError("--x: bad")
    with pytest.raises(UserError, match="No such file or directory: 'nope.csv'"):
        with _common.user_errors():
            open("nope.csv")  # noqa: SIM115
    with pytest.raises(KeyError):  # not a validation error: left alone
        with _common.user_errors():
            raise KeyError("k")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_off_when_stderr_is_not_a_terminal(monkeypatch):
    on, off = argparse.Namespace(no_progress=False), argparse.Namespace(no_progress=True)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not _common.progress_enabled(on)
    monkeypatch.setattr(sys, "stderr", _Tty())
    assert _common.progress_enabled(on)
    assert not _common.progress_enabled(off)
    assert _common.progress_enabled(argparse.Namespace())  # a command without the flag: the terminal decides
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not _common.progress_enabled(argparse.Namespace())


@pytest.mark.parametrize("argv", [
    ["vce", "--image", "x.png", "--prompt", "p", "--omega", "0.5", "--qoe", "0.5", "--codec", "gif"],
    ["vce", "--image", "x.png", "--prompt", "p", "--omega", "0.5", "--qoe", "0.5", "--condition", "sketch"],
    ["serve", "--controller", "dqn"],
    ["bench", "split", "--family", "sd9"],
    ["profile", "--out", "x.csv", "--codecs", "bmp"],
])
def test_choices_are_refused_cleanly(capsys, argv):
    with pytest.raises(SystemExit) as ex:
        main(argv)
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and "Traceback" not in err


def test_choice_tuples_match_the_library():
    from mobigen.conditions.codec import CODECS
    from mobigen.control.registry import NAMES
    from mobigen.generation.components import FAMILIES
    from mobigen.generation.denoise import SPLITTABLE_SCHEDULERS
    from mobigen.generation.wire import LATENT_MODES
    from mobigen.scenario import CONDITIONS

    assert _common.CONDITIONS == CONDITIONS
    assert _common.CODECS == CODECS
    assert _common.CONTROLLERS == NAMES
    assert _common.FAMILIES == FAMILIES
    assert _common.SCHEDULERS == SPLITTABLE_SCHEDULERS
    assert _common.LATENT_MODES == LATENT_MODES


def test_logging_goes_through_tqdm_write(monkeypatch):
    from tqdm import tqdm

    written: list[str] = []
    monkeypatch.setattr(tqdm, "write", classmethod(lambda cls, s, file=None, end="\n", nolock=False: written.append(s)))
    log = logging.getLogger("mobigen.test_cli")
    handler = _common.TqdmLoggingHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("between the bars")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    assert written == ["WARNING between the bars"]


def test_configure_logging_installs_one_tqdm_handler_on_a_bare_root():
    code = ("import logging\n"
            "from mobigen.commands._common import TqdmLoggingHandler, configure_logging\n"
            "configure_logging(); configure_logging(verbose=True)\n"
            "root = logging.getLogger()\n"
            "assert [type(h) for h in root.handlers] == [TqdmLoggingHandler], root.handlers\n"
            "assert root.level == logging.DEBUG\n"
            "logging.getLogger('x').info('hello from a log')\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "INFO x: hello from a log" in p.stderr


def test_train_json_summary_and_no_bars_without_a_terminal(tmp_path, capsys):
    import torch

    n = torch.get_num_threads()
    try:
        rc = main(["train", "ddc-flat", "--scenario", "users-3", "--steps", "40", "--eval-every", "40", "--eval-slots", "3",
                   "--out", str(tmp_path / "run"), "--no-tensorboard", "--json", "-"])
    finally:
        torch.set_num_threads(n)
    assert rc == 0
    cap = capsys.readouterr()
    summary = json.loads(cap.out)
    assert summary["algo"] == "ddc" and summary["steps"] == 40
    assert summary["reward_vs_exact"] == pytest.approx(summary["final_reward"] / summary["exact_reward"])
    assert (tmp_path / "run" / "ddc_seed0.pt").is_file() and summary["checkpoint"].endswith("ddc_seed0.pt")
    assert "held-out reward" in cap.err and "\r" not in cap.err  # the text on stderr, no progress bar
