"""`passwire ops watch`: the line it draws, how it redraws, how it polls, and its exit codes
(the HTTP side against the real API: tests/e2e/test_ops_watch.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pytest

from shared import cli
from shared.ops_watch import command
from shared.ops_watch.client import WatchError
from shared.ops_watch.follow import Display, follow
from shared.ops_watch.progress import (
    duration_text,
    elapsed_seconds,
    fraction_done,
    problem_lines,
    progress_bar,
    rate_text,
    status_line,
)


def operation(status: str, **counters: Any) -> dict[str, Any]:
    base = {"total": 0, "processed": 0, "succeeded": 0, "failed": 0, "unchanged": 0,
            "cancelled": 0, "apple": {"pushed": 0}, "google": {"updated": 0}}  # fmt: skip
    return {"status": status, "counters": {**base, **counters}, "throughput": None, "eta": None}


# -- the line ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fraction", "bar"),
    [
        (0.0, "[" + "." * 24 + "]"),
        (0.5, "[" + "#" * 12 + "." * 12 + "]"),
        (0.999, "[" + "#" * 23 + "." + "]"),  # full only when the work is
        (1.0, "[" + "#" * 24 + "]"),
    ],
)
def test_progress_bar(fraction: float, bar: str) -> None:
    assert progress_bar(fraction) == bar


def test_progress_bar_width() -> None:
    assert progress_bar(0.25, width=8) == "[##......]"


@pytest.mark.parametrize(
    ("processed", "total", "final", "expected"),
    [
        (0, 0, False, 0.0),  # a campaign not planned yet
        (0, 0, True, 1.0),  # ended with nothing to do
        (50, 200, False, 0.25),
        (210, 200, False, 1.0),
        (10, 200, True, 1.0),  # cancelled early: the bar says it ended
    ],
)
def test_fraction_done(processed: int, total: int, final: bool, expected: float) -> None:
    assert fraction_done(processed, total, final=final) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "--"),
        (-1.0, "--"),
        (float("nan"), "--"),
        (0, "0s"),
        (0.2, "1s"),  # rounded up: not "0s" while work remains
        (42, "42s"),
        (59.5, "1m00s"),
        (185, "3m05s"),
        (7380, "2h03m"),
    ],
)
def test_duration_text(seconds: float | None, text: str) -> None:
    assert duration_text(seconds) == text


def test_rate_text() -> None:
    assert rate_text(None) == "--/s"
    assert rate_text(35.25) == "35.2/s"
    assert rate_text(1234.56) == "1,234.6/s"


def test_a_running_campaign() -> None:
    running = operation(
        "running", total=3000, processed=1200, succeeded=1150, failed=2, unchanged=48,
        apple={"pushed": 25}, google={"updated": 7},
    )  # fmt: skip
    running.update(throughput=85.3, eta=21.1)
    assert status_line(running) == (
        "running   [#########...............] 1,200/3,000  40% 85.3/s ETA 22s"
        " | ok 1,150 failed 2 unchanged 48 cancelled 0 | apple pushed 25 | google updated 7"
    )


def test_a_queued_campaign_knows_nothing_yet() -> None:
    assert status_line(operation("queued")) == (
        "queued    [........................] 0/0   0% --/s ETA --"
        " | ok 0 failed 0 unchanged 0 cancelled 0 | apple pushed 0 | google updated 0"
    )


def test_a_finished_operation_says_how_long_it_took() -> None:
    done = operation("completed", total=200, processed=200, succeeded=200)
    done.update(
        throughput=66.7,
        startedAt="2025-03-01T10:00:00.250000+00:00",
        finishedAt="2025-03-01T10:00:03.250000+00:00",
    )
    line = status_line(done)
    assert line.startswith("completed [" + "#" * 24 + "] 200/200 100% 66.7/s done in 3s | ")
    assert "ok 200 failed 0" in line


def test_counters_missing_from_an_older_api_read_as_zero() -> None:
    line = status_line({"status": "running", "counters": {"total": 5, "processed": 1}})
    assert "1/5  20%" in line and "apple pushed 0 | google updated 0" in line


def test_elapsed_needs_both_moments() -> None:
    assert elapsed_seconds({"startedAt": "2025-03-01T10:00:00+00:00"}) is None
    assert elapsed_seconds({"startedAt": "2025-03-01T10:00:00+00:00",
                            "finishedAt": "2025-03-01T10:01:30+00:00"}) == 90.0  # fmt: skip
    assert elapsed_seconds({"startedAt": "yesterday", "finishedAt": "today"}) is None


def test_problem_lines() -> None:
    failed = operation("completed_with_errors", total=9, processed=9, succeeded=1, failed=8)
    failed["errors"] = [{"id": f"p{index}", "reason": "render failed"} for index in range(6)]
    failed["failureReason"] = None
    assert problem_lines(failed, limit=2) == [
        "error: p0: render failed",
        "error: p1: render failed",
        "(6 more failed items not shown)",
    ]
    assert problem_lines({"status": "failed", "failureReason": "the job queue is unavailable"}) == [
        "failure: the job queue is unavailable"
    ]
    assert problem_lines(operation("completed", total=1, processed=1, succeeded=1)) == []


# -- the display ---------------------------------------------------------------------------


def test_on_a_terminal_the_line_is_redrawn_in_place_and_cut_to_its_width() -> None:
    stream = io.StringIO()
    display = Display(stream, tty=True, width=lambda: 11)
    display.show("first line, too long")
    display.show("second")
    display.close()
    assert stream.getvalue() == "\rfirst line\x1b[K\rsecond\x1b[K\n"


def test_into_a_pipe_each_change_is_its_own_line() -> None:
    stream = io.StringIO()
    display = Display(stream, tty=False)
    for line in ("queued", "queued", "running 1", "running 2"):
        display.show(line)
    display.show("running 2 at another rate", key="running 2")
    display.close()
    assert stream.getvalue() == "queued\nrunning 1\nrunning 2\n"


def test_into_a_pipe_a_new_rate_alone_is_no_new_line() -> None:
    stream = io.StringIO()
    moving = operation("running", total=200, processed=100, succeeded=100)
    slower = {**moving, "throughput": 20.0, "eta": 5.0}
    done = operation("completed", total=200, processed=200, succeeded=200)
    follow(fetcher([moving, slower, done]), Display(stream, tty=False), interval=1,
           sleep=lambda _: None)  # fmt: skip
    assert [line.split()[0] for line in stream.getvalue().splitlines()] == ["running", "completed"]


# -- polling -------------------------------------------------------------------------------


def fetcher(answers: list[Mapping[str, Any] | BaseException]) -> Any:
    """A fetch that returns (or raises) each answer in turn."""
    remaining: Iterator[Mapping[str, Any] | BaseException] = iter(answers)

    def fetch() -> Mapping[str, Any]:
        answer = next(remaining)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    return fetch


def test_follow_polls_until_final() -> None:
    stream, sleeps = io.StringIO(), []
    answers = [
        operation("queued"),
        operation("running", total=200, processed=100, succeeded=100),
        operation("completed", total=200, processed=200, succeeded=200),
    ]
    final = follow(fetcher(answers), Display(stream, tty=False), interval=0.5, sleep=sleeps.append)
    assert final["status"] == "completed"
    assert sleeps == [0.5, 0.5]  # none after the final answer
    lines = stream.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["queued", "running", "completed"]
    assert "200/200 100%" in lines[-1]


def test_follow_rides_out_a_blip_once_it_has_seen_the_operation() -> None:
    blip = WatchError("HTTP 503: unavailable", retryable=True)
    answers = [operation("running", total=2, processed=1), blip, blip, operation("completed")]
    final = follow(fetcher(answers), Display(io.StringIO(), tty=False), interval=1,
                   sleep=lambda _: None)  # fmt: skip
    assert final["status"] == "completed"


def test_follow_gives_up_after_failures_in_a_row() -> None:
    blip = WatchError("cannot reach the API (ConnectionError)", retryable=True)
    answers: list[Any] = [operation("running"), blip, blip, blip]
    with pytest.raises(WatchError, match="cannot reach"):
        follow(fetcher(answers), Display(io.StringIO(), tty=False), interval=1,
               sleep=lambda _: None, max_failures=3)  # fmt: skip


@pytest.mark.parametrize("retryable", [True, False])
def test_follow_stops_at_a_first_failure_or_one_asking_again_cannot_fix(retryable: bool) -> None:
    answers: list[Any] = [WatchError("HTTP 404: Unknown operation.", retryable=retryable)]
    if not retryable:
        answers.insert(0, operation("running"))
    with pytest.raises(WatchError, match="404"):
        follow(fetcher(answers), Display(io.StringIO(), tty=False), interval=1,
               sleep=lambda _: None)  # fmt: skip


# -- the command ---------------------------------------------------------------------------


class FakeClient:
    """Stands in for OperationClient: answers from `ANSWERS`."""

    ANSWERS: ClassVar[list[Any]] = []

    def __init__(self, base_url: str, tenant_id: str, api_key: str) -> None:
        self._next = fetcher(list(self.ANSWERS))

    def fetch(self, correlation_id: str) -> Mapping[str, Any]:
        assert correlation_id == "c1"
        answer: Mapping[str, Any] = self._next()
        return answer

    def url(self, correlation_id: str) -> str:
        return f"http://api/operations/{correlation_id}"


def watch(monkeypatch: pytest.MonkeyPatch, answers: list[Any], api_key: str = "k") -> Any:
    monkeypatch.setattr(FakeClient, "ANSWERS", answers)
    monkeypatch.setattr(command, "OperationClient", FakeClient)
    out, err = io.StringIO(), io.StringIO()
    code = command.watch_operation(
        url="http://api", tenant_id="demo", correlation_id="c1", api_key=api_key,
        api_key_env="PASSWIRE_API_KEY", interval=0.1, out=out, err=err,
    )  # fmt: skip
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("status", "code"),
    [("completed", 0), ("completed_with_errors", 1), ("failed", 1), ("cancelled", 2)],
)
def test_exit_code_by_final_status(monkeypatch: pytest.MonkeyPatch, status: str, code: int) -> None:
    exit_code, out, _ = watch(monkeypatch, [operation("running"), operation(status)])
    assert exit_code == code
    assert out.splitlines()[-1].startswith(status)


def test_why_it_failed_goes_to_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    failed = {**operation("failed"), "failureReason": "the job queue is unavailable"}
    code, out, err = watch(monkeypatch, [failed])
    assert code == 1
    assert out.startswith("failed ") and err == "failure: the job queue is unavailable\n"


def test_an_http_refusal_exits_3_with_the_apis_message(monkeypatch: pytest.MonkeyPatch) -> None:
    refusal = WatchError("HTTP 404: Unknown operation.", retryable=False)
    code, _, err = watch(monkeypatch, [refusal])
    assert code == 3
    assert err == "passwire: http://api/operations/c1: HTTP 404: Unknown operation.\n"


def test_without_a_key_nothing_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = watch(monkeypatch, [], api_key="")
    assert code == 3 and "set PASSWIRE_API_KEY" in err


def test_ctrl_c_exits_130_saying_the_operation_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = watch(monkeypatch, [operation("running"), KeyboardInterrupt()])
    assert code == 130
    assert err.startswith("passwire: stopped watching; operation c1 goes on")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "option",
    [
        ["--api-key", "k"],  # not even as an abbreviation of --api-key-env
        ["--api-key-env", "key-0123456789"],  # a key where a variable's name belongs
    ],
)
def test_the_key_is_never_taken_on_the_command_line(
    option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["ops", "watch", "c1", "--tenant", "demo", *option])
    assert "0123456789" not in capsys.readouterr().err


@pytest.mark.parametrize("interval", ["0", "-1", "nan", "soon"])
def test_a_silly_interval_is_refused(interval: str) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(
            ["ops", "watch", "c1", "--tenant", "demo", "--interval", interval]
        )


def test_watching_needs_no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_database(*_: Any) -> Any:
        raise AssertionError("ops watch must not connect to MongoDB")

    monkeypatch.setattr(cli, "get_database", no_database)
    monkeypatch.setenv("EMPTY_KEY_FOR_TEST", "")
    argv = ["ops", "watch", "c1", "--tenant", "demo", "--api-key-env", "EMPTY_KEY_FOR_TEST"]
    assert cli.main(argv) == 3
