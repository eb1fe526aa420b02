"""An apply callback's error keeps the traceback of its own raise (``mlws.render.apply_origin``).

The Pulumi SDK re-raises a failed apply's exception from every output that depends on it, and
under load the traceback it finally surfaced with held only the SDK's frames: ``mlws render`` then
named no line of the program (CI, docs/promotion.md's figure)."""

from __future__ import annotations

import traceback
from types import TracebackType

import pulumi
import pytest

from mlws.render import apply_origin
from mlws.render.program_runner import run_isolated


def _boom(_: object) -> None:
    raise ValueError("no image_ref")


def _failure() -> BaseException:
    def program() -> None:
        pulumi.export("x", pulumi.Output.from_input(1).apply(_boom))

    with pytest.raises(ValueError, match="no image_ref") as info:
        run_isolated(program)
    return info.value


def _innermost(tb: TracebackType | None) -> str:
    frame = traceback.extract_tb(tb)[-1]
    return f"{frame.name}:{frame.lineno}"


def test_the_callbacks_raise_is_kept_when_the_exceptions_traceback_is_replaced() -> None:
    exc = _failure()
    where = f"_boom:{_boom.__code__.co_firstlineno + 1}"
    assert _innermost(apply_origin.raised_traceback(exc)) == where
    exc.with_traceback(None)  # what an SDK path that re-raises it elsewhere leaves
    assert _innermost(apply_origin.raised_traceback(exc)) == where


def test_an_exception_raised_outside_callbacks_keeps_its_own_traceback() -> None:
    with pytest.raises(ValueError, match="no image_ref") as info:
        _boom(None)
    assert apply_origin.raised_traceback(info.value) is info.value.__traceback__


def test_installing_twice_wraps_callbacks_once() -> None:
    apply_origin.install()
    patched = pulumi.Output.apply
    apply_origin.install()
    assert pulumi.Output.apply is patched
