"""Reading request bodies: bounded in size whatever the framing, and JSON decoded strictly.

- Size: a body with a Content-Length over the limit is refused by Werkzeug before it is read.
  A chunked body has no length: Werkzeug stops reading it at the limit and hands over the
  truncated bytes as if they were the whole body. `BoundedRequest` reads at most limit + 1
  bytes instead, and answers 413 when that extra byte exists. The limit is the request's
  `max_content_length` (PASSWIRE_MAX_REQUEST_BYTES, or PASSWIRE_MAX_IMPORT_BYTES for imports).
- JSON: every `@blp.arguments` body of the API is loaded here (`Blueprint` below), once. Python's
  decoder accepts what nothing downstream can carry: a lone UTF-16 surrogate (`"\\ud800"`),
  which UTF-8 and BSON cannot encode, and an integer of more digits than Python converts.
  Each is refused with 400 naming the reason, before any view sees the body, instead of
  failing later with a 500. (`NaN`/`Infinity` are decoded: the schemas name the field.)
"""

from __future__ import annotations

import io
import json
from functools import cached_property
from typing import IO, Any, Final

import flask
import flask_smorest
from webargs import core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import RequestEntityTooLarge

from api.errors import ApiError

# Python refuses to convert longer integer literals (sys.get_int_max_str_digits).
MAX_INTEGER_DIGITS: Final = 4300


class _BoundedStream(io.RawIOBase):
    """A body of unknown length, read up to `limit` bytes; one byte more means 413."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        super().__init__()
        self._stream = stream
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left == 0:
            # The body may end exactly at the limit: only a further byte proves it does not.
            if self._stream.read(1):
                raise RequestEntityTooLarge()
            return 0
        data = self._stream.read(min(len(buffer), self._left))
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)


class BoundedRequest(flask.Request):
    """The app's request class: chunked bodies are held to the same limit as the others."""

    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        # wsgi.input_terminated: the server ends the input where the chunked body ends.
        if (
            self.content_length is None
            and limit is not None
            and "wsgi.input_terminated" in self.environ
        ):
            return io.BufferedReader(_BoundedStream(self.environ["wsgi.input"], limit))
        stream: IO[bytes] = super().stream
        return stream


class _Undecodable(ValueError):
    """Why a JSON body cannot be taken, in words for the client."""


def _integer(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _Undecodable(f"a number has more than {MAX_INTEGER_DIGITS} digits")
    return int(literal)


def _bad_body(reason: str) -> ApiError:
    return ApiError(
        400, "The request body is not valid JSON.", errors=[{"field": "body", "reason": reason}]
    )


def load_json_body(data: bytes) -> Any:
    """The decoded body; `core.missing` for an empty one (required fields then say so)."""
    if not data:
        return core.missing
    try:
        value = json.loads(data.decode("utf-8"), parse_int=_integer)
    except UnicodeDecodeError:
        raise _bad_body("the body is not valid JSON: it is not UTF-8") from None
    except _Undecodable as exc:
        raise _bad_body(str(exc)) from None
    except json.JSONDecodeError:
        raise _bad_body("the body is not valid JSON") from None
    try:
        # Any lone surrogate, in a key or a value, makes the whole text unencodable.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        reason = "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), not a character"
        raise _bad_body(reason) from None
    return value


class JsonBodyParser(FlaskParser):
    """webargs's Flask parser, with JSON bodies loaded by `load_json_body`."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not core.is_json(req.mimetype):
            return core.missing
        return load_json_body(req.get_data(cache=True))


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """Every API blueprint: its `@blp.arguments` bodies go through `JsonBodyParser`."""

    ARGUMENTS_PARSER = JsonBodyParser()
