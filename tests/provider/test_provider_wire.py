"""mlws.provider.wire against Pulumi's own marshalling (the SDK's PropertyValue and rpc helpers)."""

from __future__ import annotations

from mlws.provider.wire import UNKNOWN, decode, encode, to_camel, to_snake
from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.runtime import rpc


def test_names_round_trip() -> None:
    assert to_camel("scoring_uri") == "scoringUri"
    assert to_camel("log_tail_lines") == "logTailLines"
    assert to_snake("processStartTicks") == "process_start_ticks"
    assert to_snake(to_camel("token_secret")) == "token_secret"


def test_decodes_what_the_sdk_marshals() -> None:
    struct = PropertyValue.marshal_map(
        {
            "scoringUri": PropertyValue("http://h/score"),
            "key": PropertyValue("k-1", is_secret=True),
            "timeoutSeconds": PropertyValue(30.0),
            "ratio": PropertyValue(0.5),
            "environment": PropertyValue({"A": PropertyValue("1")}),
            "tags": PropertyValue([PropertyValue("a"), PropertyValue("b", is_secret=True)]),
            "digest": PropertyValue(rpc.UNKNOWN),  # the engine's unknown (preview)
            "dependent": PropertyValue("v", dependencies=["urn:a"]),
            "flag": PropertyValue(True),
            "nothing": PropertyValue.null(),
        }
    )
    struct.fields["pending"].struct_value.update(  # an unknown output value (no "value")
        {rpc._special_sig_key: rpc._special_output_value_sig, "secret": True, "dependencies": []}
    )
    props = decode(struct)
    assert props.values["scoring_uri"] == "http://h/score"
    assert props.values["key"] == "k-1"
    assert props.values["timeout_seconds"] == 30
    assert isinstance(props.values["timeout_seconds"], int)
    assert props.values["ratio"] == 0.5
    assert props.values["environment"] == {"A": "1"}
    assert props.values["tags"] == ["a", "b"]
    assert props.values["digest"] == UNKNOWN
    assert props.values["dependent"] == "v"
    assert props.values["flag"] is True
    assert props.values["nothing"] is None
    assert props.values["pending"] == UNKNOWN
    assert props.secret == {"key", "tags", "pending"}
    assert props.unknown == {"digest", "pending"}


def test_encodes_what_the_sdk_reads() -> None:
    struct = encode(
        {"scoring_uri": "http://h/score", "key": "k-1", "port": 8890, "gone": None, "tags": ["a"]},
        secret={"key"},
    )
    plain = rpc.deserialize_properties(struct)
    assert set(plain) == {"scoringUri", "key", "port", "tags"}
    assert rpc.is_rpc_secret(plain["key"])
    assert rpc.unwrap_rpc_secret(plain["key"]) == "k-1"
    assert plain["port"] == 8890
    again = PropertyValue.unmarshal_map(struct)
    assert again["key"].is_secret
    assert not again["scoringUri"].is_secret
    assert decode(struct).values == {
        "scoring_uri": "http://h/score",
        "key": "k-1",
        "port": 8890,
        "tags": ["a"],
    }


def test_unknowns_survive_a_round_trip() -> None:
    struct = encode({"scoring_uri": UNKNOWN})
    assert decode(struct).unknown == {"scoring_uri"}
    assert PropertyValue.unmarshal_map(struct)["scoringUri"].value == rpc.UNKNOWN


def test_grpc_server_options_are_the_sdks() -> None:
    from mlws.provider.host import GRPC_SERVER_OPTIONS
    from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS

    assert list(_GRPC_CHANNEL_OPTIONS) == GRPC_SERVER_OPTIONS
