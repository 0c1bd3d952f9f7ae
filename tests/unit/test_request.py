"""The run options' table: every door (command line, experiment file, ``mfbench.run``) is made
from it and one ``validate`` checks what any door built."""

from __future__ import annotations

import inspect

import pytest

import mfbench
from mfbench.api import request
from mfbench.commands.run import build_request
from mfbench.commands.run import command as run_command
from mfbench.errors import MfbenchError
from mfbench.experiment import CONTROL_KEYS, TOP_KEYS, load_experiment
from mfbench.request import MAX_SEEDS, OPTIONS, Control, RunRequest, option, validate


def cli_request(args):
    ctx = run_command.make_context("run", list(args))
    opts = dict(ctx.params)
    return build_request(opts, set(opts), opts.pop("experiment"))


def test_every_option_reaches_every_door_it_names():
    flags = {p.name: p for p in run_command.params}
    signature = inspect.signature(mfbench.run).parameters
    for opt in OPTIONS:
        if opt.flag:
            assert opt.flag in flags[opt.name].opts, opt.name
            assert flags[opt.name].help == opt.help
        if opt.key:
            section, _, key = opt.key.rpartition(".")
            assert key in (CONTROL_KEYS if section == "control" else TOP_KEYS), opt.key
        if opt.arg:
            assert opt.arg in signature, opt.arg
        holder = Control() if opt.control else RunRequest()
        assert hasattr(holder, opt.name), f"{opt.name} is neither a RunRequest nor a Control field"


def test_defaults_agree_across_the_doors(tmp_path):
    toml = tmp_path / "empty.toml"
    toml.write_text("")
    from_cli, from_file, from_api = cli_request([]), load_experiment(toml), request()
    for opt in OPTIONS:
        expected = RunRequest().value(opt.name)
        for req in (from_cli, from_file, from_api):
            got = req.value(opt.name)
            if opt.name == "data_dir":
                continue  # MFBENCH_DATA_DIR may be set in the environment
            assert (list(got) if isinstance(got, (list, tuple)) else got) == (
                list(expected) if isinstance(expected, (list, tuple)) else expected
            ), opt.name


@pytest.mark.parametrize(
    "cli, key, api, message",
    [
        (["--repeats", "0"], "repeats = 0", {"repeats": 0}, "at least 1"),
        (["--valid", "1.5"], "[control]\nvalid = 1.5", {"valid": 1.5}, r"the validation fraction must be in \[0, 1\)"),
        (["--threads", "0"], "[control]\nthreads = 0", {"threads": 0}, "at least 1"),
        (["--timeout", "-1"], "[control]\ntimeout = -1", {"timeout": -1}, "must be more than 0 seconds"),
        (["--algos", ","], None, {"algos": []}, "give at least one algorithm"),
        (["--run-id", "../x"], 'run_id = "../x"', {"run_id": "../x"}, "a run id is a folder name"),
    ],
)
def test_validate_names_the_door_the_bad_value_came_through(tmp_path, cli, key, api, message):
    with pytest.raises(MfbenchError, match=rf"^{cli[0]} .*: {message}"):
        validate(cli_request(cli))
    if key is not None:
        toml = tmp_path / "exp.toml"
        toml.write_text(key + "\n")
        with pytest.raises(MfbenchError, match=rf"^{toml}: .* = .*: {message}"):
            validate(load_experiment(toml))
    with pytest.raises(MfbenchError, match=rf"^mfbench.run\({next(iter(api))}=.*\): {message}"):
        validate(request(**api) if "algos" not in api else request(api["algos"]))


def test_seeds_are_a_bounded_count_or_a_list():
    assert cli_request(["--seeds", "3"]).seeds == [0, 1, 2]
    assert cli_request(["--seeds", "1,5,7"]).seeds == [1, 5, 7]
    assert request(seeds=2).seeds == [0, 1] and request(seeds=[4]).seeds == [4]
    for bad in ("0", str(MAX_SEEDS + 1), "two"):
        with pytest.raises(MfbenchError, match=r"^--seeds must be a count from 1 to 10,000"):
            cli_request(["--seeds", bad])


def test_an_unknown_keyword_of_mfbench_run_says_what_it_takes():
    with pytest.raises(MfbenchError, match=r"mfbench.run\(epochs=...\): no such option; it takes: algos, datasets"):
        request(epochs=3)


def test_a_request_sets_control_options_by_name():
    req = RunRequest().set({"threads": 2, "repeats": 3}, {"threads": "--threads 2"})
    assert req.control.threads == 2 and req.repeats == 3 and req.origins == {"threads": "--threads 2"}
    assert option("threads").control and not option("repeats").control
