"""Log lines as LOG_FORMAT writes them: JSON objects with a fixed set of keys and the job's
context, nothing a library attaches to the record, and credentials redacted from messages."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from config.log_format import formatter
from config.settings import load_settings
from shared.infra.logs import (
    ContextFilter,
    bind_job_context,
    clear_job_context,
    correlation_context,
    redact,
)


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("json"))
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("passwire.test.json")
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    yield logger, stream
    clear_job_context()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_job_context(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("outside any job")
    bind_job_context(correlation_id="c0ffee", tenant="demo", task="passwire.passes.create")
    logger.warning("pass %s: %d devices", "P1", 3)
    [outside, inside] = lines(stream)
    assert outside["correlationId"] is None and outside["tenant"] is None
    assert inside == {
        "time": inside["time"],
        "level": "WARNING",
        "logger": "passwire.test.json",
        "process": "MainProcess",
        "message": "pass P1: 3 devices",
        "correlationId": "c0ffee",
        "tenant": "demo",
        "task": "passwire.passes.create",
    }
    assert str(inside["time"]).endswith("Z")


def test_the_api_correlation_context_shows_and_ends(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    with correlation_context("abc123"):
        logger.info("accepted")
    logger.info("after")
    assert [line["correlationId"] for line in lines(stream)] == ["abc123", None]


def test_extras_libraries_attach_are_left_out(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    # Celery attaches a job's arguments as `data` to its failure lines.
    logger.error("Task failed", extra={"data": {"kwargs": {"token": "s3cret-kwarg"}}})
    assert "s3cret-kwarg" not in stream.getvalue()
    assert "data" not in lines(stream)[0]


def test_an_exception_is_one_key_of_the_same_line(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    try:
        raise RuntimeError("broken")
    except RuntimeError:
        logger.exception("job failed")
    [line] = lines(stream)
    assert line["message"] == "job failed"
    assert "RuntimeError: broken" in str(line["exception"])


def test_credentials_are_redacted_from_messages(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("GET /api/demo/passes/P1/view?medium=email&t=%s", "LINKTOKEN123")
    logger.info("header Authorization: ApplePass %s", "AUTHTOKEN456")
    logger.info("sent X-API-Key: %s", "APIKEY789")
    text = stream.getvalue()
    for secret in ("LINKTOKEN123", "AUTHTOKEN456", "APIKEY789"):
        assert secret not in text
    assert "view?medium=email&t=[redacted]" in text
    assert redact("no secrets here, t=3 at=5") == "no secrets here, t=3 at=5"


def test_text_stays_the_default_and_other_formats_are_refused() -> None:
    assert load_settings({}).log_format == "text"
    assert load_settings({"LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        load_settings({"LOG_FORMAT": "xml"})
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "plain", None, None)
    record.correlation_id = "-"
    assert formatter("text").format(record).endswith("[cid=-] plain")
