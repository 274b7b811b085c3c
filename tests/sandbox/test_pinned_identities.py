"""Pinned identities: ``seed``, ``client_id``, ``client_secret`` and ``channel_ids``.

The user story: a saved credentials block and a manifest's channel ids survive a sandbox
restart. So two real sandboxes of one seed, one after the other on the same port, must hand out
the same clients, channels, stores and products over HTTP, while what a run creates (videos,
tokens) stays its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sandbox_support import HTTP, SMALL, Api, error_of, token_for

from prefect_firework.sandbox import Sandbox, SandboxConfig
from prefect_firework.sandbox.engine._ids import IdSource, is_encoded_id
from prefect_firework.sandbox.engine._seeds import Seeds, seed
from prefect_firework.sandbox.engine._state import Clock, State

#: what ``/_sandbox/info`` says that is not an identity: addresses, the bucket, the config
_NOT_IDENTITY = {"base_url", "token_url", "s3_url", "moto_url", "bucket", "config"}


@contextmanager
def running(**config: Any) -> Iterator[Sandbox]:
    with Sandbox(config=SMALL.replace(**config)) as sb:
        yield sb


def identities(sb: Sandbox) -> dict[str, Any]:
    """Every seeded id and secret the sandbox serves to another process."""
    info = HTTP.get(f"{sb.base_url}/_sandbox/info").json()
    return {k: v for k, v in info.items() if k not in _NOT_IDENTITY}


def port_of(sb: Sandbox) -> int:
    return int(sb.base_url.rsplit(":", 1)[1])


def signature_status(sb: Sandbox, token: str, channel_id: str) -> tuple[int, str]:
    resp = HTTP.post(
        f"{sb.base_url}/api/v1/upload_signatures",
        json={"filename": "clip.mp4", "mime_type": "video/mp4", "channel_id": channel_id},
        headers={"Authorization": f"Bearer {token}"},
    )
    return resp.status_code, "" if resp.status_code == 201 else error_of(resp)


def seeded_values(seeds: Seeds) -> list[str]:
    """Every id and secret of a seeded world, flattened (names and external ids excluded)."""
    clients = [
        seeds.client,
        seeds.read_only_client,
        seeds.other_business_client,
        seeds.no_membership_client,
    ]
    return [
        seeds.business_id,
        seeds.other_business_id,
        *seeds.channel_ids,
        seeds.other_business_channel_id,
        *seeds.business_store_ids,
        seeds.other_business_store_id,
        *(p.id for p in seeds.products),
        *(c.client_id for c in clients),
        *(c.client_secret for c in clients),
    ]


def fresh_seeds(config: SandboxConfig) -> Seeds:
    return seed(State(Clock()), config)


# ---------------------------------------------------------------------- the same seed


def test_same_seed_same_world_after_a_restart_and_run_ids_stay_their_own(media) -> None:
    with running(seed=7) as first:
        before = identities(first)
        base_url, port = first.base_url, port_of(first)
        old_token = token_for(first)
        api = Api(first, old_token)
        old_video = api.create_ok(s3_key=api.upload(media.clip))["id"]
        api.close()

    with running(seed=7, port=port) as second:
        assert second.base_url == base_url
        assert identities(second) == before
        assert (second.client_id, second.client_secret) == (
            before["client_id"],
            before["client_secret"],
        )
        # the pinned credentials get a token from the new start, and it works on every channel
        token = token_for(second, before["client_id"], before["client_secret"])
        for channel_id in before["channel_ids"]:
            assert signature_status(second, token, channel_id) == (201, "")
        outsider = token_for(
            second, before["no_membership_client_id"], before["no_membership_client_secret"]
        )
        assert signature_status(second, outsider, before["channel_id"]) == (
            404,
            "Membership not found",
        )
        # a run's own ids are not seeded: the old token and video are unknown here, and the
        # first video of this run is not handed the old one's id
        assert signature_status(second, old_token, before["channel_id"])[0] == 401
        old = f"{base_url}/api/v1/videos/{old_video}"
        assert HTTP.get(old, headers=_bearer(token)).status_code == 404
        api = Api(second, token)
        new_video = api.create_ok(s3_key=api.upload(media.clip))["id"]
        api.close()
        assert new_video != old_video and is_encoded_id(new_video)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_seed_derives_every_seeded_identity() -> None:
    """Beyond what HTTP shows: both businesses, every store, product and secret."""
    seven = fresh_seeds(SandboxConfig(seed=7))
    assert fresh_seeds(SandboxConfig(seed=7)) == seven
    eight = fresh_seeds(SandboxConfig(seed=8))
    for mine, theirs in zip(seeded_values(seven), seeded_values(eight), strict=True):
        assert mine != theirs
    random_a, random_b = fresh_seeds(SandboxConfig()), fresh_seeds(SandboxConfig())
    for a, b in zip(seeded_values(random_a), seeded_values(random_b), strict=True):
        assert a != b
    # the derived values have the shapes of the random ones
    for channel_id in [*seven.channel_ids, seven.other_business_channel_id]:
        assert is_encoded_id(channel_id) and len(channel_id) == 7
    assert seven.client.client_id.startswith("sandbox-") and len(seven.client.client_secret) == 32
    assert [p.external_id for p in seven.products] == [p.external_id for p in random_a.products]


def test_different_seeds_and_no_seed_give_different_ids() -> None:
    with running(seed=7) as a, running(seed=8) as b, running() as c, running() as d:
        worlds = [identities(sb) for sb in (a, b, c, d)]
    for name in ("client_id", "client_secret", "channel_id", "other_business_channel_id"):
        values = [world[name] for world in worlds]
        assert len(set(values)) == len(values), (name, values)
    assert len({tuple(w["business_store_ids"]) for w in worlds}) == 4


def test_id_source_labels_are_used_once() -> None:
    ids = IdSource(7)
    assert ids.id("channel/main") == IdSource(7).id("channel/main")
    assert ids.id("channel/outlet") != IdSource(7).id("channel/main")
    with pytest.raises(ValueError, match="used twice"):
        ids.id("channel/main")


# ---------------------------------------------------------------------- explicit values


def test_explicit_values_win_over_the_seed() -> None:
    seven = fresh_seeds(SandboxConfig(seed=7))
    pins = {
        "client_id": "my-client.id",
        "client_secret": "my~secret-1",
        "channel_ids": ("PinA1", "PinB2"),
    }
    with running(seed=7, **pins) as sb:
        assert (sb.client_id, sb.client_secret) == ("my-client.id", "my~secret-1")
        assert sb.channel_ids == ["PinA1", "PinB2", seven.channel_ids[2]]
        # pinning the main client and two channels moves nothing else the seed gives
        assert sb.read_only_client_id == seven.read_only_client.client_id
        assert sb.business_store_ids == seven.business_store_ids
        token = token_for(sb, "my-client.id", "my~secret-1")
        assert signature_status(sb, token, "PinB2") == (201, "")
        assert signature_status(sb, token, seven.channel_ids[0]) == (404, "Channel not found")
        refused = HTTP.post(
            sb.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": seven.client.client_id,
                "client_secret": seven.client.client_secret,
            },
        )
        assert refused.status_code == 401, refused.text


def test_more_pinned_channels_than_seeded_ones_and_pins_without_a_seed() -> None:
    with running(channel_ids=["Ch1", "Ch2", "Ch3", "Ch4"], client_secret="s") as sb:
        assert sb.channel_ids == ["Ch1", "Ch2", "Ch3", "Ch4"] and sb.channel_id == "Ch1"
        assert sb.config.channel_ids == ("Ch1", "Ch2", "Ch3", "Ch4")  # a list becomes a tuple
        token = token_for(sb, sb.client_id, "s")
        assert signature_status(sb, token, "Ch4") == (201, "")
        other = token_for(sb, sb.other_business_client_id, sb.other_business_client_secret)
        assert signature_status(sb, other, "Ch4")[0] == 403  # still the main business's


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"channel_ids": ("bad id",)}, "'bad id' is not an encoded id (1..32 letters and digits"),
        ({"channel_ids": ("ok1", "x-y", "a/b")}, "'x-y', 'a/b' are not encoded ids"),
        ({"channel_ids": ("x" * 33,)}, "is not an encoded id"),
        ({"channel_ids": ("",)}, "'' is not an encoded id"),
        ({"channel_ids": ("Same1", "Same1")}, "channel_ids must be distinct"),
        ({"channel_ids": ()}, "at least one channel"),
        ({"channel_ids": "X6Xqd6W"}, "channel_ids must be a tuple of ids"),
        ({"seed": "7"}, "seed must be an integer"),
        ({"seed": True}, "seed must be an integer"),
        ({"client_id": "has space"}, "client_id must be 1..255 printable ASCII"),
        ({"client_secret": ""}, "client_secret must be 1..255 printable ASCII"),
        ({"client_id": "é"}, "client_id must be"),
    ],
)
def test_invalid_pins_are_refused_with_a_clear_message(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match="invalid SandboxConfig") as caught:
        SandboxConfig(**changes)
    assert message in str(caught.value)


def test_a_pinned_id_taken_by_another_seeded_thing_fails_the_start() -> None:
    seven = fresh_seeds(SandboxConfig(seed=7))
    taken = SMALL.replace(seed=7, channel_ids=(seven.other_business_channel_id,))
    sb = Sandbox(config=taken)
    with pytest.raises(ValueError, match="is already another seeded channel's; pick another"):
        sb.start()
    assert not sb.running
    clash = SMALL.replace(seed=7, client_id=seven.read_only_client.client_id)
    with pytest.raises(ValueError, match=r"client id '.+' is already another seeded client's"):
        Sandbox(config=clash).start()


# ---------------------------------------------------------------------- reset and restart


def test_reset_and_a_restart_of_the_same_object_keep_the_pinned_identities(media) -> None:
    with running(seed=11, channel_ids=("Keep1",), client_id="kept") as sb:
        before = identities(sb)
        token = token_for(sb)
        api = Api(sb, token)
        api.create_ok(s3_key=api.upload(media.clip))
        api.close()
        sb.reset()
        assert identities(sb) == before and sb.videos() == []
        assert HTTP.post(f"{sb.base_url}/_sandbox/reset").status_code < 300
        assert identities(sb) == before
        assert signature_status(sb, token, "Keep1") == (201, "")  # reset keeps tokens too
        sb.stop()
        sb.start()
        assert identities(sb) == before
