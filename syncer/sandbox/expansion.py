"""Stripe's ``expand[]`` for the fake: which paths Stripe accepts, and what they render.

What can be expanded is not a hand list: it is read from Stripe's published types, the
typed classes of stripe-python. A field annotated ``ExpandableField[X]`` (at run time
``Union[str, X]``) holds an id that ``expand[]`` replaces by the X object; a
``ListObject[X]`` is walked through with ``data``; any other ``StripeObject`` field (or
list of them) is a plain nested object a path may step through (``discounts.source.coupon``).
The path rules are Stripe's ("Expanding responses"): segments are dot-separated, a list
request's paths start with ``data.``, at most four segments count in all (``data``
included), and the last one must name an expandable field.

A request's paths are compiled once into a ``Plan`` (cached per object type and paths);
rendering a plan walks the object and asks a resolver for each id it expands.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from stripe import ListObject, StripeObject

from syncer.sandbox.stripe_types import class_for, resolve

JSON = dict[str, Any]

MAX_DEPTH = 4  # Stripe refuses paths of more segments, ``data`` segments included

# Fields a path may name at its end although they are not ExpandableFields: "includable"
# fields, left out of an answer unless asked for. stripe-python's types do not mark them
# (a price's ``tiers`` is a plain ``List[Tier]`` there), so they are listed by hand; the
# fake serves only prices' ``tiers`` this way, which tiered MRR needs.
INCLUDABLE: dict[str, frozenset[str]] = {"price": frozenset({"tiers"})}


class ExpandError(Exception):
    """A path Stripe refuses (400 ``invalid_request_error`` on ``expand[index]``)."""

    def __init__(self, message: str, index: int, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = f"expand[{index}]"
        self.code = code


# ---- Stripe's types ---------------------------------------------------------------------


@dataclass(frozen=True)
class _ListOf:
    """A ``ListObject[X]`` field: its one path segment is ``data``, the X entries."""

    entries: tuple[type, ...]


Shape = tuple[type | _ListOf, ...]  # what a value may be (an expandable id: several classes)
Kind = Literal["expand", "walk", "include"]


@dataclass(frozen=True)
class FieldType:
    kind: Kind  # expand: an id becomes an object; walk: step into it; include: an includable
    shape: Shape  # what the value is once expanded (or stepped into)


def _is_object_class(value: Any) -> TypeGuard[type]:
    return isinstance(value, type) and issubclass(value, StripeObject)


def _field_type(annotation: Any, owner: type) -> FieldType | None:
    """Classify one annotation; None for scalars, hashes and anything not walkable."""
    annotation = resolve(annotation, owner)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if str in members:  # ExpandableField[X] is Union[str, X]
            targets = tuple(resolve(a, owner) for a in members if a is not str)
            classes = tuple(t for t in targets if _is_object_class(t))
            return FieldType("expand", classes) if classes else None
        if len(members) == 1:
            return _field_type(members[0], owner)
        classes = tuple(c for c in (resolve(a, owner) for a in members)
                        if _is_object_class(c))
        return FieldType("walk", classes) if classes else None
    if origin is list:
        return _field_type(args[0], owner) if args else None
    if isinstance(origin, type) and issubclass(origin, ListObject):
        entry = resolve(args[0], owner) if args else None
        entries: tuple[type, ...] = (entry,) if _is_object_class(entry) else ()
        return FieldType("walk", (_ListOf(entries),))
    if _is_object_class(annotation):
        return FieldType("walk", (annotation,))
    return None


@functools.cache
def field_type(cls: type | _ListOf, name: str) -> FieldType | None:
    """What ``name`` is on objects of ``cls``, from stripe-python's annotations (cached)."""
    if isinstance(cls, _ListOf):
        return FieldType("walk", cls.entries) if name == "data" else None
    object_name = getattr(cls, "OBJECT_NAME", None)
    if isinstance(object_name, str) and name in INCLUDABLE.get(object_name, ()):
        return FieldType("include", ())
    for klass in cls.__mro__:
        own = inspect.get_annotations(klass)
        if name in own and not name.startswith("_"):
            return _field_type(own[name], klass)
    return None


def object_class(object_name: str) -> type:
    """The stripe-python class of an ``object`` value (``"subscription"``)."""
    cls = class_for(object_name)
    if cls is None:
        raise KeyError(object_name)
    return cls


# ---- plans -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One field of a plan: expand it (or step into it), then apply ``children`` inside."""

    field: str
    kind: Kind
    targets: tuple[str, ...]  # object names an expanded id may be (``("coupon",)``)
    children: tuple[Step, ...]
    key: str  # the paths this step stands for, canonical (a cache key part)


@dataclass(frozen=True)
class Plan:
    """A request's expansions, relative to one object of the list (or the retrieved one)."""

    steps: tuple[Step, ...] = ()

    def includes(self, fieldname: str) -> bool:
        return any(s.field == fieldname and s.kind == "include" for s in self.steps)

    def key_for(self, obj: JSON) -> tuple[str, ...]:
        """The steps that change ``obj`` (its fields they start from are set): objects an
        expansion leaves as they are share one cached answer."""
        return tuple(s.key for s in self.steps if obj.get(s.field))

    def only(self, keys: tuple[str, ...]) -> Plan:
        return Plan(tuple(s for s in self.steps if s.key in keys))


NO_PLAN = Plan()


def _cannot_expand(segment: str, index: int) -> ExpandError:
    return ExpandError(f"This property cannot be expanded ({segment}).", index)


def _too_deep(path: str, index: int) -> ExpandError:
    return ExpandError(f"You cannot expand more than {MAX_DEPTH} levels of a property. "
                       f"Property: {path}", index, code="property_expansion_max_depth")


def _check(root: type, segments: list[str], index: int) -> list[tuple[str, FieldType]]:
    """The type of each segment, or the error Stripe gives for the first one it refuses."""
    shape: Shape = (root,)
    typed: list[tuple[str, FieldType]] = []
    for depth, segment in enumerate(segments, 1):
        found = next((t for t in (field_type(c, segment) for c in shape) if t), None)
        if found is None or (found.kind == "include" and depth < len(segments)):
            raise _cannot_expand(segment, index)
        typed.append((segment, found))
        shape = found.shape
    if typed[-1][1].kind == "walk":  # a path ends on what it expands
        raise _cannot_expand(segments[-1], index)
    return typed


_Tree = dict[str, tuple[FieldType, "_Tree"]]


def _steps(tree: _Tree, prefix: str) -> tuple[Step, ...]:
    out = []
    for name in sorted(tree):
        ftype, sub = tree[name]
        path = f"{prefix}{name}"
        children = _steps(sub, path + ".")
        targets = tuple(str(getattr(c, "OBJECT_NAME", "")) for c in ftype.shape
                        if isinstance(c, type)) if ftype.kind == "expand" else ()
        # Going through a field expands it too: "discounts" adds nothing to
        # "discounts.source.coupon", so the key names the longest paths only.
        key = ",".join(c.key for c in children) if children else path
        out.append(Step(name, ftype.kind, targets, children, key))
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def compile_plan(object_name: str, paths: tuple[str, ...], *, listed: bool) -> Plan:
    """Check a request's ``expand[]`` paths against the types of ``object_name`` (the type
    of each entry on a list endpoint) and compile them. Raises ``ExpandError``."""
    root = object_class(object_name)
    tree: _Tree = {}
    for index, path in enumerate(paths):
        segments = path.split(".")
        if len(segments) > MAX_DEPTH:
            raise _too_deep(path, index)
        if listed:
            if segments[0] != "data":
                raise ExpandError(f"This property cannot be expanded ({segments[0]}). You may "
                                  f"want to try expanding 'data.{path}' instead.", index)
            segments = segments[1:]
        if not segments or not all(segments):
            raise _cannot_expand(path, index)
        node = tree
        for segment, ftype in _check(root, segments, index):
            node = node.setdefault(segment, (ftype, {}))[1]
    return Plan(_steps(tree, ""))


def plan_for(object_name: str, paths: Iterable[str], *, listed: bool) -> Plan:
    """The plan of a request's paths (compiled once per object type and paths)."""
    given = tuple(paths)  # in the request's order: an error names ``expand[i]``
    return compile_plan(object_name, given, listed=listed) if given else NO_PLAN


# ---- rendering ---------------------------------------------------------------------------

# Finds the object an id names: (object names it may be, id, what to expand inside it).
Resolver = Callable[[tuple[str, ...], str, tuple[Step, ...]], JSON | None]


def apply(obj: JSON, steps: tuple[Step, ...], resolve: Resolver) -> JSON:
    """``obj`` with ``steps`` applied (copies what it changes; ``obj`` is left alone)."""
    out = obj
    for step in steps:
        value = obj.get(step.field)
        if not value or step.kind == "include":
            continue
        new = _apply_value(value, step, resolve)
        if new is not value:
            if out is obj:
                out = dict(obj)
            out[step.field] = new
    return out


def _apply_value(value: Any, step: Step, resolve: Resolver) -> Any:
    if isinstance(value, list):
        return [_apply_value(v, step, resolve) for v in value]
    if step.kind == "expand" and isinstance(value, str):
        # An id the fake's account does not hold (a payment method, say) stays an id.
        found = resolve(step.targets, value, step.children)
        return value if found is None else found
    if isinstance(value, dict):
        return apply(value, step.children, resolve)
    return value
