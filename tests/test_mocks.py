"""mlws.mocks: recording, secret masking, isolation, invokes and diffs (no engine)."""

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_random as random
import pytest

from mlws.mocks import (
    SECRET_PLACEHOLDER,
    MlwsMocks,
    Recording,
    diff_programs,
    diff_recordings,
    run_program,
)


class Box(pulumi.ComponentResource):
    box: pulumi.Output[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("test:index:Box", name, None, opts)
        self.box = pulumi.Output.from_input(name)
        self.register_outputs({"box": self.box})


def program(
    tags: dict[str, str], *, extra: bool = False, secret: str = "s3cret"
) -> Callable[[], None]:
    def run() -> None:
        box = Box("box")
        random.RandomString(
            "label",
            length=8,
            keepers={**tags, "hidden": pulumi.Output.secret(secret)},
            opts=pulumi.ResourceOptions(parent=box),
        )
        if extra:
            random.RandomUuid("extra")
        pulumi.export("answer", 42)
        pulumi.export("hidden", pulumi.Output.secret(secret))
        config = pulumi.Config()
        pulumi.export("configured", config.get("greeting"))

    return run


def test_recording_parents_inputs_and_masks() -> None:
    recording = run_program(program({"a": "1"}), config={"project:greeting": "hi"})
    box = recording.named("box", "test:index:Box")
    label = recording.named("label")
    assert label.parent == box.urn
    assert box.custom is False
    assert label.custom is True
    assert label.inputs["keepers"] == {"a": "1", "hidden": "s3cret"}
    assert label.inputs["length"] == 8
    assert "keepers" in label.secret_paths
    assert label.masked_inputs["keepers"] == SECRET_PLACEHOLDER
    assert box.outputs == {"box": "box"}
    assert recording.stack_outputs == {"answer": 42, "hidden": "s3cret", "configured": "hi"}
    assert recording.masked_stack_outputs["hidden"] == SECRET_PLACEHOLDER
    rendered = json.dumps(recording.to_json())
    assert "s3cret" not in rendered
    assert [r["name"] for r in recording.to_json()["resources"]] == ["box", "label"]
    assert recording.type_counts() == {
        "test:index:Box": 1,
        "random:index/randomString:RandomString": 1,
    }


def test_runs_are_isolated_and_deterministic() -> None:
    first = run_program(program({"a": "1"}))
    second = run_program(program({"a": "1"}))
    assert first.named("label").outputs["result"] == second.named("label").outputs["result"]
    assert not diff_recordings(first, second)
    assert "configured" not in second.stack_outputs  # None exports are dropped


def test_program_errors_propagate_and_nothing_leaks() -> None:
    def broken() -> None:
        Box("half")
        raise RuntimeError("boom")

    mocks = MlwsMocks()
    with pytest.raises(RuntimeError, match="boom"):
        run_program(broken, mocks=mocks)
    assert mocks.registrations == [("test:index:Box", "half")]
    assert len(run_program(program({}))) == 2


def test_invokes_are_answered_by_token() -> None:
    seen: list[Any] = []

    def answer(args: dict[str, Any]) -> dict[str, Any]:
        seen.append(args)
        return {"value": args["x"] * 2}

    def run() -> None:
        result = pulumi.runtime.invoke("test:index:double", {"x": 21})
        pulumi.export("doubled", result.value["value"])

    mocks = MlwsMocks(calls={"test:index:double": answer})
    recording = run_program(run, mocks=mocks)
    assert recording.stack_outputs["doubled"] == 42
    assert seen == [{"x": 21}]
    assert mocks.invokes == [("test:index:double", {"x": 21})]


def test_diff_reports_creates_deletes_and_changed_paths() -> None:
    diff, _, _ = diff_programs(
        lambda v: program({"a": v[0]}, extra=v[1], secret=v[2]),
        ("1", True, "old-secret-value"),
        ("2", False, "new-secret-value"),
    )
    assert diff.updated == {"label": ("keepers.a", "keepers.hidden")}
    assert diff.deleted == {"extra"}
    assert not diff.created
    assert str(diff).splitlines() == [
        "~ label (random:index/randomString:RandomString) [keepers.a, keepers.hidden]",
        "- extra (random:index/randomUuid:RandomUuid)",
    ]
    assert "secret-value" not in str(diff)


def test_named_reports_what_exists() -> None:
    recording = run_program(program({}))
    with pytest.raises(KeyError, match="have: box, label"):
        recording.named("nope")
    assert isinstance(recording, Recording)
