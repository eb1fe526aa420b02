"""Running real (tiny) Pulumi programs in-process under mocks."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from mlws.render import ProgramError, Render, diff_renders, render_program
from tests.render.render_programs import KEYS_PROGRAM, KEYS_STACK, write_program

PASSWORD = "random:index/randomPassword:RandomPassword"


def test_graph_types_parents_and_inputs(keys_program: Path) -> None:
    render = render_program(keys_program, stack="dev")
    assert render.project == "keysapp"
    assert render.stack == "dev"
    assert render.counts() == {
        PASSWORD: 2,
        "random:index/randomInteger:RandomInteger": 1,
        "random:index/randomString:RandomString": 1,
        "test:index:Keys": 1,
    }
    by_name = {r.name: r for r in render.resources}
    component = by_name["svc"]
    assert not component.custom
    assert component.parent is None
    assert component.urn == "urn:pulumi:dev::keysapp::test:index:Keys::svc"
    assert by_name["svc-primary"].parent == component.urn
    assert by_name["svc-primary"].urn == (
        f"urn:pulumi:dev::keysapp::test:index:Keys${PASSWORD}::svc-primary"
    )
    assert by_name["svc-primary"].inputs == {
        "keepers": {"rotation": "0"},
        "length": 32,
        "special": False,
    }
    assert by_name["size"].inputs == {"max": 10, "min": 1}
    # tree order: the component's children follow it
    names = [r.name for r in render.resources]
    assert names.index("svc-primary") == names.index("svc") + 1


def test_secrets_never_appear_in_plain_text(keys_program: Path) -> None:
    render = render_program(keys_program, stack="dev", overrides={"token": "tok-PLAIN-123"})
    text = render.to_json()
    assert "tok-PLAIN-123" not in text
    assert "v1:AAAABBBBCCCC" not in text
    consumer = next(r for r in render.resources if r.name == "consumer")
    assert consumer.inputs["keepers"] == {"key": "[secret]", "token": "[secret]"}
    assert render.config["keysapp:token"] == "[secret]"
    assert render.outputs["primary_key"] == "[secret]"
    assert render.outputs["cpu_cores"] == 1
    # the consumer's keepers were computed from the primary key: recorded as a dependency
    primary = next(r for r in render.resources if r.name == "svc-primary")
    assert primary.urn in consumer.dependencies["keepers"]


def test_two_renders_in_one_process_are_identical_and_leave_no_state(keys_program: Path) -> None:
    import pulumi.runtime.settings as settings

    cwd, path = Path.cwd(), list(sys.path)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        first = render_program(keys_program, stack="dev").to_json()
        second = render_program(keys_program, stack="dev").to_json()
        assert asyncio.get_event_loop() is loop
        assert not loop.is_closed()
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    assert first == second
    assert Path.cwd() == cwd
    assert sys.path == path
    assert settings.ROOT.get() is None
    assert json.loads(first)["format"] == "mlws-render/1"


def test_config_override_changes_only_what_reads_it(keys_program: Path) -> None:
    one = render_program(keys_program, stack="dev")
    two = render_program(keys_program, stack="dev", overrides={"cpu_cores": "2"})
    diff = diff_renders(one, two)
    assert [(c.name, c.kind) for c in diff.changes] == [("size", "replace")]
    [field] = diff.changes[0].fields
    assert (field.path, field.old, field.new) == ("max", 10, 20)
    assert [(c.key, c.old, c.new) for c in diff.config] == [("keysapp:cpu_cores", "1", "2")]


def test_rotating_the_primary_key_changes_it_and_its_consumer_only(keys_program: Path) -> None:
    before = render_program(keys_program, stack="dev")
    after = render_program(keys_program, stack="dev", overrides={"primaryKeyRotation": "1"})
    diff = diff_renders(before, after)
    assert {c.name: c.kind for c in diff.changes} == {
        "svc-primary": "replace",
        "consumer": "replace",
    }
    consumer = next(c for c in diff.changes if c.name == "consumer")
    assert [(f.path, f.via) for f in consumer.fields] == [("keepers", "svc-primary")]


def test_local_modules_of_one_program_do_not_leak_into_the_next(tmp_path: Path) -> None:
    pytest.importorskip("pulumi_random")
    source = """
    import pulumi_random as random
    import helpers
    random.RandomPet(helpers.NAME)
    """
    a = write_program(tmp_path / "a", source, extra={"helpers.py": "NAME = 'from-a'\n"})
    b = write_program(tmp_path / "b", source, extra={"helpers.py": "NAME = 'from-b'\n"})
    assert [r.name for r in render_program(a).resources] == ["from-a"]
    assert [r.name for r in render_program(b).resources] == ["from-b"]
    assert "helpers" not in sys.modules


def test_program_sees_its_folder_as_cwd(tmp_path: Path) -> None:
    pytest.importorskip("pulumi_random")
    source = """
    from pathlib import Path
    import pulumi_random as random
    random.RandomPet("pet", prefix=Path("data.txt").read_text().strip())
    """
    write_program(tmp_path / "p", source, extra={"data.txt": "relative-ok\n"})
    other = tmp_path / "elsewhere"
    other.mkdir()
    old = Path.cwd()
    os.chdir(other)
    try:
        render = render_program(Path("..") / "p")
    finally:
        os.chdir(old)
    assert render.resources[0].inputs["prefix"] == "relative-ok"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "raise ValueError('bad model version')\n",
            r"^ValueError: bad model version \(at __main__\.py:1\)$",
        ),
        (
            "import pulumi\npulumi.Config().require('missing')\n",
            r"^Missing required configuration variable 'keysapp:missing'",
        ),
        ("import sys\nsys.exit(3)\n", r"^SystemExit: 3 \(at __main__\.py:2\)$"),
        (
            "import pulumi, pulumi_random as r\n"
            "p = r.RandomPet('p')\n"
            "p.id.apply(lambda _: 1 / 0)\n",
            r"^ZeroDivisionError: division by zero \(at __main__\.py:3\)$",
        ),
    ],
)
def test_program_failures_are_one_line(tmp_path: Path, source: str, expected: str) -> None:
    pytest.importorskip("pulumi_random")
    prog = write_program(tmp_path / "bad", source)
    with pytest.raises(ProgramError, match=expected) as info:
        render_program(prog)
    assert "\n" not in str(info.value)


def test_program_logs_are_kept_as_messages(tmp_path: Path) -> None:
    prog = write_program(tmp_path / "log", "import pulumi\npulumi.log.warn('careful: no TLS')\n")
    render = render_program(prog)
    assert render.messages == ["warning: careful: no TLS"]
    assert render.resources == []


def test_render_round_trips_through_json(keys_program: Path) -> None:
    render = render_program(keys_program, stack="dev")
    assert Render.from_json(render.to_json()) == render


def test_keys_program_constant_matches_fixture() -> None:
    # the fixture's stack sets only cpu_cores and the secret token
    assert "cpu_cores" in KEYS_STACK
    assert "require_secret" in KEYS_PROGRAM


def test_dynamic_providers_are_not_dumped(tmp_path: Path) -> None:
    source = """
    import pulumi
    import pulumi.dynamic

    class Provider(pulumi.dynamic.ResourceProvider):
        def create(self, props):
            return pulumi.dynamic.CreateResult("id-1", props)

    class Gate(pulumi.dynamic.Resource):
        def __init__(self, name, url):
            super().__init__(Provider(), name, {"url": url})

    Gate("gate", "http://x/score")
    """
    render = render_program(write_program(tmp_path / "dyn", source))
    [gate] = render.resources
    assert gate.type.startswith("pulumi-python:dynamic")
    assert gate.inputs == {"__provider": "[pickled dynamic provider]", "url": "http://x/score"}


def test_error_raised_in_imported_code_names_both_places(tmp_path: Path) -> None:
    source = """
    import helpers
    helpers.check(0)
    """
    helper = "def check(n):\n    raise ValueError(f'cpu_cores must be > 0, got {n}')\n"
    prog = write_program(tmp_path / "h", source, extra={"helpers.py": helper})
    with pytest.raises(ProgramError) as info:
        render_program(prog)
    assert str(info.value) == (
        "ValueError: cpu_cores must be > 0, got 0 (at helpers.py:2, from __main__.py:3)"
    )


def test_stack_references_render_with_no_outputs(tmp_path: Path) -> None:
    source = """
    import pulumi
    ref = pulumi.StackReference(f"{pulumi.get_organization()}/shared/prod")
    pulumi.export("image", ref.get_output("image_ref"))
    pulumi.export("org", pulumi.get_organization())
    """
    render = render_program(write_program(tmp_path / "ref", source))
    [ref] = render.resources
    assert ref.read
    assert ref.type == "pulumi:pulumi:StackReference"
    assert ref.name == "organization/shared/prod"
    assert render.outputs == {"org": "organization"}
