"""A hostile transcript yields a verdict, never an exception: each test here pins one way a
cheating lab could make ``verify``, ``replay_segment`` or the audit use case stop with an error
(which files nothing on the log) instead of a ``fail`` with a reason."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pausewatch.service import LocalTranscriptLog, LogService, audit_transcript
from pausewatch.statements import Statement
from pausewatch.transcript import (
    SegmentResult,
    SegmentTask,
    TranscriptError,
    checkpoint_path,
    file_digest,
    hyperparameters_digest,
    plan_audit,
    read_manifest,
    replay_segment,
    train,
    verify,
    write_manifest,
)
from pausewatch.transcript._format import CheckpointRef, checkpoint_steps
from pausewatch.transcript._train import (
    initial_model,
    load_weights,
    recipe_named,
    resolve_hyperparameters,
    save_weights,
    weights_of,
)
from transcript import test_product_audit
from transcript.product_world import ProductWorld
from transcript.test_product_audit import BUDGET, HONEST

# The audit use case's world (a real service with committed runs), shared with its own tests.
transcripts = test_product_audit.transcripts
world = test_product_audit.world

BEACON = bytes.fromhex("b0" * 32)
LAST = 5
"""The last segment of the shared 60-step mlp transcript (checkpoint every 10)."""


def _recommit(directory: Path, **changes: object) -> None:
    write_manifest(directory, dataclasses.replace(read_manifest(directory), **changes))


def _with_hyperparameters(directory: Path, **changes: object) -> None:
    manifest = read_manifest(directory)
    hp = {**manifest.hyperparameters, **changes}
    _recommit(directory, hyperparameters=hp, hyperparameters_digest=hyperparameters_digest(hp))


def _replace_checkpoint(directory: Path, step: int, content: bytes) -> None:
    """Overwrite the checkpoint at ``step`` and recommit its digest, as a forger would."""
    path = directory / checkpoint_path(step)
    path.write_bytes(content)
    manifest = read_manifest(directory)
    refs = tuple(
        CheckpointRef(r.step, file_digest(path) if r.step == step else r.digest)
        for r in manifest.checkpoints
    )
    _recommit(directory, checkpoints=refs)


def _edit_manifest_json(directory: Path, **changes: object) -> None:
    path = directory / "manifest.json"
    value = json.loads(path.read_text())
    value.update(changes)
    path.write_text(json.dumps(value))


def _failed(verdict_json: dict[str, object], needle: str) -> None:
    assert verdict_json["verdict"] == "fail"
    reasons = verdict_json["reasons"]
    assert isinstance(reasons, list)
    assert any(needle in str(r) for r in reasons), reasons
    json.dumps(verdict_json, allow_nan=False)


# -- 1. hyper-parameters the engine cannot train or verify with -------------------------------


def test_defect_batch_size_above_heldout_set_is_refused_by_train(tmp_path: Path) -> None:
    """A batch size larger than the held-out records (mlp: 355) is refused by ``train``."""
    with pytest.raises(TranscriptError, match="batch_size"):
        train("mlp", steps=2, every=1, out=tmp_path / "t", hyperparameters={"batch_size": 400})


def test_defect_batch_size_above_heldout_set_fails_the_hyperparameters_check(
    mlp_copy: Path,
) -> None:
    """A manifest claiming a batch size no held-out batch can match fails ``hyperparameters``
    before any replay (it used to raise ValueError in the replay)."""
    _with_hyperparameters(mlp_copy, batch_size=400)
    verdict = verify(mlp_copy, budget=0.1, beacon=BEACON)
    [check] = [c for c in verdict.checks if c.check == "hyperparameters"]
    assert not check.passed
    assert "batch_size" in check.detail
    assert verdict.segments == ()


@pytest.mark.parametrize(
    ("recipe", "changes"),
    [
        ("mlp", {"hidden": 10**9}),
        ("mlp", {"hidden": 0}),
        ("mlp", {"hidden": 64.5}),
        ("mlp", {"lr": math.inf}),
        ("mlp", {"lr": math.nan}),
        ("mlp", {"batch_size": 10**12}),
        ("tinylm", {"width": 10**6}),
        ("tinylm", {"layers": 10**4}),
        ("tinylm", {"heads": 10**4}),
        ("tinylm", {"width": 30, "heads": 4}),
        ("tinylm", {"context": 10**9}),
        ("tinylm", {"context": 4}),
    ],
)
def test_defect_hostile_model_sizes_are_refused(recipe: str, changes: dict[str, object]) -> None:
    """Each recipe bounds its size hyper-parameters, so a hostile manifest cannot make the
    integrity checks build a huge (or unbuildable) model."""
    with pytest.raises(TranscriptError):
        resolve_hyperparameters(recipe_named(recipe), changes)


def test_defect_unbuildable_hidden_size_fails_verify(mlp_copy: Path) -> None:
    """A hidden size the model cannot be built with is a failed check, not a torch error."""
    _with_hyperparameters(mlp_copy, hidden=-1)
    verdict = verify(mlp_copy, budget=0.1, beacon=BEACON)
    _failed(verdict.to_json(), "hidden")


# -- 2. corrupt or wrongly shaped checkpoints -------------------------------------------------


def test_defect_load_weights_turns_garbage_into_a_transcript_error(tmp_path: Path) -> None:
    """Bytes that are no safetensors file are a TranscriptError from ``load_weights``."""
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(TranscriptError, match="cannot read checkpoint"):
        load_weights(path)


@pytest.mark.parametrize("step", [0, 50, 60])
def test_defect_garbage_checkpoint_with_recommitted_digest_fails(mlp_copy: Path, step: int) -> None:
    """Garbage bytes as a checkpoint (its digest recommitted) give a ``fail`` naming the
    step, whether it is the initial weights or a replayed segment's start or end."""
    _replace_checkpoint(mlp_copy, step, b"not a safetensors file" * 10)
    verdict = verify(mlp_copy, budget=0.1, beacon=BEACON).to_json()
    named = f"step {step}" if step else checkpoint_path(step)  # step 0: the initial weights
    _failed(verdict, named)


def test_defect_start_checkpoint_of_another_shape_fails_the_segment(mlp_copy: Path) -> None:
    """A start checkpoint of another shape (digest recommitted) fails its segment with a
    reason; the result is JSON-safe with a finite distance."""
    other = weights_of(initial_model(recipe_named("mlp"), {"hidden": 8}, b"\x07" * 32))
    scratch = mlp_copy.parent / "other.safetensors"
    save_weights(other, scratch)
    _replace_checkpoint(mlp_copy, 50, scratch.read_bytes())
    result = replay_segment(SegmentTask(str(mlp_copy), None, LAST))
    assert not result.passed
    assert result.error is not None
    assert "step 50" in result.error
    assert math.isfinite(result.distance)
    assert result.distance >= 0
    json.dumps(result.to_json(), allow_nan=False)
    _failed(verify(mlp_copy, budget=0.1, beacon=BEACON).to_json(), "step 50")


def test_defect_replay_of_a_missing_checkpoint_is_a_failed_result(mlp_copy: Path) -> None:
    """A replay whose end checkpoint vanished returns a failed result with the reason."""
    (mlp_copy / checkpoint_path(60)).unlink()
    result = replay_segment(SegmentTask(str(mlp_copy), None, LAST))
    assert not result.passed
    assert result.error is not None
    assert "60" in result.error


# -- 3. time of check vs time of use ----------------------------------------------------------


def test_defect_task_carries_what_the_plan_checked(honest_mlp: Path) -> None:
    """The plan's tasks carry the manifest digest and the checked checkpoint digests; the key
    stays ``(run_id or manifest digest, segment)`` and the task stays picklable."""
    import pickle

    plan = plan_audit(honest_mlp, budget=0.1, beacon=BEACON)
    manifest = read_manifest(honest_mlp)
    for task in plan.tasks:
        start, end = task.segment * 10, min(task.segment * 10 + 10, 60)
        assert task.manifest_digest == manifest.digest()
        assert task.start_digest == manifest.digest_at(start)
        assert task.end_digest == manifest.digest_at(end)
        assert task.key == ("run-mlp", task.segment)
        assert pickle.loads(pickle.dumps(task)) == task  # noqa: S301 (our own bytes)


def test_defect_manifest_swapped_after_the_plan_is_refused(
    honest_mlp: Path, tmp_path: Path
) -> None:
    """A manifest changed on disk between the plan and the replay makes the replay refuse."""
    directory = tmp_path / "t"
    shutil.copytree(honest_mlp, directory)
    plan = plan_audit(directory, budget=0.1, beacon=BEACON)
    _recommit(directory, extra={"note": "swapped"})
    result = replay_segment(plan.tasks[-1])
    assert not result.passed
    assert result.error is not None
    assert "manifest" in result.error


def test_defect_checkpoint_swapped_after_the_plan_is_refused(
    honest_mlp: Path, tmp_path: Path
) -> None:
    """A checkpoint and its manifest digest both swapped after the plan: the replay refuses,
    because the task names the digest that was checked."""
    directory = tmp_path / "t"
    shutil.copytree(honest_mlp, directory)
    plan = plan_audit(directory, budget=0.1, beacon=BEACON)
    task = plan.tasks[-1]
    _replace_checkpoint(directory, 60, (directory / checkpoint_path(50)).read_bytes())
    swapped = dataclasses.replace(task, manifest_digest=read_manifest(directory).digest())
    result = replay_segment(swapped)
    assert not result.passed
    assert result.error is not None
    assert "step 60" in result.error


def _world(request: pytest.FixtureRequest) -> tuple[LogService, ProductWorld]:
    value: tuple[LogService, ProductWorld] = request.getfixturevalue("world")
    return value


def _transcripts(request: pytest.FixtureRequest) -> dict[str, Path]:
    value: dict[str, Path] = request.getfixturevalue("transcripts")
    return value


class _SwappingLog(LocalTranscriptLog):
    """A log whose first replay submission is followed by the lab swapping in another honest
    transcript (another seed) under the audited directory."""

    def __init__(self, service: LogService, directory: Path, other: Path) -> None:
        super().__init__(service)
        self.directory, self.other, self.swapped = directory, other, False

    def submit(self, statement: Statement) -> int:
        index = super().submit(statement)
        if statement.kind == "transcript.replay/v1" and not self.swapped:
            shutil.rmtree(self.directory)
            shutil.copytree(self.other, self.directory)
            self.swapped = True
        return index


def test_defect_audit_replays_what_the_log_committed_not_what_is_on_disk_later(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Storage swapped mid-audit for another (internally consistent) transcript: the later
    replays refuse, so the verdict is ``fail`` rather than a pass of something uncommitted."""
    service, built = _world(request)
    directory = tmp_path / "handed-over"
    shutil.copytree(_transcripts(request)["honest"], directory)
    log = _SwappingLog(service, directory, _transcripts(request)["other"])
    outcome = audit_transcript(
        run_id=HONEST,
        directory=directory,
        budget=BUDGET,
        key=built.keys["inspector"],
        log=log,
        use_ray=False,
    )
    assert log.swapped
    _failed(outcome.verdict, "manifest")


def test_defect_garbage_manifest_is_a_filed_fail_in_an_audit(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A manifest that is not JSON yields a ``fail`` verdict on the log, not an error."""
    service, built = _world(request)
    directory = tmp_path / "garbage"
    shutil.copytree(_transcripts(request)["honest"], directory)
    (directory / "manifest.json").write_text("{not json")
    outcome = audit_transcript(
        run_id=HONEST,
        directory=directory,
        budget=BUDGET,
        key=built.keys["inspector"],
        log=LocalTranscriptLog(service),
        use_ray=False,
    )
    _failed(outcome.verdict, "manifest")
    assert outcome.verdict_index is not None


# -- 4. hostile sizes in the manifest ---------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"steps": 10**12},
        {"every": 10**12},
        {"steps": 99_999_999, "every": 1},
        {"hyperparameters": {"lr": float("nan"), "batch_size": 32, "hidden": 64}},
    ],
)
def test_defect_hostile_sizes_are_refused_by_read_manifest(
    mlp_copy: Path, changes: dict[str, object]
) -> None:
    """Steps beyond 8 digits, an interval beyond the steps' bound, too many checkpoints and a
    non-finite number are a one-line error from ``read_manifest``."""
    _edit_manifest_json(mlp_copy, **changes)
    with pytest.raises(TranscriptError) as caught:
        read_manifest(mlp_copy)
    assert "\n" not in str(caught.value)


def test_defect_steps_beyond_eight_digits_fail_the_manifest_check(mlp_copy: Path) -> None:
    """A manifest of 100,000,000 steps (no 8-digit file name) fails the ``manifest`` check."""
    _edit_manifest_json(mlp_copy, steps=100_000_000, every=100_000_000)
    verdict = verify(mlp_copy, budget=0.1, beacon=BEACON)
    [check] = verdict.checks
    assert check.check == "manifest"
    assert not check.passed


def test_defect_checkpoint_steps_refuses_too_many_checkpoints() -> None:
    """``checkpoint_steps`` is never asked for more checkpoints than the format allows."""
    with pytest.raises(TranscriptError):
        checkpoint_steps(99_999_999, 1)


# -- 5. the CLI -------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    return subprocess.run(
        [sys.executable, "-m", "pausewatch.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_defect_cli_verify_of_a_corrupt_checkpoint_prints_a_fail_verdict(
    mlp_copy: Path,
) -> None:
    """``transcript verify`` of a transcript with a garbage checkpoint exits 0 with a ``fail``
    verdict, and no traceback."""
    _replace_checkpoint(mlp_copy, 60, b"garbage" * 20)
    done = _cli(
        "transcript", "verify", str(mlp_copy), "--budget", "0.1", "--beacon", "b0" * 32, "--json"
    )
    assert "Traceback" not in done.stderr + done.stdout
    assert done.returncode == 0, done.stderr
    _failed(json.loads(done.stdout) if done.stdout.startswith("{") else {}, "step 60")


def test_defect_cli_verify_of_a_deeply_nested_manifest_is_one_line(tmp_path: Path) -> None:
    """A manifest nested too deep to parse is a fail verdict or one error line, never a
    traceback."""
    (tmp_path / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    done = _cli(
        "transcript", "verify", str(tmp_path), "--budget", "0.1", "--beacon", "b0" * 32, "--json"
    )
    assert "Traceback" not in done.stderr + done.stdout
    if done.returncode == 0:
        assert json.loads(done.stdout)["verdict"] == "fail"
    else:
        assert done.returncode == 1
        assert len(done.stderr.strip().splitlines()) == 1


def test_defect_segment_result_keeps_its_json_keys() -> None:
    """``SegmentResult`` adds ``error`` (None by default) and round-trips through its JSON."""
    result = SegmentResult(0, 0, 10, 0.0, 1e-6, True, 0.1, 0.05, 10)
    assert result.error is None
    assert SegmentResult(**result.to_json()) == result


@pytest.mark.slow
def test_defect_cli_audit_of_a_garbage_manifest_files_a_fail(tmp_path: Path) -> None:
    """`transcript audit` of a committed run whose handed-over manifest is not JSON exits 0
    with a `fail` verdict on the log (it used to stop with an error line, filing nothing)."""
    from transcript import test_audit_cli as cli
    from transcript.product_world import Served, build, declaration, run_cli

    honest = tmp_path / "honest"
    train("mlp", steps=8, every=2, out=honest, seed=b"\x07" * 32, threads=1, run_id=cli.RUN)
    manifest = read_manifest(honest)
    run = declaration(
        cli.RUN,
        hyperparameters=manifest.hyperparameters_digest,
        seed=manifest.seed_commitment,
        every=manifest.every,
    )
    built = build(tmp_path / "log", [run])
    with Served(built.data_dir, tmp_path / "serve.log") as server:
        operator = str(built.keys_dir / "operator.key")
        inspector = str(built.keys_dir / "inspector.key")
        done = run_cli("transcript", "commit", str(honest), "--key", operator, "--url", server.url)
        assert done.returncode == 0, done.stderr
        handed = tmp_path / "handed"
        shutil.copytree(honest, handed)
        (handed / "manifest.json").write_text("{not json")
        done = run_cli(
            "transcript", "audit", cli.RUN, "--budget", "0.5", "--dir", str(handed),
            "--key", inspector, "--no-ray", "--url", server.url, "--json",
        )  # fmt: skip
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    _failed(result, "manifest")
    assert result["entries"]["verdict"] is not None


def test_defect_an_inspector_out_of_memory_is_no_failed_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch running out of memory on the inspector's machine stops the replay (a rescan runs
    it again) instead of filing a failed segment against an honest transcript."""
    from pausewatch.transcript import _replay

    directory = tmp_path / "honest"
    train("mlp", steps=4, every=2, out=directory, seed=b"\x05" * 32, threads=1)

    def exhausted(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
        )

    monkeypatch.setattr(_replay, "run_steps", exhausted)
    with pytest.raises(RuntimeError, match="allocate memory"):
        replay_segment(SegmentTask(str(directory), None, 0))
