"""Error bodies nested deep: decoded (or refused) in linear time, and the typed error raised.

An ``ErrorBody`` holds a list of ``ErrorBody`` (``errors``): a server can nest them as
deep as its reply is long. The decode reads :data:`~webchat_async._convert.MAX_NESTING`
levels and leaves the deeper ones out; the reply still raises the ``ApiError`` subclass of
its status with the top-level message. Every decode runs under a time budget (the child
process of the end-to-end test also under a memory limit): before the fix, 170 levels
took longer than anyone waited, and 16 levels over a wrong-typed leaf took about 30 s.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from wire_budget import run_isolated, within

from webchat_async import _convert, models
from webchat_async.errors import DecodeError
from webchat_async.models import ErrorBody

# One child process for every depth: a server on 127.0.0.1 answers each request with an
# error body nested ``depth`` levels, the SDK's client reads it; the child prints, per
# case, what the caller got.
_SERVER_SCRIPT = r"""
import asyncio, json, sys
from aiohttp import web
from webchat_async.api import WebChatApi
from webchat_async.errors import ApiError

CASES = json.loads(sys.argv[1])

def nested(depth, leaf):
    head = '{"message":"top","errors":['
    return head + '{"message":"level","errors":[' * (depth - 1) + leaf + "]}" * depth

async def answer(request):
    status, depth, leaf = CASES[int(request.query["after"])]
    text = nested(depth, leaf) if depth else leaf
    return web.Response(status=status, text=text, content_type="application/json")

async def main():
    app = web.Application()
    app.router.add_get("/api/v2/webchat/guest/conversations/c-1/messages", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    out = []
    try:
        async with WebChatApi(
            base_url=f"http://127.0.0.1:{port}", guest_token="t", max_retries=0
        ) as api:
            for index in range(len(CASES)):
                try:
                    await api.get_webchat_guest_conversation_messages("c-1", after=str(index))
                except ApiError as exc:
                    levels, body = 0, exc.body
                    while body is not None:
                        levels += 1
                        body = body.errors[0] if body.errors else None
                    out.append([type(exc).__name__, exc.status, exc.message, levels])
    finally:
        await runner.cleanup()
    print(json.dumps(out))

asyncio.run(main())
"""

LEAF = '{"message":"leaf","code":"deep"}'
BAD_LEAF = '{"message":"leaf","status":"not a number"}'


def test_a_deep_error_reply_raises_its_typed_error_in_time_and_memory() -> None:
    cap = _convert.MAX_NESTING
    cases = [
        (400, 170, LEAF),  # the reply of the report: > 25 s and 21 GB before
        (404, cap - 1, LEAF),  # exactly the levels read: nothing left out
        (503, 450, LEAF),  # 900 JSON levels: as deep as the parsers read
        (409, 200_000, LEAF),  # deeper than the parsers' stacks: not JSON, still a 409
        (400, 30, BAD_LEAF),  # a wrong type deep down: the detailed error, once
        (400, 170, BAD_LEAF),  # below the cap: never read
    ]
    got = run_isolated(_SERVER_SCRIPT, json.dumps(cases), timeout=20.0, memory=2 << 30)
    assert got == [
        ["BadRequestError", 400, "top", cap],
        ["NotFoundError", 404, "top", cap],
        ["ServerError", 503, "top", cap],
        # Not JSON to this SDK (nested past the parser's stack): the status's own message.
        ["ConflictError", 409, "HTTP 409 Conflict", 0],
        # The leaf does not decode: the body is not an ErrorBody, the error is still typed.
        ["BadRequestError", 400, "HTTP 400 Bad Request", 0],
        ["BadRequestError", 400, "top", cap],
    ]


def _nested(depth: int, leaf: dict[str, Any]) -> dict[str, Any]:
    body = leaf
    for level in range(depth):
        body = {"message": f"level {depth - level}", "errors": [body]}
    return body


def _levels(body: ErrorBody | None) -> int:
    levels = 0
    while body is not None:
        levels += 1
        body = body.errors[0] if body.errors else None
    return levels


@pytest.mark.parametrize("depth", [0, 1, 30, 31, 32, 100, 170, 600])
def test_structure_reads_max_nesting_levels_and_no_more(depth: int) -> None:
    data = _nested(depth, {"message": "leaf", "code": "deep"})
    with within(5.0):
        body = _convert.structure(data, ErrorBody)
    assert _levels(body) == min(depth + 1, _convert.MAX_NESTING)
    assert body.message == ("leaf" if depth == 0 else "level 1")
    if depth + 1 <= _convert.MAX_NESTING:
        # Nothing left out: the whole chain, the leaf included.
        last = body
        while last.errors:
            last = last.errors[0]
        assert last.code == "deep"


def test_the_deepest_level_read_keeps_its_other_fields() -> None:
    data = _nested(100, {"message": "leaf"})
    with within(5.0):
        body = _convert.structure(data, ErrorBody)
    last = body
    for _ in range(_convert.MAX_NESTING - 1):
        assert last.errors is not None
        last = last.errors[0]
    assert last.errors is None
    assert last.message == f"level {_convert.MAX_NESTING}"


@pytest.mark.parametrize("depth", [12, 20, 31])
def test_a_wrong_type_deep_down_is_one_detailed_error(depth: int) -> None:
    # Before the fix each level retried the cattrs function after its own error: four
    # times the work per level (12 levels: ~1 s, 16: ~30 s).
    data = _nested(depth, {"message": "leaf", "status": "not a number"})
    with within(5.0), pytest.raises(DecodeError, match=rf"\$(\.errors){{{depth}}}\.status"):
        _convert.structure(data, ErrorBody)


def test_a_wide_error_body_is_linear() -> None:
    # Many siblings at every level (a tree of ~3**8 nodes): each read once.
    def tree(depth: int) -> dict[str, Any]:
        if depth == 0:
            return {"message": "leaf"}
        return {"message": "node", "errors": [tree(depth - 1) for _ in range(3)]}

    with within(10.0):
        body = _convert.structure(tree(8), ErrorBody)
    count, todo = 0, [body]
    while todo:
        node = todo.pop()
        count += 1
        todo.extend(node.errors or ())
    assert count == sum(3**k for k in range(9))


def test_error_body_is_the_only_model_that_nests_itself() -> None:
    # The depth bound applies to every model that can hold itself, through any path.
    nesting = {cls.__name__: _convert._nesting_fields(cls) for cls in models.MODELS}
    assert {name: fields for name, fields in nesting.items() if fields} == {"ErrorBody": ["errors"]}


def test_a_model_nesting_itself_through_another_is_bounded_too() -> None:
    # The rule is found from the field types, not from a list of names.
    @attrs.frozen(kw_only=True)
    class Outer:
        inner: Inner | None = None

    @attrs.frozen(kw_only=True)
    class Inner:
        outer: list[Outer] | None = None

    attrs.resolve_types(Outer, locals())
    attrs.resolve_types(Inner, locals())
    original = models.MODELS
    try:
        models.MODELS = (*original, Outer, Inner)  # type: ignore[misc]
        assert _convert._nesting_fields(Outer) == ["inner"]
        assert _convert._nesting_fields(Inner) == ["outer"]
    finally:
        models.MODELS = original  # type: ignore[misc]


def test_recursion_error_in_a_fast_function_is_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A spent stack must not send the object to the cattrs function, which would spend
    # it again (once per level, each level retrying: exponential).
    hook = _convert.get_converter().get_structure_hook(models.WebChatMessage)
    slow_calls: list[Any] = []

    def spent(value: Any, cls: Any) -> Any:
        raise RecursionError

    monkeypatch.setitem(hook.__globals__, "h_sender", spent)
    monkeypatch.setitem(hook.__globals__, "slow", lambda d, cls: slow_calls.append(d))
    with pytest.raises(RecursionError):
        hook({"id": "m", "sender": {"id": "s", "x": 1}}, models.WebChatMessage)
    assert slow_calls == []
