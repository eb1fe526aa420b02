"""RecordingMonitor answering a registration synchronously, on the threads the SDK uses."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pulumi
import pytest
from pulumi.runtime.proto import resource_pb2

from mlws.render.monitor import RecordingMonitor


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return "id-1", {**args.inputs, "out": 1}

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def _request() -> Any:
    return resource_pb2.RegisterResourceRequest(type="test:index:Thing", name="x", custom=True)


def test_answers_on_a_thread_without_an_event_loop() -> None:
    monitor = RecordingMonitor(_Mocks())
    answers: list[Any] = []
    worker = threading.Thread(target=lambda: answers.append(monitor.RegisterResource(_request())))
    worker.start()
    worker.join()
    monitor.close()
    [answer] = answers
    assert answer.id == "id-1"
    assert dict(answer.object) == {"out": 1.0}
    assert [r.name for r in monitor.recording.resources.values()] == ["x"]


def test_refuses_a_call_from_inside_a_running_event_loop() -> None:
    monitor = RecordingMonitor(_Mocks())

    async def register() -> Any:
        return monitor.RegisterResource(_request())

    with pytest.raises(RuntimeError, match="inside a running event loop"):
        asyncio.run(register())
    monitor.close()
