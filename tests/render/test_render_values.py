"""Wire values to printable values: secrets never survive, references and assets are named."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import rpc

from mlws.render.values import contains_secret, normalize, normalize_props


def _secret(value: Any) -> dict[str, Any]:
    return rpc.wrap_rpc_secret(value)  # type: ignore[no-any-return]


def test_signatures_match_the_installed_pulumi_sdk() -> None:
    from mlws import pulumi_wire as values

    assert values.SIG_KEY == rpc._special_sig_key
    assert values.SECRET_SIG == rpc._special_secret_sig
    assert values.RESOURCE_SIG == rpc._special_resource_sig
    assert values.ASSET_SIG == rpc._special_asset_sig
    assert values.ARCHIVE_SIG == rpc._special_archive_sig
    assert values.OUTPUT_VALUE_SIG == rpc._special_output_value_sig
    assert values.UNKNOWN_SENTINEL == rpc.UNKNOWN


def test_secrets_become_the_placeholder_at_any_depth() -> None:
    raw = {"env": [{"name": "KEY", "value": _secret("s3cr3t")}], "plain": "x"}
    out = normalize(raw)
    assert out == {"env": [{"name": "KEY", "value": "[secret]"}], "plain": "x"}
    assert "s3cr3t" not in repr(out)
    assert contains_secret(out)
    assert not contains_secret({"plain": ["x"]})


def test_secret_object_hides_all_of_it() -> None:
    assert normalize(_secret({"user": "u", "password": "p"})) == "[secret]"


def test_references_assets_archives_unknowns_and_numbers() -> None:
    sig = rpc._special_sig_key
    assert normalize({sig: rpc._special_resource_sig, "urn": "urn:x", "id": "i"}) == {
        "$ref": "urn:x"
    }
    assert normalize({sig: rpc._special_asset_sig, "path": "./a.txt"}) == {"$asset": "./a.txt"}
    text_asset = normalize({sig: rpc._special_asset_sig, "text": "hello"})
    assert text_asset["$asset"].startswith("text sha256:2cf24dba")
    assert normalize({sig: rpc._special_archive_sig, "path": "./dir"}) == {"$archive": "./dir"}
    assert normalize(rpc.UNKNOWN) == "[unknown]"
    assert normalize(3.0) == 3
    assert isinstance(normalize(3.0), int)
    assert normalize(0.5) == 0.5
    secret_output = {sig: rpc._special_output_value_sig, "value": "v", "secret": True}
    assert normalize(secret_output) == "[secret]"


def test_none_properties_are_dropped_and_keys_sorted() -> None:
    out = normalize_props({"z": 1, "a": None, "b": 2})
    assert list(out) == ["b", "z"]
