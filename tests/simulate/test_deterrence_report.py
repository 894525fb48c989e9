"""``pausewatch simulate deterrence --evaluation REPORT.json`` as a real process: the
Deterrence page's per-kind table for a report of ``pausewatch detect evaluate`` read from its
file, the same document ``GET /v1/deterrence`` answers once the report is published (the same
mapping as ``pausewatch detect publish``), and one line for a report that cannot be read
(issue 18; docs/deterrence.md; docs/adr/0044)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from deterrence_reports import (  # type: ignore[import-not-found]
    REAL_REPORT,
    constructed_report,
    write_report,
)

from pausewatch.detect import evaluation_body
from pausewatch.policy import load_preset, policy_digest, policy_to_json
from pausewatch.service import Assumptions, LogService, deterrence
from pausewatch.settings import Settings
from pausewatch.statements import load_key, sign_statement

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2027, 3, 20, tzinfo=UTC)
STAKES = ("--gain", "2", "--penalty", "3", "--false-alarm-cost", "0.25", "--run-days", "20")
ASSUMED = Assumptions(gain=2.0, penalty=3.0, false_alarm_cost=0.25, run_days=20.0)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-m", "pausewatch.cli", "simulate", "deterrence", *args],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip


def ticking(start: datetime) -> Callable[[], datetime]:
    state = {"t": start}

    def now() -> datetime:
        state["t"] += timedelta(milliseconds=1)
        return state["t"]

    return now


def from_the_log(tmp_path: Path, report: dict[str, Any]) -> dict[str, Any]:
    """The report published as ``pausewatch detect publish`` files it, on a log whose policy
    is miri-2025, and the service's deterrence analysis at :data:`AT`."""
    settings = Settings(data_dir=tmp_path, batch_latency_ms=1, clerk_interval_s=0)
    service = LogService(settings, clock=ticking(AT - timedelta(days=30))).start()
    try:
        secretariat = load_key(settings.keys_dir, "secretariat")
        policy = load_preset("miri-2025")
        adopt = {
            "policy": policy_to_json(policy),
            "digest": policy_digest(policy),
            "effective_at": "2027-01-01T00:00:00Z",
        }
        for kind, body in (
            ("policy.adopt/v1", adopt),
            ("detect.evaluation/v1", evaluation_body(report)),
        ):
            service.submit(sign_statement(kind, body, secretariat)).result(30)
        return deterrence(service.state, AT, ASSUMED)
    finally:
        service.close()


@pytest.mark.parametrize("source", ["constructed", "real"])
def test_the_file_and_the_log_give_the_same_document(tmp_path: Path, source: str) -> None:
    """--json on a report file prints the document the service answers for the same report
    published on the log, row for row (only the log index and the count published are the
    log's own); every kind of the report has its row and the transcript row is there."""
    if source == "real":
        path = REAL_REPORT
    else:
        path = write_report(tmp_path / "report.json", constructed_report())
    # What ``detect publish REPORT.json`` reads: the file, its kinds in the file's order.
    report = json.loads(path.read_text(encoding="utf-8"))
    done = run("--evaluation", str(path), "--at", "2027-03-20T00:00:00Z", *STAKES, "--json")
    assert done.returncode == 0, done.stderr
    from_file = json.loads(done.stdout)
    logged = from_the_log(tmp_path / "log", report)
    assert logged["evaluation"]["idx"] is not None
    assert (from_file["evaluation"]["idx"], from_file["evaluation"]["published"]) == (None, None)
    for answer in (from_file, logged):
        answer["evaluation"].pop("idx")
        answer["evaluation"].pop("published")
    assert from_file == logged
    assert [row["kind"] for row in from_file["rows"]] == list(report["kinds"])
    assert from_file["policy"]["id"] == "miri-2025"
    assert from_file["transcript"]["kind"] == "transcript_forgery"
    assert from_file["assumptions"]["gain"] == 2.0


def test_each_kind_is_judged_as_the_page_judges_it(tmp_path: Path) -> None:
    """At the defaults of ADR 0044 (d = b = 1, h = 0.5) and the report's false alarms (0.5 per
    facility-year over 30 days): undeclared training is deterred, hidden facilities (1 of 3)
    are not, going dark is judged on every size, kinds never run have no figure; the text
    table names each kind with its verdict."""
    path = write_report(tmp_path / "report.json", constructed_report())
    answer = json.loads(run("--evaluation", str(path), "--json").stdout)
    rows = {row["kind"]: row for row in answer["rows"]}
    assert answer["false_alarms"]["source"] == "evaluation"
    assert answer["false_alarms"]["per_facility_year"] == 0.5
    assert answer["assumptions"]["false_alarm_cost"] == 0.5
    assert (rows["undeclared_training"]["deterred"], rows["hidden_facility"]["deterred"]) == (
        True,
        False,
    )
    assert rows["hidden_facility"]["detection"] == pytest.approx(1 / 3)
    assert rows["going_dark"]["judged_on"] == "all_sizes"
    assert rows["diversion"]["detection"] is None
    assert "diversion" in answer["summary"]["without_figure"]
    text = run("--evaluation", str(path))
    assert text.returncode == 0, text.stderr
    assert "hidden_facility" in text.stdout
    assert "transcript_forgery" in text.stdout
    assert "not deterred: hidden_facility" in text.stdout


def test_overrides_and_the_policy_are_options(tmp_path: Path) -> None:
    """--kind-detection KIND:P replaces a kind's figure (source query), --policy names the
    preset whose thresholds are shown, --false-alarms replaces the report's rate."""
    path = write_report(tmp_path / "report.json", constructed_report())
    answer = json.loads(
        run(
            "--evaluation", str(path), "--kind-detection", "hidden_facility:0.9",
            "--policy", "fli-2023", "--false-alarms", "0", "--json",
        ).stdout
    )  # fmt: skip
    rows = {row["kind"]: row for row in answer["rows"]}
    assert (rows["hidden_facility"]["source"], rows["hidden_facility"]["detection"]) == (
        "query",
        0.9,
    )
    assert answer["policy"]["id"] == "fli-2023"
    assert answer["false_alarms"] == {
        "per_facility_year": 0.0,
        "source": "query",
        "days": 30.0,
        "probability": 0.0,
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the evaluation report"),
        ("{not json", "is not JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("[" + "1" * 5_000 + "]", "a number too long to read"),
        ("[1, 2]", "the report: expected a JSON object"),
        ('{"kinds": {}}', "the report has no 'overall' object"),
        (
            '{"overall": {"detection_before_completion": 1.5, '
            '"false_alarms_per_facility_year": 0}}',
            "detection_before_completion",
        ),
        (
            '{"overall": {"detection_before_completion": 0.5, '
            '"false_alarms_per_facility_year": 0}, "kinds": [{"kind": "a"}, {"kind": "a"}]}',
            "names a defection kind twice",
        ),
    ],
)
def test_a_report_that_cannot_be_read_is_one_line(
    tmp_path: Path, content: str | None, message: str
) -> None:
    """A missing file, a file that is not JSON, or a report ``detect publish`` would refuse:
    one error line naming it, exit 1, nothing on stdout."""
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    done = run("--evaluation", str(path), "--json")
    assert done.returncode == 1
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--detection", "0.5"), "--detection does not go with --evaluation"),
        (("--false-alarm-rate", "0.1"), "--false-alarm-rate does not go with --evaluation"),
        (("--gain", "0"), "--gain: must be above 0"),
        (("--run-days", "0"), "--run-days: must be above 0"),
        (("--kind-detection", "going_dark:2"), "--kind-detection: going_dark: expected 0 to 1"),
        (("--policy", "no-such"), "no policy file or preset named 'no-such'"),
        (("--at", "yesterday"), "--at: expected an ISO 8601 time"),
    ],
)
def test_bad_options_with_an_evaluation_are_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """An option that does not go with a report, or an assumption out of its range: one line,
    exit 1."""
    path = write_report(tmp_path / "report.json", constructed_report())
    done = run("--evaluation", str(path), *args)
    assert done.returncode == 1
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--gain", "1", "--penalty", "1", "--run-days", "3"), "--run-days goes only with"),
        (("--gain", "1", "--penalty", "1", "--policy", "miri-2025"), "--policy goes only with"),
        (("--penalty", "1"), "give --gain and --penalty (or --evaluation REPORT.json)"),
    ],
)
def test_without_an_evaluation_the_single_figure_needs_its_stakes(
    args: tuple[str, ...], message: str
) -> None:
    """Without --evaluation the report's options are refused and --gain and --penalty are
    required, each in one line; the single figure keeps its key ``required_detection`` and
    its default false-alarm cost of 0."""
    done = run(*args)
    assert done.returncode == 1
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    alone = json.loads(run("--gain", "1", "--penalty", "3", "--json").stdout)
    assert alone["required_detection"] == pytest.approx(0.25)
    assert alone["false_alarm_cost"] == 0.0


@pytest.mark.slow
@pytest.mark.timeout(600)  # four scenarios played: 103 s beside a demo (ADR 0058)
def test_the_kept_report_is_what_detect_evaluate_writes(tmp_path: Path) -> None:
    """The report kept in tests/simulate/data is, but for its timings, what
    ``pausewatch simulate scenarios --seed 3000000 --count 4`` then ``pausewatch detect
    evaluate DIR --json`` write today, so the tests of --evaluation read the real shape. The
    kept report was played one scenario after another; here they are played two at a time
    (``--workers 2``), so this also checks that doing so changes nothing but the timings."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cli = [sys.executable, "-m", "pausewatch.cli"]
    corpus, work = tmp_path / "corpus", tmp_path / "work"
    work.mkdir()
    made = subprocess.run(
        [*cli, "simulate", "scenarios", "--seed", "3000000", "--count", "4", "--out", str(corpus)],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    done = subprocess.run(
        [*cli, "detect", "evaluate", str(corpus), "--json", "--workdir", str(work),
         "--workers", "2"],
        capture_output=True, text=True, env=env, check=False, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    fresh = json.loads(done.stdout)
    kept = json.loads(REAL_REPORT.read_text(encoding="utf-8"))
    for report in (fresh, kept):
        report.pop("cost")
    assert fresh == kept


def test_a_report_with_a_number_json_cannot_carry_names_the_field(tmp_path: Path) -> None:
    """A report holding nan or an infinity (Python's json writes them) is refused in one line
    naming the file and the field, not with the canonical encoder's message alone."""
    report = json.loads(write_report(tmp_path / "r.json", constructed_report()).read_text())
    report["overall"]["false_alarms_interval"] = [0.0, float("nan")]
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    done = run("--evaluation", str(path), "--json")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "nan.json" in lines[0]
    assert "overall.false_alarms_interval" in lines[0]
