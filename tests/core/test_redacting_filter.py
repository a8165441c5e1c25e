"""``RedactingFilter`` searches a record whole: message, every argument, the traceback."""

from __future__ import annotations

import dataclasses
import logging
import traceback

from webchat_async._redact import RedactingFilter

HEADER = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"
CLAIMS = "eyJkYXRhIjp7ImNvbnYiOiJjLTEifX0"
SIGNATURE = "c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
JWT = f"{HEADER}.{CLAIMS}.{SIGNATURE}"
PARTS = (JWT, HEADER, CLAIMS, SIGNATURE)


@dataclasses.dataclass
class Frame:
    """Like a websocket frame: its ``str`` shows the two ends of the data only."""

    data: bytes

    def __str__(self) -> str:
        text = self.data.decode()
        return f"TEXT {text[:20]!r}...{text[-10:]!r} [{len(self.data)} bytes]"


class Slotted:
    __slots__ = ("inner",)

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def __repr__(self) -> str:
        return "<Slotted>"


def frame() -> Frame:
    return Frame(f'{{"pad": "{"p" * 60}", "t": "{JWT}", "z": "{"z" * 60}"}}'.encode())


def filtered(
    msg: object, args: object = None, exc: BaseException | None = None
) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, msg, args, exc_info)  # type: ignore[arg-type]
    assert RedactingFilter().filter(record)
    return record


def texts_of(record: logging.LogRecord) -> list[str]:
    out = [record.getMessage(), repr(record.msg), repr(record.args)]
    if isinstance(record.args, tuple):
        out += [str(a) for a in record.args] + [
            repr(vars(a)) for a in record.args if hasattr(a, "__dict__")
        ]
    if isinstance(record.args, dict):
        out += [str(a) for a in record.args.values()]
    if record.exc_info and record.exc_info[1] is not None:
        out.append("".join(traceback.format_exception(record.exc_info[1])))
    if record.exc_text:
        out.append(record.exc_text)
    return out


def leaked(record: logging.LogRecord) -> list[str]:
    return [part for part in PARTS for text in texts_of(record) if part in text]


def test_a_frame_whose_str_hides_the_token_is_not_passed_on() -> None:
    assert JWT not in str(frame())  # what a text-only filter would have searched
    record = filtered("< %s", (frame(),))
    assert leaked(record) == []
    assert record.getMessage() == "< <Frame: not shown, it holds a secret>"


def test_innocent_arguments_stay_as_they_are() -> None:
    innocent = Frame(b'{"message": "WebSocket Heartbeat"}')
    args = (innocent, 3, None, "text")
    record = filtered("< %s %d %s %s", args)
    assert record.args == args and record.args[0] is innocent


def test_strings_bytes_containers_mappings_slots_and_messages() -> None:
    cases: list[tuple[object, object]] = [
        ("token %.3s", (JWT,)),  # the format would cut it; the argument is whole
        ("%s", (JWT.encode(),)),
        ("%r", ((1, [{"k": JWT}]),)),
        ("%(a)s and %(b)s", {"a": "fine", "b": f"Bearer {JWT}"}),
        ("%s", (Slotted(Slotted(JWT)),)),
        (Slotted(JWT), None),  # an object logged as the message
        (f"GET /chat/jwt/{JWT}", None),
    ]
    for msg, args in cases:
        record = filtered(msg, args)
        assert leaked(record) == [], (msg, args)


def test_a_traceback_that_holds_a_secret_is_redacted() -> None:
    try:
        try:
            raise ValueError(f"the token {JWT} was refused")
        except ValueError as inner:
            raise RuntimeError("reattach failed") from inner
    except RuntimeError as exc:
        record = filtered("failed", exc=exc)
    assert leaked(record) == []
    assert record.exc_info is None and record.exc_text is not None
    assert "RuntimeError: reattach failed" in record.exc_text and "***" in record.exc_text
    formatted = logging.Formatter().format(record)
    assert "reattach failed" in formatted and HEADER not in formatted


def test_a_traceback_without_a_secret_is_kept() -> None:
    error = ValueError("nothing secret")
    try:
        raise error
    except ValueError as exc:
        record = filtered("failed", exc=exc)
    assert record.exc_info is not None and record.exc_info[1] is error


def test_too_deep_to_search_counts_as_secret() -> None:
    nested: object = "x"
    for _ in range(20):
        nested = [nested]
    record = filtered("%s", (nested,))
    assert record.args == ("<list: not shown, it holds a secret>",)
