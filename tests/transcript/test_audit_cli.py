"""``pausewatch transcript commit`` and ``pausewatch transcript audit`` as subprocesses against a
real ``pausewatch serve`` (issue 17 §3): an honest transcript's commitments go on the log, the
inspector's audit of it passes and puts its replays and verdict on the log, running the audit
again is a rescan that appends nothing, and ``transcript verify`` with the audit's beacon gives
the same verdict; bad input is one line and exit 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from transcript.product_world import ProductWorld, Served, build, declaration, run_cli

pytestmark = pytest.mark.slow

RUN = "lab/mlp-1"
STEPS, EVERY = 40, 2


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An honest mlp transcript of 40 steps, a checkpoint every 2 (twenty segments)."""
    from pausewatch.transcript import train

    out = tmp_path_factory.mktemp("audit-cli") / "honest"
    train("mlp", steps=STEPS, every=EVERY, out=out, seed=b"\x07" * 32, threads=1, run_id=RUN)
    return out


@pytest.fixture
def served(honest: Path, tmp_path: Path) -> Iterator[tuple[Served, ProductWorld]]:
    """A served log on which lab declared RUN, bound to the honest transcript's commitments."""
    manifest = json.loads((honest / "manifest.json").read_text())
    run = declaration(
        RUN,
        hyperparameters=manifest["hyperparameters_digest"],
        seed=manifest["seed_commitment"],
        every=manifest["every"],
    )
    world = build(tmp_path / "log", [run])
    with Served(world.data_dir, tmp_path / "serve.log") as server:
        yield server, world


def size(server: Served) -> int:
    return int(httpx.get(server.url + "/v1/log").json()["size"])


def test_commit_puts_the_transcript_on_the_log(
    honest: Path, served: tuple[Served, ProductWorld]
) -> None:
    """`transcript commit DIR --key FILE` signs the commitment and the checkpoints (the last
    final) with the operator's key file; the API answers them; committing again re-sends the
    same statements and appends nothing."""
    server, world = served
    key = str(world.keys_dir / "operator.key")
    args = ("transcript", "commit", str(honest), "--key", key, "--url", server.url, "--json")
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    receipt = json.loads(done.stdout)
    assert receipt["run_id"] == RUN
    assert receipt["checkpoints"] == STEPS // EVERY + 1
    got = httpx.get(f"{server.url}/v1/runs/{RUN}/transcript").json()
    assert got["commitment"]["committed_idx"] == receipt["commit_index"]
    assert got["checkpoints"]["final"] is True
    manifest = json.loads((honest / "manifest.json").read_text())
    assert got["checkpoints"]["final_digest"] == manifest["checkpoints"][-1]["digest"]
    before = size(server)
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == receipt
    assert size(server) == before


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-manifest", "no manifest.json"),
        ("malformed", "format must be 'pausewatch-transcript/v1'"),
        ("undeclared", "is not registered"),
        ("no-key", "key"),
    ],
)
def test_commit_refuses_bad_input_in_one_line(
    honest: Path, served: tuple[Served, ProductWorld], tmp_path: Path, case: str, message: str
) -> None:
    """A directory without a manifest, a manifest the engine refuses (another format), a run
    that is not declared and a key that does not exist each print one line and exit 1; nothing
    is appended."""
    server, world = served
    key = str(world.keys_dir / "operator.key")
    args = [str(honest), "--key", key]
    if case == "no-manifest":
        args[0] = str(tmp_path)
    elif case == "malformed":
        manifest = json.loads((honest / "manifest.json").read_text())
        manifest["format"] = "pausewatch-transcript/v9"
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))
        args[0] = str(tmp_path)
    elif case == "undeclared":
        args += ["--run-id", "lab/other"]
    else:
        args[2] = str(tmp_path / "missing.key")
    before = size(server)
    done = run_cli("transcript", "commit", *args, "--url", server.url)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert message in done.stderr
    assert size(server) == before


def test_the_audit_passes_and_verify_with_its_beacon_agrees(
    honest: Path, served: tuple[Served, ProductWorld]
) -> None:
    """`transcript audit RUN --json` signed with the inspector's key file answers pass, with
    the audit's id, the beacon's tree size and the log entries of its replays and verdict, all
    on the log; `transcript verify DIR --beacon` with the audit's beacon gives the same verdict
    and segments; the audit run again appends nothing and answers the same entries."""
    server, world = served
    operator = str(world.keys_dir / "operator.key")
    inspector = str(world.keys_dir / "inspector.key")
    committed = run_cli("transcript", "commit", str(honest), "--key", operator, "--url", server.url)
    assert committed.returncode == 0, committed.stderr
    audit = (
        "transcript", "audit", RUN, "--budget", "0.1", "--dir", str(honest), "--key", inspector,
        "--no-ray", "--url", server.url, "--json",
    )  # fmt: skip
    done = run_cli(*audit)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["verdict"] == "pass", result["reasons"]
    got = httpx.get(f"{server.url}/v1/runs/{RUN}/transcript").json()
    [on_log] = got["audits"]
    assert on_log["audit_id"] == result["audit_id"]
    assert on_log["verdict"]["idx"] == result["entries"]["verdict"]
    assert sorted(r["idx"] for r in on_log["replays"]) == sorted(result["entries"]["replays"])
    assert result["beacon_size"] == got["commitment"]["final_idx"] + 1
    alone = run_cli(
        "transcript", "verify", str(honest), "--budget", "0.1", "--beacon", result["beacon"],
        "--json",
    )  # fmt: skip
    verified = json.loads(alone.stdout)
    assert verified["verdict"] == result["verdict"]
    assert verified["segments"] == result["segments"]
    assert verified["inclusion"] == result["inclusion"]
    before = size(server)
    again = run_cli(*audit)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["entries"] == result["entries"]
    assert size(server) == before


def test_the_commands_as_the_issue_writes_them(
    honest: Path, served: tuple[Served, ProductWorld], tmp_path: Path
) -> None:
    """`pausewatch transcript commit DIR` and `pausewatch transcript audit RUN --budget F
    --json`, exactly as written, with the keys and the service in the environment: the audit
    reads the transcript from ./RUN and passes."""
    import shutil

    server, world = served
    here = tmp_path / "inspector"
    shutil.copytree(honest, here / RUN)
    env = {
        "PAUSEWATCH_URL": server.url,
        "PAUSEWATCH_OPERATOR_KEY": str(world.keys_dir / "operator.key"),
        "PAUSEWATCH_INSPECTOR_KEY": str(world.keys_dir / "inspector.key"),
    }
    committed = run_cli("transcript", "commit", RUN, cwd=here, env=env)
    assert committed.returncode == 0, committed.stderr
    done = run_cli("transcript", "audit", RUN, "--budget", "0.1", "--json", cwd=here, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verdict"] == "pass"
    unkeyed = {**env, "PAUSEWATCH_INSPECTOR_KEY": ""}
    refused = run_cli("transcript", "audit", RUN, "--budget", "0.1", cwd=here, env=unkeyed)
    assert refused.returncode == 1
    assert "no inspector key" in refused.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", "0"], "--budget"),
        (["--budget", "0.1", "--no-ray", "--ray-address", "ray://x:1"], "exclude each other"),
        (["--budget", "0.1", "--no-ray"], "committed no transcript"),
    ],
)
def test_the_audit_refuses_bad_input_in_one_line(
    honest: Path, served: tuple[Served, ProductWorld], args: list[str], message: str
) -> None:
    """A budget out of (0, 1], --no-ray with --ray-address and a run with no commitment each
    print one line and exit 1; nothing is appended."""
    server, world = served
    inspector = str(world.keys_dir / "inspector.key")
    before = size(server)
    done = run_cli(
        "transcript", "audit", RUN, "--dir", str(honest), "--key", inspector, "--url",
        server.url, *args,
    )  # fmt: skip
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert message in done.stderr
    assert size(server) == before
