"""mlws.provider.wire against Pulumi's own marshalling (the SDK's PropertyValue and rpc helpers).

The plugin gets its property maps from the SDK's typed servicer, which unmarshals each request
with ``PropertyValue.unmarshal_map``; these tests go through the same call.
"""

from __future__ import annotations

from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.runtime import rpc

from mlws.provider.wire import UNKNOWN, decode, encode, to_camel, to_snake


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
    # An unknown output value (no "value") is left out: the engine keeps output values only in
    # Construct and Call requests (pkg/resource/plugin/provider_plugin.go), never in the CRUD
    # requests the custom resources get, and the SDK's unmarshal refuses one without a value.
    props = decode(PropertyValue.unmarshal_map(struct))
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
    assert props.secret == {"key", "tags"}
    assert props.unknown == {"digest"}


def test_encodes_what_the_sdk_reads() -> None:
    struct = PropertyValue.marshal_map(
        encode(
            {
                "scoring_uri": "http://h/score",
                "key": "k-1",
                "port": 8890,
                "gone": None,
                "tags": ["a"],
            },
            secret={"key"},
        )
    )
    plain = rpc.deserialize_properties(struct)
    assert set(plain) == {"scoringUri", "key", "port", "tags"}
    assert rpc.is_rpc_secret(plain["key"])
    assert rpc.unwrap_rpc_secret(plain["key"]) == "k-1"
    assert plain["port"] == 8890
    again = PropertyValue.unmarshal_map(struct)
    assert again["key"].is_secret
    assert not again["scoringUri"].is_secret
    assert decode(again).values == {
        "scoring_uri": "http://h/score",
        "key": "k-1",
        "port": 8890,
        "tags": ["a"],
    }


def test_unknowns_survive_a_round_trip() -> None:
    struct = PropertyValue.marshal_map(encode({"scoring_uri": UNKNOWN}))
    assert decode(PropertyValue.unmarshal_map(struct)).unknown == {"scoring_uri"}
    assert PropertyValue.unmarshal_map(struct)["scoringUri"].value == rpc.UNKNOWN


def test_grpc_server_options_are_the_sdks() -> None:
    from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS

    from mlws.provider.host import GRPC_SERVER_OPTIONS

    assert list(_GRPC_CHANNEL_OPTIONS) == GRPC_SERVER_OPTIONS
