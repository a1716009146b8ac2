"""@frozen value classes behave as @dataclass(frozen=True) ones, and dataclasses accepts them."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from configurator.frozen import field, frozen

REPO = Path(__file__).resolve().parents[1]


@frozen
class Light:
    """A value with a required field, defaults and a secret."""

    name: str
    port: int = 25
    secret: str = field(default="", repr=False)
    tags: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Real:
    """The same value as a real frozen dataclass."""

    name: str
    port: int = 25
    secret: str = dataclasses.field(default="", repr=False)
    tags: tuple[str, ...] = ()


CALLS: list[tuple[tuple[object, ...], dict[str, object]]] = [
    (("a",), {}),
    (("a", 587), {}),
    (("a",), {"secret": "s", "tags": ("x",)}),
    ((), {"name": "a", "port": 465}),
    (("a", 1, "s", ("t",)), {}),
]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_construction_repr_equality_and_hash_match_a_frozen_dataclass(
    args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    light, real = Light(*args, **kwargs), Real(*args, **kwargs)  # type: ignore[arg-type]
    assert repr(light).replace("Light", "Real") == repr(real)
    assert "secret" not in repr(light)
    assert light == Light(*args, **kwargs)  # type: ignore[arg-type]
    assert hash(light) == hash(Light(*args, **kwargs))  # type: ignore[arg-type]
    assert hash(light) == hash(dataclasses.astuple(real))
    assert dataclasses.astuple(light) == dataclasses.astuple(real)
    assert dataclasses.asdict(light) == dataclasses.asdict(real)


def test_equality_needs_the_same_class_and_every_field() -> None:
    assert Light("a") != Light("b")
    assert Light("a") != Light("a", secret="s")
    assert Light("a") != Real("a")
    assert Light("a") != ("a", 25, "", ())
    nan = float("nan")
    assert Light("a", nan) == Light("a", nan)  # the same object, compared as tuples compare


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {}),  # the required field is missing
        (("a", 1, "s", (), "extra"), {}),  # too many positional arguments
        (("a",), {"name": "b"}),  # given twice
        (("a",), {"colour": "red"}),  # not a field
    ],
)
def test_wrong_arguments_are_refused_as_by_a_dataclass(
    args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    with pytest.raises(TypeError):
        Real(*args, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Light(*args, **kwargs)  # type: ignore[arg-type]


def test_fields_cannot_be_assigned_or_deleted() -> None:
    light = Light("a")
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'name'"):
        light.name = "b"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'other'"):
        light.other = 1  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'port'"):
        del light.port  # type: ignore[misc]
    assert light.name == "a"


def test_dataclasses_functions_accept_it() -> None:
    light = Light("a", 587, "s")
    assert dataclasses.is_dataclass(light)
    assert dataclasses.is_dataclass(Light)
    assert [f.name for f in dataclasses.fields(Light)] == ["name", "port", "secret", "tags"]
    assert [f.repr for f in dataclasses.fields(light)] == [True, True, False, True]
    assert [f.default for f in dataclasses.fields(Light)][1:] == [25, "", ()]
    assert Light.__dataclass_params__.frozen
    changed = dataclasses.replace(light, port=465)
    assert type(changed) is Light
    assert changed == Light("a", 465, "s")
    assert light == Light("a", 587, "s")
    with pytest.raises(TypeError):
        dataclasses.replace(light, colour="red")


def test_copies_and_pickles_are_equal() -> None:
    light = Light("a", 587, "s", ("x",))
    assert copy.copy(light) == light
    assert copy.deepcopy(light) == light
    assert pickle.loads(pickle.dumps(light)) == light  # noqa: S301 (our own bytes)


def test_match_args_allow_positional_patterns() -> None:
    match Light("a", 587):
        case Light(name, port):
            assert (name, port) == ("a", 587)
        case _:
            pytest.fail("no match")


def test_a_field_without_default_after_one_with_a_default_is_refused() -> None:
    with pytest.raises(TypeError, match="non-default argument 'late'"):

        @frozen
        class Broken:
            early: int = 1
            late: int


def test_a_class_that_writes_the_methods_itself_is_refused() -> None:
    with pytest.raises(TypeError, match="__eq__"):

        @frozen
        class Broken:
            value: int

            def __eq__(self, other: object) -> bool:
                return True

            __hash__ = object.__hash__


def test_declaring_a_value_does_not_import_dataclasses() -> None:
    """The point of @frozen: ``dataclasses`` (and ``inspect``) load only when something asks."""
    code = (
        "import sys\n"
        "from configurator import model, store\n"
        "s = model.Settings(account_name='x', password='hidden-1')\n"
        "assert s == model.Settings(account_name='x', password='hidden-1')\n"
        "assert 'hidden-1' not in repr(s)\n"
        "print(sorted({'dataclasses', 'inspect'} & set(sys.modules)))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert completed.stdout.strip() == "[]"
