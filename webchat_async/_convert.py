"""The one cattrs converter: camelCase JSON <-> snake_case attrs models.

Built once, on the first conversion, and reused: cattrs generates a specialised function
per class on first use, so a conversion costs about one dict comprehension per object.
cattrs itself is imported then too (about 11 ms), not at ``import webchat_async``.

Rules (the wire format of docs/protocol.md#wire-format):

* field names are camelCase on the wire, snake_case in Python;
* unknown JSON keys are ignored (the service adds fields over time);
* ``None`` fields are left out when a model is unstructured (request bodies);
* datetimes are ISO-8601; ``Z`` and numeric offsets are accepted; a naive timestamp is
  taken as UTC **[choice: the service always sends ``Z``]**; UTC is written with ``Z``;
* enum values the SDK does not know are kept (see ``models._OpenEnum``);
* anything that does not fit a field's type raises :class:`~webchat_async.errors.DecodeError`;
* a model that nests itself (``ErrorBody.errors``) is read :data:`MAX_NESTING` levels deep
  and no deeper: the object at the last level is kept without its nested ones. The work is
  linear in the size of the JSON whatever its depth, and a server's error reply still gives
  its typed error;
* a string that holds a lone surrogate (``"\\ud800"`` in the JSON: no valid text) does
  not decode: :func:`loads` raises :class:`~webchat_async.errors.DecodeError` naming where
  (docs/protocol.md#unknown-malformed-stored-data: reported, and the session goes on).
"""

from __future__ import annotations

import datetime
import json
import re
import sys
import threading
import types
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs

from . import models
from .errors import DecodeError

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "camel",
    "dump_json",
    "dump_json_bytes",
    "dumps",
    "format_datetime",
    "get_converter",
    "JSONTooDeep",
    "loads",
    "lone_surrogate_path",
    "MAX_NESTING",
    "may_hold_surrogates",
    "parse_datetime",
    "parse_json",
    "parse_json_fast",
    "slot_builder",
    "parse_json_checked",
    "structure",
    "structurer",
    "unstructure",
]

T = TypeVar("T")

_UTC = datetime.timezone.utc
# Python 3.11 made fromisoformat take any ISO 8601 form, "Z" and 3-digit fractions too.
#: ``datetime.fromisoformat`` reads a trailing ``Z`` (Python 3.11 on).
FROMISOFORMAT_TAKES_Z = sys.version_info >= (3, 11)


def camel(name: str) -> str:
    """``body_type`` -> ``bodyType``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def parse_datetime(value: Any, _: Any = None) -> datetime.datetime:
    """An ISO-8601 timestamp as an aware datetime (``Z``, offsets; naive means UTC)."""
    if isinstance(value, datetime.datetime):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO-8601 string, got {type(value).__name__}")
    if FROMISOFORMAT_TAKES_Z and len(value) == 24 and value[23] == "Z":
        # The service's own form (2024-05-01T12:00:00.123Z): on 3.11+ one C call, ~4x
        # faster than the general path below, and as strict.
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError:
            pass  # the general path raises the error
    text = value
    if text.endswith(("Z", "z")):
        # datetime.fromisoformat accepts 'Z' only from Python 3.11 on.
        text = text[:-1] + "+00:00"
    # Python 3.10 accepts only 3- or 6-digit fractions; pad or cut to microseconds.
    dot = text.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(text) and text[end].isdigit():
            end += 1
        digits = text[dot + 1 : end]
        if digits and len(digits) != 6:
            text = text[: dot + 1] + digits[:6].ljust(6, "0") + text[end:]
    parsed = datetime.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_UTC)
    return parsed


def format_datetime(value: datetime.datetime) -> str:
    """Write a datetime the way the service does: ``2024-05-01T12:00:00.123Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    offset = value.utcoffset()
    if value.microsecond % 1000 == 0:
        text = value.isoformat(timespec="milliseconds")
    else:
        text = value.isoformat(timespec="microseconds")
    if offset == datetime.timedelta(0):
        text = text[: -len("+00:00")] + "Z"
    return text


def _structure_str(value: Any, _: Any) -> str:
    if type(value) is str:
        return value
    # Numbers where a string is expected are tolerated (ids have been seen as numbers);
    # anything else is a decode error rather than a str() of a dict.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_int(value: Any, _: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _structure_bool(value: Any, _: Any) -> bool:
    if type(value) is bool:
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


def _structure_enum(value: Any, cls: type[Any]) -> Any:  # cls: an _OpenEnum subclass
    if not isinstance(value, str):
        raise TypeError(f"expected a string for {cls.__name__}, got {type(value).__name__}")
    return cls(value)


def _make_converter() -> cattrs.Converter:
    import cattrs
    from cattrs.gen import make_dict_unstructure_fn

    conv = cattrs.Converter()
    conv.register_structure_hook(datetime.datetime, parse_datetime)
    conv.register_unstructure_hook(datetime.datetime, format_datetime)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(bool, _structure_bool)
    # Enums are str subclasses: they need their own hooks, or the str hook would take them.
    for enum_cls in models.ENUMS:
        conv.register_structure_hook(enum_cls, _structure_enum)
        conv.register_unstructure_hook(enum_cls, _unstructure_enum)
    conv.register_structure_hook_factory(_is_list, lambda t: _list_structurer(conv, t))
    conv.register_structure_hook_factory(_is_optional, lambda t: _optional_structurer(conv, t))
    # Factories, not eager registration: each class's function is generated on first use,
    # when the hooks of the classes it nests are all known.
    model_set = frozenset(models.MODELS)
    conv.register_structure_hook_factory(
        lambda t: t in model_set, lambda cls: _model_structurer(conv, cls)
    )
    conv.register_unstructure_hook_factory(
        lambda t: t in model_set,
        lambda cls: make_dict_unstructure_fn(
            cls, conv, _cattrs_omit_if_default=True, **_renames(cls)
        ),
    )
    return conv


def _renames(cls: type[Any]) -> dict[str, Any]:
    from cattrs.gen import override

    attrs.resolve_types(cls)
    return {a.name: override(rename=camel(a.name)) for a in attrs.fields(cls)}


# How many levels of a model that nests itself (``ErrorBody.errors``) are read. Real error
# bodies nest one or two; a hostile server can nest thousands, which must neither exhaust
# the stack nor cost more than the size of the text.
MAX_NESTING = 32

# The nesting level of the self-nesting model being structured, per thread (structuring is
# synchronous: no other structure call runs on the thread in between).
_nesting = threading.local()


def _model_structurer(conv: cattrs.Converter, cls: type[Any]) -> Any:
    from cattrs.gen import make_dict_structure_fn

    inner = make_dict_structure_fn(cls, conv, **_renames(cls))
    nesting_keys = frozenset(camel(name) for name in _nesting_fields(cls))

    def structure_model(value: Any, _: Any) -> Any:
        # cattrs tests keys with `in`, which a string would pass silently.
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object for {cls.__name__}, got {type(value).__name__}")
        return inner(value, cls)

    def structure_nesting(value: Any, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object for {cls.__name__}, got {type(value).__name__}")
        level: int = getattr(_nesting, "level", 0)
        if level >= MAX_NESTING - 1:
            # The last level read: its nested objects are left out, unread.
            value = {k: v for k, v in value.items() if k not in nesting_keys}
        _nesting.level = level + 1
        try:
            return inner(value, cls)
        finally:
            _nesting.level = level

    slow = structure_nesting if nesting_keys else structure_model
    return _fast_structurer(conv, cls, slow) or slow


def _models_in(t: Any) -> set[type]:
    """The model classes a field type names (``list[ErrorBody] | None`` -> ErrorBody)."""
    if t in models.MODELS:
        return {t}
    found: set[type] = set()
    for arg in typing.get_args(t):
        found |= _models_in(arg)
    return found


def _reaches(start: type, target: type) -> bool:
    """Whether an object of ``start`` can hold one of ``target``, at any depth."""
    seen: set[type] = set()
    todo = [start]
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        attrs.resolve_types(cls)
        for field in attrs.fields(cls):
            for model in _models_in(field.type):
                if model is target:
                    return True
                todo.append(model)
    return False


def _nesting_fields(cls: type[Any]) -> list[str]:
    """The fields of ``cls`` through which an object of ``cls`` can hold another one."""
    attrs.resolve_types(cls)
    return [
        field.name
        for field in attrs.fields(cls)
        if any(model is cls or _reaches(model, cls) for model in _models_in(field.type))
    ]


def _fast_structurer(conv: cattrs.Converter, cls: type[Any], slow: Any) -> Any:
    """A straight-line structure function for the well-formed case, or ``None``.

    Events arrive by the thousand: cattrs's generated function with a hook call per
    optional field was ~5.6 us of a message event's ~15 us (benchmarks/event_burst.py).
    This one reads each field once and checks its exact type inline; anything it does not
    expect (a number where a string goes, a list, a bad timestamp) hands the whole object
    to ``slow``, the cattrs function, which converts or raises the detailed error. So
    both give the same result for every input; only the common case is faster.

    ``slow`` is called once at most, and never where its own error would be caught and
    ``slow`` tried again: with a retry per level, objects nested ``n`` deep cost ``2**n``.
    A field through which the model nests itself always goes to ``slow``, which bounds
    the depth (:data:`MAX_NESTING`).
    """
    fields = attrs.fields(cls)
    setters = _slot_setters(cls, fields)
    nesting = set(_nesting_fields(cls))
    lines = [
        "def structure_fast(d, _):",
        "    if type(d) is not dict:",
        "        return slow(d, cls)",
        "    get = d.get",
        "    try:",
    ]
    names: dict[str, Any] = {
        "slow": slow,
        "cls": cls,
        "parse_datetime": parse_datetime,
        "Fallback": _Fallback,
    }
    for field in fields:
        if field.default is not None or not _is_optional(field.type):
            return None
        (inner,) = (a for a in typing.get_args(field.type) if a is not type(None))
        var = f"v_{field.name}"
        key = camel(field.name)
        lines.append(f"        {var} = get({key!r})")
        if inner is str:
            check = f"type({var}) is not str"
            convert = None
        elif inner is bool or inner is int:
            check = f"type({var}) is not {inner.__name__}"
            convert = None
        elif inner in models.ENUMS:
            names[f"E_{field.name}"] = inner
            # The known members by value: a dict lookup, not Enum.__call__.
            names[f"K_{field.name}"] = {m.value: m for m in inner}
            check = f"type({var}) is not str"
            convert = f"K_{field.name}.get({var}) or E_{field.name}({var})"
        elif inner is datetime.datetime:
            check = f"type({var}) is not str"
            convert = f"parse_datetime({var})"
            # The service's form (2024-05-01T12:00:00.123Z) in one C call, without
            # parse_datetime's: a ValueError here hands the object to `slow`, where
            # parse_datetime decides. On 3.11+ this is parse_datetime's own shortcut; on
            # 3.10 (no "Z") its general path minus the padding of 3 digits to 6 (3.10
            # takes 3 or 6), only where the first "." is the seconds' (~1.2 us less).
            names["fromisoformat"] = datetime.datetime.fromisoformat
            shortcut = f"{var}" if FROMISOFORMAT_TAKES_Z else f"{var}[:23] + '+00:00'"
            guard = "" if FROMISOFORMAT_TAKES_Z else f" and {var}.find('.') == 19"
            convert = (
                f"fromisoformat({shortcut}) if len({var}) == 24 and {var}[23] == 'Z'{guard} "
                f"else parse_datetime({var})"
            )
        elif inner in models.MODELS and field.name not in nesting:
            names[f"M_{field.name}"] = inner
            names[f"h_{field.name}"] = _LazyHook(conv, inner)
            check = f"type({var}) is not dict"
            convert = f"h_{field.name}({var}, M_{field.name})"
            if "id" in attrs.fields_dict(inner):
                names[f"T_{field.name}"] = {}
                names["intern"] = _intern
                lines += _interning(field.name, var)
                continue
        else:
            check = "True"  # lists, dicts: only their absence is the fast case
            convert = None
        lines.append(f"        if {var} is not None:")
        lines.append(f"            if {check}:")
        lines.append("                raise Fallback")
        if convert:
            lines.append(f"            {var} = {convert}")
    lines += [
        "    except RecursionError:",
        "        raise",  # the stack is spent: slow would only spend it again
        "    except Exception:",
        "        return slow(d, cls)",  # outside the try: its errors leave as they are
    ]
    if setters is None:
        lines.append(f"    return cls({', '.join(f'{f.name}=v_{f.name}' for f in fields)})")
    else:
        # What attrs's __init__ does for these classes, minus its per-field
        # object.__setattr__ (a lookup through the class for each): ~0.3 us less for
        # the 13 fields of a WebChatMemberInfo.
        names["new"] = object.__new__
        lines.append("    o = new(cls)")
        for field, setter in zip(fields, setters, strict=True):
            names[f"S_{field.name}"] = setter
            lines.append(f"    S_{field.name}(o, v_{field.name})")
        lines.append("    return o")
    exec(compile("\n".join(lines), f"<fast structure {cls.__name__}>", "exec"), names)
    return names["structure_fast"]


def slot_builder(cls: type[T]) -> Callable[..., T]:
    """A constructor of ``cls`` taking every field positionally, for a hot decode path.

    For a slotted attrs class whose ``__init__`` only stores its arguments (no validator,
    converter or hook), it stores each argument in its slot directly, without attrs's
    per-field ``object.__setattr__`` of a frozen class (a lookup through the class for
    each): about 40% less for the 11 fields of a Web Messaging message. Otherwise it is
    ``cls`` itself. Either way ``build(*values) == cls(*values)``.
    """
    fields = attrs.fields(cast(Any, cls))
    setters = _slot_setters(cls, fields)
    if setters is None:
        return cls
    names: dict[str, Any] = {"new": object.__new__, "cls": cls}
    params = ", ".join(f"v{i}" for i in range(len(fields)))
    lines = [f"def build({params}):", "    o = new(cls)"]
    for i, setter in enumerate(setters):
        names[f"s{i}"] = setter
        lines.append(f"    s{i}(o, v{i})")
    lines.append("    return o")
    exec(compile("\n".join(lines), f"<slot builder {cls.__name__}>", "exec"), names)
    build: Callable[..., T] = names["build"]
    return build


def _slot_setters(cls: type[Any], fields: Any) -> list[Any] | None:
    """Each field's slot ``__set__``, or ``None`` if ``cls(...)`` must build it.

    Only for what attrs's generated ``__init__`` does nothing more than store each
    argument: no validator, converter, alias, ``__attrs_pre_init__`` or ``_post_init__``
    (``_fast_structurer`` then builds instances equal to ``cls(...)``'s, field by field).
    """
    if "__slots__" not in cls.__dict__ or any(
        hasattr(cls, hook) for hook in ("__attrs_pre_init__", "__attrs_post_init__")
    ):
        return None
    setters = []
    for field in fields:
        slot = next((k.__dict__[field.name] for k in cls.__mro__ if field.name in k.__dict__), None)
        if (
            type(slot) is not types.MemberDescriptorType
            or field.validator is not None
            or field.converter is not None
            or not field.init
            or field.alias != field.name
        ):
            return None
        setters.append(slot.__set__)
    return setters


# Nested entities repeat: on one guest's stream every message carries the same
# ``conversation`` (``{"id": ...}``) and one of a few ``sender``s. Their instances are
# frozen, so the one built for an equal object can be shared: a lookup by id and a dict
# comparison instead of ~1 us of structuring per object (benchmarks/event_burst.py).
# Only objects whose values are all exactly ``str`` are kept (then an equal object is the
# same input: the result and the errors cannot differ, and nothing mutable is shared),
# one per id, the latest, and at most _INTERN_LIMIT per field: the table is emptied when
# full.
_INTERN_LIMIT = 256


class _Fallback(Exception):
    """Raised inside a fast structure function: the object goes to the cattrs function."""


def _interning(name: str, var: str) -> list[str]:
    """Lines of the fast structure function for the nested model field ``name``."""
    return [
        f"        if {var} is not None:",
        f"            if type({var}) is not dict:",
        "                raise Fallback",
        f"            for x in {var}.values():",
        "                if type(x) is not str:",
        f"                    {var} = h_{name}({var}, M_{name})",
        "                    break",
        "            else:",
        f"                e = T_{name}.get({var}.get('id'))",
        f"                if e is not None and e[0] == {var}:",
        f"                    {var} = e[1]",
        "                else:",
        f"                    {var} = intern(T_{name}, {var}, h_{name}({var}, M_{name}))",
    ]


def _intern(table: dict[Any, tuple[dict[str, str], Any]], value: dict[str, str], obj: Any) -> Any:
    if len(table) >= _INTERN_LIMIT:
        table.clear()
    table[value.get("id")] = (dict(value), obj)  # a copy: the caller's dict may change
    return obj


class _LazyHook:
    """The converter's hook for a nested model, looked up on first use (models nest)."""

    __slots__ = ("_cls", "_conv", "_hook")

    def __init__(self, conv: cattrs.Converter, cls: type[Any]) -> None:
        self._conv = conv
        self._cls = cls
        self._hook: Any = None

    def __call__(self, value: Any, cls: type[Any]) -> Any:
        hook = self._hook
        if hook is None:
            hook = self._hook = self._conv.get_structure_hook(self._cls)
        return hook(value, cls)


def _is_list(t: Any) -> bool:
    return typing.get_origin(t) is list


def _list_structurer(conv: cattrs.Converter, t: Any) -> Any:
    (item_type,) = typing.get_args(t) or (Any,)
    item = conv.get_structure_hook(item_type)

    def structure_list(value: Any, _: Any) -> list[Any]:
        # A string is iterable, but never a list the service meant.
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return [item(v, item_type) for v in value]

    return structure_list


def _is_optional(t: Any) -> bool:
    origin = typing.get_origin(t)
    if origin is not typing.Union and origin is not types.UnionType:
        return False
    args = typing.get_args(t)
    return len(args) == 2 and type(None) in args


def _optional_structurer(conv: cattrs.Converter, t: Any) -> Any:
    # cattrs's own Optional hook looks the inner type's hook up on every call, which was
    # most of the cost of structuring a message (almost every model field is optional).
    # Here it is looked up once, on first use (not now: a model may nest itself).
    (inner_type,) = (a for a in typing.get_args(t) if a is not type(None))
    inner: Any = None

    def structure_optional(value: Any, _: Any) -> Any:
        nonlocal inner
        if value is None:
            return None
        if inner is None:
            inner = conv.get_structure_hook(inner_type)
        return inner(value, inner_type)

    return structure_optional


def _unstructure_enum(value: models._OpenEnum) -> str:
    return str.__str__(value)


_converter: cattrs.Converter | None = None


def get_converter() -> cattrs.Converter:
    """The converter, built on first use."""
    global _converter
    if _converter is None:
        _converter = _make_converter()
    return _converter


# Each class's hook, looked up once: the converter's dispatch per call (a cached lookup
# behind two calls) was ~1 us of every REST answer (benchmarks/rest_load.py).
_hooks: dict[Any, Callable[[Any, Any], Any]] = {}


def structure(data: Any, cls: type[T]) -> T:
    """Turn decoded JSON into a model; raise :class:`DecodeError` if it does not fit."""
    if type(data) is not dict and not isinstance(data, Mapping):
        raise DecodeError(f"expected a JSON object for {cls.__name__}, got {type(data).__name__}")
    hook = _hooks.get(cls) or _hook(cls)
    try:
        result: T = hook(data, cls)
    except Exception as exc:  # cattrs raises several types; one SDK error leaves here
        raise DecodeError(f"could not decode {cls.__name__}: {_describe(exc)}") from exc
    return result


def _hook(cls: type[Any]) -> Callable[[Any, Any], Any]:
    """The class's structure hook, from the converter on first use, then from ``_hooks``."""
    hook = _hooks.get(cls)
    if hook is None:
        hook = _hooks[cls] = (_converter or get_converter()).get_structure_hook(cls)
    return hook


def structurer(cls: type[T]) -> Callable[[Any], T]:
    """``lambda data: structure(data, cls)``, minus the converter's dispatch per call.

    For the hot paths (every event frame): the class's hook is looked up on the first
    call (not now: the converter is built on first use) and then called directly; the
    result, and the :class:`DecodeError` for anything that does not fit, are exactly
    :func:`structure`'s.
    """
    hook: Callable[[Any, type[T]], T] | None = None
    name = cls.__name__

    def structure_one(data: Any) -> T:
        nonlocal hook
        if type(data) is not dict:
            return structure(data, cls)  # its type check and error text
        if hook is None:
            hook = _hook(cls)
        try:
            return hook(data, cls)
        except Exception as exc:  # as in structure(): one SDK error leaves here
            raise DecodeError(f"could not decode {name}: {_describe(exc)}") from exc

    return structure_one


def unstructure(obj: Any) -> Any:
    """Turn a model into JSON-ready data with camelCase keys and no ``None`` fields."""
    return (_converter or get_converter()).unstructure(obj)


class JSONTooDeep(ValueError):
    """JSON nested deeper than the parser's recursion limit."""


def parse_json(text: str | bytes) -> Any:
    """Decode JSON from the wire; ``ValueError`` for anything that is not JSON.

    ``json.loads`` raises ``RecursionError`` for a few kilobytes of ``[[[[...``, which is
    not a ``ValueError``: here it is one (:class:`JSONTooDeep`), so that every caller's
    ``except ValueError`` covers it.
    """
    loads = _fast_loads or _find_fast_loads()
    if loads is not None and not _may_hold_big_int(text):
        try:
            return loads(text)
        except ValueError:
            pass  # json.loads decides: same result, same errors, for every input
    return _exact_loads(text)


def _exact_loads(text: str | bytes) -> Any:
    """``json.loads``, its ``RecursionError`` as :class:`JSONTooDeep` (a ``ValueError``)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise JSONTooDeep("JSON nested too deeply") from None


def parse_json_fast(text: str | bytes) -> tuple[Any, bool]:
    """:func:`parse_json` without its look for integers past 64 bits: ``(data, exact)``.

    ``exact`` is ``False`` when orjson read the text: an integer past 64 bits is then a
    float. Only for a decoder that bounds every integer it keeps to 64 bits and checks
    the raw values it keeps (:mod:`webchat_async.messaging._wire`), so that its results
    do not depend on orjson either; the look costs about a third of orjson's parse.
    Bytes must be UTF-8 (``json.loads`` would also read UTF-16 and UTF-32).
    """
    loads = _fast_loads or _find_fast_loads()
    if loads is not None:
        try:
            return loads(text), False
        except ValueError:
            pass  # json.loads decides, as in parse_json
    return _exact_loads(text.decode("utf-8") if type(text) is bytes else text), True


# orjson.loads when the `speedups` extra is installed: ~3x faster than json.loads on an
# event frame (benchmarks/event_burst.py). It is stricter (NaN, infinities, lone
# surrogates, depth past 1,024 fail), and json.loads gets every text it refuses, so the
# result never depends on whether it is installed.
_fast_loads: Callable[[str | bytes], Any] | None = None
_fast_dumps: Callable[[Any], bytes] | None = None
_orjson_looked_up = False

# Digits to "0", every other byte to " ": a run of 19 "0"s is a run of 19 digits.
_DIGIT_MASK = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_BIG_INT_DIGITS = b"0" * 19


def _may_hold_big_int(text: str | bytes) -> bool:
    """Whether ``text`` has a run of 19 digits, which a number past 64 bits needs.

    orjson reads an integer past 64 bits (``-2**63 - 1`` has 19 digits) as a float, where
    ``json.loads`` keeps it exact; every other number it reads as ``json.loads`` does
    (both round decimals correctly). Such a text goes to ``json.loads``; a run inside a
    string sends it there too, at no cost but speed. One pass in C over the bytes: about
    half the cost of walking the parsed result for floats, which this replaced.
    """
    if type(text) is bytes:
        raw = text
    elif isinstance(text, str):
        raw = text.encode("utf-8", "surrogatepass")
    else:  # a bytearray or a memoryview
        raw = bytes(text)
    # find, not "in": bytes.__contains__ tries its argument as an int first, and raises and
    # clears a formatted TypeError for a bytes one (~1k instructions).
    return raw.translate(_DIGIT_MASK).find(_BIG_INT_DIGITS) != -1


def _find_fast_loads() -> Callable[[str | bytes], Any] | None:
    _find_orjson()
    return _fast_loads


def _find_orjson() -> None:
    global _fast_loads, _fast_dumps, _orjson_looked_up
    if not _orjson_looked_up:
        _orjson_looked_up = True
        try:
            import orjson
        except ImportError:
            return
        _fast_loads = orjson.loads
        _fast_dumps = orjson.dumps


def loads(text: str | bytes, cls: type[T]) -> T:
    """Parse JSON text straight into a model (a lone surrogate in it: ``DecodeError``)."""
    try:
        data, unchecked = parse_json_checked(text)
    except ValueError as exc:
        raise DecodeError(f"invalid JSON for {cls.__name__}: {exc.__class__.__name__}") from exc
    result = structure(data, cls)
    if unchecked and cls in _MODEL_SET:
        where = lone_surrogate_path(result)
        if where is not None:
            raise DecodeError(f"could not decode {cls.__name__}: {_INVALID_UNICODE} @ {where}")
    return result


def parse_json_checked(text: str | bytes) -> tuple[Any, bool]:
    """:func:`parse_json`, and whether a string of the result may hold a lone surrogate.

    orjson refuses lone surrogates, so what it parsed holds none (the common case costs
    nothing more); what ``json.loads`` parsed is looked at by :func:`may_hold_surrogates`.
    """
    loads = _fast_loads or _find_fast_loads()
    if loads is not None and not _may_hold_big_int(text):
        try:
            return loads(text), False
        except ValueError:
            pass  # json.loads decides, as in parse_json
    return _exact_loads(text), may_hold_surrogates(text)


_MODEL_SET = frozenset(models.MODELS)
_INVALID_UNICODE = "a string holds a lone surrogate (invalid unicode)"

# A UTF-16 surrogate code point: never valid alone in a str (no encoder takes it). JSON
# text gets one from a \ud800-\udfff escape, or from bytes json.loads reads with
# "surrogatepass" (UTF-8 ED A0..BF).
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_UTF8 = re.compile(b"\xed[\xa0-\xbf]")


def may_hold_surrogates(text: str | bytes) -> bool:
    """Whether JSON ``text`` may decode to a string with a lone surrogate.

    ``False`` is certain; ``True`` (an escape ``\\ud...``, a surrogate pair for an emoji
    among them, or raw surrogates) asks for :func:`lone_surrogate_path` on the result.
    Only for what ``json.loads`` parsed (see :func:`parse_json_checked`).
    """
    if isinstance(text, str):
        if "\\ud" in text or "\\uD" in text:
            return True
        if text.isascii():
            return False
        try:
            text.encode("utf-8")  # in C, ~3x faster than a search for the characters
        except UnicodeEncodeError:
            return True
        return False
    raw = text if type(text) is bytes else bytes(text)
    if b"\\ud" in raw or b"\\uD" in raw:
        return True
    # UTF-16 and UTF-32 texts (json.loads detects them by their zero bytes) are not
    # looked into: they may hold anything.
    return not raw.isascii() and (b"\x00" in raw[:4] or _SURROGATE_UTF8.search(raw) is not None)


def lone_surrogate_path(value: Any, path: str = "$") -> str | None:
    """Where in ``value`` (a model, an event, a list, a dict, a string) a string holds a
    lone surrogate, as ``$.sender.id``, or ``None``. The path names fields, never values."""
    if isinstance(value, str):
        return path if not value.isascii() and _SURROGATE.search(value) else None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = lone_surrogate_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            found = lone_surrogate_path(key, f"{path}.<key>") or lone_surrogate_path(
                item, f"{path}.*"
            )
            if found is not None:
                return found
    elif attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            found = lone_surrogate_path(getattr(value, field.name), f"{path}.{camel(field.name)}")
            if found is not None:
                return found
    return None


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate written as its escape (``\\ud800``): printable."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# json.dumps with any argument of its own builds a JSONEncoder per call (~3 us): one, kept.
_encode_wire = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dump_json(data: Any) -> str:
    """JSON as it goes on the wire: compact, non-ASCII text kept as it is."""
    return _encode_wire(data)


def dump_json_bytes(data: Any) -> bytes:
    """``dump_json(data).encode()``: the same bytes, the same errors; faster with orjson.

    orjson writes the same text for exact ``str``, ``int``, ``bool``, ``None``, ``list``
    and ``dict`` (it escapes as ``json.dumps`` with ``ensure_ascii=False`` does), but not
    for floats (``1e16`` for ``1e+16``, ``null`` for NaN), and it refuses some of what
    ``json.dumps`` takes (integers past 64 bits, keys that are not strings, lone
    surrogates, deep nesting). So anything but those exact types goes to ``json.dumps``,
    and so does anything orjson refuses. A message body costs ~0.3 us instead of ~2 us.
    """
    if not _orjson_looked_up:
        _find_orjson()
    dumps = _fast_dumps
    if dumps is not None and _plain(data):
        try:
            return dumps(data)
        except TypeError:  # orjson.JSONEncodeError
            pass
    return dump_json(data).encode()


_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})
# More containers than any request body has: past this (or in a cycle) json.dumps decides.
_PLAIN_MAX_CONTAINERS = 256


def _plain(data: Any) -> bool:
    """Whether ``data`` is made of exact dicts, lists, strs, ints, bools and ``None``."""
    stack = [data]
    containers = 0
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind in _PLAIN_SCALARS:
            continue
        else:
            return False
        containers += 1
        if containers > _PLAIN_MAX_CONTAINERS:
            return False
    return True


def dumps(obj: Any) -> str:
    """Serialize a model to compact JSON."""
    return dump_json(unstructure(obj))


def _describe(exc: BaseException) -> str:
    # cattrs names the path and the expected type, never the value: the value is whatever
    # the server sent, and error texts must stay free of data that might be secret.
    import cattrs  # already loaded: a conversion was running

    return "; ".join(cattrs.transform_error(exc, path="$"))[:500]
