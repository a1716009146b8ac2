"""Frozen value classes that are dataclasses to every caller, without importing ``dataclasses``.

Every start loads the settings model and the store, and ``configurator show``
must start fast; but ``import dataclasses`` imports ``inspect`` (and with it
``ast``, ``dis`` and ``tokenize``), which here costs more than the model, the
store and the decryption together, and each ``@dataclass`` then compiles its
methods from source text.  The value classes of the start path are declared
with ``@frozen`` instead: the same class body, the same behaviour as
``@dataclass(frozen=True)``:

- construction by position or keyword, with the declared defaults;
- ``repr`` of every field but those declared ``field(default=..., repr=False)``;
- equality with an instance of the same class, and a hash, over all fields;
- ``dataclasses.FrozenInstanceError`` on assigning or deleting a field.

``dataclasses.fields``, ``replace``, ``asdict`` and ``is_dataclass`` accept
these classes: ``__dataclass_fields__`` (and ``__dataclass_params__``) are
taken from a real frozen dataclass of the same fields, built the first time
anyone asks for them.  ``tests/test_frozen.py`` checks all of this against
``@dataclass(frozen=True)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")
_C = TypeVar("_C", bound=type)

# The methods @frozen writes; a class that defines one itself is refused.
_GENERATED = ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__")


class _Field:
    """What ``field()`` puts into a class body until ``@frozen`` reads it."""

    __slots__ = ("default", "repr")

    def __init__(self, default: object, repr: bool) -> None:
        self.default = default
        self.repr = repr


def field(*, default: T, repr: bool = True) -> T:
    """A field with a default, left out of ``repr`` when ``repr=False`` (a secret)."""
    return _Field(default, repr)  # type: ignore[return-value]


class _FromDataclass:
    """A class attribute taken, on first use, from an equivalent real dataclass."""

    def __init__(self, name: str, build: Callable[[], type]) -> None:
        self._name = name
        self._build = build

    def __get__(self, instance: object, owner: type) -> Any:
        value = getattr(self._build(), self._name)
        setattr(owner, self._name, value)  # from now on a plain class attribute
        return value


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def frozen(cls: _C) -> _C:
    """Make ``cls`` a frozen value class with the fields its annotations declare."""
    own = cls.__dict__
    taken = [name for name in _GENERATED if name in own]
    if taken:
        raise TypeError(f"{cls.__name__} defines {', '.join(taken)}, which @frozen writes")
    if cls.__bases__ != (object,):
        raise TypeError(f"{cls.__name__}: a @frozen class has no base class")
    annotations: dict[str, object] = own.get("__annotations__", {})
    names = tuple(
        name
        for name, annotation in annotations.items()
        if not str(annotation).startswith(("ClassVar", "typing.ClassVar"))
    )
    defaults: dict[str, object] = {}
    shown: list[str] = []
    for name in names:
        declared = own.get(name, _Field)
        if isinstance(declared, _Field):
            defaults[name] = declared.default
            setattr(cls, name, declared.default)
            if declared.repr:
                shown.append(name)
            continue
        if declared is not _Field:
            defaults[name] = declared
        elif defaults:
            raise TypeError(f"non-default argument {name!r} follows default argument")
        shown.append(name)
    qualname = cls.__qualname__
    klass: type = cls

    def __init__(self: object, *args: object, **kwargs: object) -> None:  # noqa: N807
        if len(args) > len(names):
            raise TypeError(
                f"{qualname}.__init__() takes {len(names) + 1} positional arguments "
                f"but {len(args) + 1} were given"
            )
        values = dict(zip(names, args, strict=False))
        for name, value in kwargs.items():
            if name not in names:
                raise TypeError(
                    f"{qualname}.__init__() got an unexpected keyword argument {name!r}"
                )
            if name in values:
                raise TypeError(f"{qualname}.__init__() got multiple values for argument {name!r}")
            values[name] = value
        missing = [name for name in names if name not in values and name not in defaults]
        if missing:
            raise TypeError(
                f"{qualname}.__init__() missing {len(missing)} required argument(s): "
                + ", ".join(repr(name) for name in missing)
            )
        state = vars(self)
        for name in names:
            state[name] = values[name] if name in values else defaults[name]

    def __repr__(self: object) -> str:  # noqa: N807
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{type(self).__qualname__}({inner})"

    def __eq__(self: object, other: object) -> bool:  # noqa: N807
        if other.__class__ is not self.__class__:
            return NotImplemented
        return tuple(getattr(self, name) for name in names) == tuple(
            getattr(other, name) for name in names
        )

    def __hash__(self: object) -> int:  # noqa: N807
        return hash(tuple(getattr(self, name) for name in names))

    def __setattr__(self: object, name: str, value: object) -> None:  # noqa: N807
        if type(self) is klass or name in names:
            raise _frozen_error(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self: object, name: str) -> None:  # noqa: N807
        if type(self) is klass or name in names:
            raise _frozen_error(f"cannot delete field {name!r}")
        object.__delattr__(self, name)

    for method in (__init__, __repr__, __eq__, __hash__, __setattr__, __delattr__):
        method.__qualname__ = f"{qualname}.{method.__name__}"
        setattr(cls, method.__name__, method)
    type.__setattr__(cls, "__match_args__", names)

    def equivalent() -> type:
        import dataclasses

        specs = [
            (name, annotations[name], dataclasses.field(default=defaults[name], repr=name in shown))
            if name in defaults
            else (name, annotations[name])
            for name in names
        ]
        return dataclasses.make_dataclass(cls.__name__, specs, frozen=True)

    built: list[type] = []

    def build_once() -> type:
        if not built:
            built.append(equivalent())
        return built[0]

    for attribute in ("__dataclass_fields__", "__dataclass_params__"):
        setattr(cls, attribute, _FromDataclass(attribute, build_once))
    return cls


def _frozen_error(message: str) -> AttributeError:
    from dataclasses import FrozenInstanceError

    return FrozenInstanceError(message)
