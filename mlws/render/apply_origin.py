"""Where an exception raised inside an ``Output.apply`` callback was first raised.

A failed apply leaves many outputs holding the same exception object, and the Pulumi SDK re-raises
it from each of them. Some of those paths store the exception's traceback at a moment another
task has just replaced it, so the traceback it finally surfaces with can hold only the SDK's own
frames (seen under load: the error then named no line of the program). :func:`install` wraps every
apply callback so the traceback of the callback's own raise is kept on the exception, and
:func:`raised_traceback` returns it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

import pulumi

_ATTRIBUTE = "__mlws_apply_traceback__"
_lock = threading.Lock()
_installed = False


def _remembering(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            if not hasattr(exc, _ATTRIBUTE):
                setattr(exc, _ATTRIBUTE, exc.__traceback__)
            raise

    return call


def install() -> None:
    """Wrap ``pulumi.Output.apply``'s callbacks from now on (once per process; idempotent).

    The wrapper changes nothing but a private attribute on an exception a callback raises.
    """
    global _installed
    with _lock:
        if _installed:
            return
        original = pulumi.Output.apply

        @functools.wraps(original)
        def apply(
            self: pulumi.Output[Any], func: Callable[[Any], Any], *args: Any, **kwargs: Any
        ) -> Any:
            return original(self, _remembering(func), *args, **kwargs)

        pulumi.Output.apply = apply  # type: ignore[method-assign]
        _installed = True


def raised_traceback(exc: BaseException) -> TracebackType | None:
    """The traceback of ``exc``'s raise inside an apply callback, else its own traceback."""
    kept = getattr(exc, _ATTRIBUTE, None)
    return kept if isinstance(kept, TracebackType) else exc.__traceback__
