"""Stripe's published types, as stripe-python's typed classes declare them.

The sandbox's fake answers and generated objects are checked against these classes
(``conformance``) and its ``expand[]`` rules are read from them (``expansion``): Stripe
is the truth, not our fake. This module is the one place that turns an ``object`` value
into its class and an annotation into what it names. Nothing here touches the network.
"""

from __future__ import annotations

import inspect
import re
import sys
import typing
from functools import cache
from importlib import import_module
from typing import Any, ForwardRef

from stripe import ListObject, StripeObject, convert_to_stripe_object


@cache
def class_for(object_name: str) -> type[StripeObject] | None:
    """stripe-python's class for a value of Stripe's ``object`` field (None if unknown).

    The mapping is the one stripe-python itself deserializes responses with, asked
    through its public ``convert_to_stripe_object`` (it has no public table of it).
    """
    cls = type(convert_to_stripe_object({"object": object_name}))
    return None if cls is StripeObject else cls


def is_untyped_map(annotation: Any) -> bool:
    """Whether an annotation is stripe-python's untyped map (``UntypedStripeObject[T]``:
    ``metadata`` and the like), bare or with its value type.

    stripe-python does not export that class, so it is told by what it is: a
    ``StripeObject`` generic in its values that is not a ``ListObject``.
    """
    cls = typing.get_origin(annotation) or annotation
    return (
        isinstance(cls, type)
        and issubclass(cls, StripeObject)
        and not issubclass(cls, ListObject)
        and bool(getattr(cls, "__parameters__", ()))
    )


# An import of the ``if TYPE_CHECKING:`` block, its names on one line (parentheses undone).
_IMPORT = re.compile(r"^\s+from ([\w.]+) import (.+)$")


@cache
def namespace(module_name: str) -> dict[str, Any]:
    """The module's globals plus what it imports only for type checking.

    stripe-python imports the classes its annotations name under ``if TYPE_CHECKING:``
    (``ExpandableField["Coupon"]``), so the names are not bound at run time; the imports
    are read from the module's source, once. (As text, not with ``ast``: CPython 3.11's
    parser can fail with "AST constructor recursion depth mismatch" when it is first
    called deep inside the recursive checks that need it.)
    """
    module = sys.modules[module_name]
    ns = dict(vars(module))
    for line in _type_checking_block(inspect.getsource(module)):
        if m := _IMPORT.match(line):
            imported = import_module(m[1])
            for name in m[2].split(","):
                original, _, alias = name.strip().partition(" as ")
                found = getattr(imported, original, None) if original else None
                if found is not None:
                    ns[alias or original] = found
    return ns


def _type_checking_block(source: str) -> list[str]:
    """The lines of a module's ``if TYPE_CHECKING:`` block, each import on one line."""
    text = re.sub(r"\(([^)]*)\)", lambda m: m[1].replace("\n", " "), source)
    block: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("if TYPE_CHECKING:"):
            inside = True
        elif inside and line and not line[0].isspace():
            inside = False
        elif inside:
            block.append(line)
    return block


def resolve(annotation: Any, owner: type) -> Any:
    """A forward reference in ``owner``'s annotations (``"Discount"``, always a bare class
    name in stripe-python) as the class it names, None when it names nothing; any other
    annotation as it is."""
    if isinstance(annotation, str):
        annotation = ForwardRef(annotation)
    if isinstance(annotation, ForwardRef):
        name = annotation.__forward_arg__
        return vars(owner).get(name) or namespace(owner.__module__).get(name)
    return annotation
