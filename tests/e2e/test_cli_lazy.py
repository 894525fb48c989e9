"""The command line loads only the command it runs (docs/adr/0055-lazy-cli.md): every
`pausewatch` subprocess, the tests' hundreds of them and the ingest workers that import the
console script again, pays for its own command's modules, not for all of them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from conftest import run_cli
from pausewatch.cli import COMMANDS, build_app

PROBE = """
import json, sys
from pausewatch.cli import main
sys.argv = ["pausewatch", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("pausewatch"))))
"""


def loaded_by(*args: str) -> set[str]:
    """The pausewatch modules a process holds after running `pausewatch ARGS`."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_a_command_loads_its_own_module_and_not_the_others() -> None:
    loaded = loaded_by("keys", "--help")
    assert "pausewatch.cli._keys" in loaded
    for other in ("pausewatch.cli._audit", "pausewatch.cli._evals", "pausewatch.cli._simulate"):
        assert other not in loaded
    # The audit's recomputation, the policy engine and the classifier's stack stay unloaded.
    assert not loaded & {"pausewatch.audit", "pausewatch.policy", "pausewatch.detect"}


def test_the_whole_help_lists_every_command_in_its_order() -> None:
    group = get_command(build_app())
    assert isinstance(group, TyperGroup)
    assert list(group.commands) == list(COMMANDS)
    shown = run_cli("--help", env={"COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    for name in COMMANDS:
        assert f" {name} " in shown.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_alone_is_the_same_command_as_in_the_whole_app(name: str) -> None:
    """Built alone (as `main` builds it for `pausewatch NAME ...`), a command has the same
    help, parameters and subcommands as in the whole app."""
    alone = get_command(build_app([name]))
    whole = get_command(build_app())
    assert isinstance(alone, TyperGroup)
    assert isinstance(whole, TyperGroup)
    assert list(alone.commands) == [name]
    mine, theirs = alone.commands[name], whole.commands[name]
    assert mine.help == theirs.help
    assert [p.name for p in mine.params] == [p.name for p in theirs.params]
    if isinstance(theirs, TyperGroup):
        assert isinstance(mine, TyperGroup)
        assert list(mine.commands) == list(theirs.commands)
    result = CliRunner().invoke(build_app([name]), [name, "--help"])
    assert result.exit_code == 0, result.output


def test_an_unknown_command_is_refused_with_the_list_to_choose_from() -> None:
    done = run_cli("no-such-command")
    assert done.returncode == 2
    assert "No such command 'no-such-command'" in done.stderr


def test_the_version_and_the_module_attribute_still_work() -> None:
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("pausewatch ")
    import pausewatch.cli

    assert isinstance(pausewatch.cli.app, typer.Typer)
