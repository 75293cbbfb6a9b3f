"""Synth-time settings: defaults, loading from file and environment, one clear error per bad value."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from besu_stack.settings import (
    MAX_VALIDATORS,
    SETTING_NAMES,
    Settings,
    SettingsError,
    StateBackend,
    load_settings,
    settings_from_mapping,
)


def test_defaults_are_a_four_validator_ibft2_network_in_its_own_vpc_with_local_state() -> None:
    s = Settings()
    assert (s.network_name, s.validator_count, s.consensus, s.vpc_mode) == (
        "besu",
        4,
        "ibft2",
        "create",
    )
    assert s.state.kind == "local"
    assert s.max_faulty == 1


@pytest.mark.parametrize(("n", "f"), [(1, 0), (4, 1), (5, 1), (6, 1), (7, 2), (10, 3), (31, 10)])
def test_fault_tolerance_is_floor_of_n_minus_one_over_three(n: int, f: int) -> None:
    assert Settings(validator_count=n).max_faulty == f


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().validator_count = 7  # type: ignore[misc]


def test_no_settings_file_and_no_environment_gives_defaults(tmp_path: Path) -> None:
    loaded = load_settings(environ={}, cwd=tmp_path)
    assert loaded.settings == Settings()
    assert all(source == "default" for _, _, source in loaded.describe())


def test_file_then_environment_with_sources(tmp_path: Path) -> None:
    (tmp_path / "besu-stack.toml").write_text(
        'network_name = "prod"\nvalidator_count = 7\nconsensus = "qbft"\n'
        '[state]\nbackend = "s3"\nbucket = "prod-tfstate"\nregion = "eu-west-1"\n'
    )
    loaded = load_settings(environ={"BESU_STACK_VALIDATOR_COUNT": "10"}, cwd=tmp_path)
    s = loaded.settings
    assert (s.network_name, s.validator_count, s.consensus) == ("prod", 10, "qbft")
    assert s.state == StateBackend(kind="s3", bucket="prod-tfstate", region="eu-west-1")
    sources = dict((name, source) for name, _, source in loaded.describe())
    assert sources["network_name"].endswith("besu-stack.toml")
    assert sources["validator_count"] == "$BESU_STACK_VALIDATOR_COUNT"
    assert sources["vpc_mode"] == "default"


def test_explicit_settings_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(path=tmp_path / "missing.toml", environ={})
    assert err.value.setting == "settings_file"


def test_settings_file_from_environment_variable(tmp_path: Path) -> None:
    f = tmp_path / "other.toml"
    f.write_text('network_name = "from-env-file"\n')
    loaded = load_settings(environ={"BESU_STACK_SETTINGS_FILE": str(f)}, cwd=tmp_path)
    assert loaded.settings.network_name == "from-env-file"


def test_invalid_toml_is_a_settings_error(tmp_path: Path) -> None:
    (tmp_path / "besu-stack.toml").write_text("network_name = \n")
    with pytest.raises(SettingsError) as err:
        load_settings(environ={}, cwd=tmp_path)
    assert "not valid TOML" in str(err.value)


def test_error_names_setting_value_allowed_and_source(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(environ={"BESU_STACK_CONSENSUS": "pow"}, cwd=tmp_path)
    e = err.value
    assert (e.setting, e.value) == ("consensus", "pow")
    assert "ibft2" in e.allowed and "qbft" in e.allowed
    assert e.source == "$BESU_STACK_CONSENSUS"
    assert (
        str(e) == "invalid setting consensus='pow' (from $BESU_STACK_CONSENSUS): one of ibft2, qbft"
    )


@pytest.mark.parametrize(
    ("raw", "setting"),
    [
        ({"network_name": "Prod"}, "network_name"),
        ({"network_name": "a" * 21}, "network_name"),
        ({"network_name": "-x"}, "network_name"),
        ({"network_name": "x-"}, "network_name"),
        ({"network_name": "a--b"}, "network_name"),
        ({"validator_count": 0}, "validator_count"),
        ({"validator_count": MAX_VALIDATORS + 1}, "validator_count"),
        ({"validator_count": True}, "validator_count"),
        ({"validator_count": 2}, "validator_count"),
        ({"validator_count": 3}, "validator_count"),
        ({"validator_count": "4.5"}, "validator_count"),
        ({"vpc_mode": "shared"}, "vpc_mode"),
        ({"state_backend": "gcs"}, "state_backend"),
        ({"state_backend": "s3", "state_region": "eu-west-1"}, "state_bucket"),
        ({"state_backend": "s3", "state_bucket": "my-state"}, "state_region"),
        (
            {"state_backend": "s3", "state_bucket": "b..x", "state_region": "eu-west-1"},
            "state_bucket",
        ),
        ({"state_backend": "cloud", "state_workspace": "w"}, "state_organization"),
        ({"state_backend": "cloud", "state_organization": "o"}, "state_workspace"),
        ({"state_bucket": "orphan-bucket"}, "state_bucket"),
        ({"state_workspace": "orphan"}, "state_workspace"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_each_bad_value_names_its_setting(raw: dict[str, object], setting: str) -> None:
    with pytest.raises(SettingsError) as err:
        settings_from_mapping(raw)
    assert err.value.setting == setting
    assert setting in str(err.value)


def test_s3_and_cloud_backends_accept_valid_values() -> None:
    s3 = settings_from_mapping(
        {
            "state_backend": "s3",
            "state_bucket": "acme-tfstate",
            "state_region": "us-east-1",
            "state_kms_key_id": "alias/tfstate",
        }
    )
    assert s3.state.kind == "s3"
    cloud = settings_from_mapping(
        {"state_backend": "cloud", "state_organization": "acme", "state_workspace": "besu-prod"}
    )
    assert cloud.state.workspace == "besu-prod"


# --- property-based: random invalid input always yields one SettingsError naming the setting ----

_valid_name = st.from_regex(r"\A[a-z][a-z0-9]{1,8}(-[a-z0-9]{1,5})?\Z")
_junk = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(10**9), max_value=10**9),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@hsettings(max_examples=300, deadline=None)
@given(name=st.sampled_from(SETTING_NAMES), value=_junk)
def test_random_values_either_load_or_raise_one_settings_error_naming_the_setting(
    name: str, value: object
) -> None:
    try:
        result = settings_from_mapping({name: value})
    except SettingsError as exc:
        assert exc.setting.startswith(("state_", name)) or exc.setting == name
        assert exc.setting in str(exc)
        assert exc.allowed
    else:
        assert isinstance(result, Settings)


@hsettings(max_examples=200, deadline=None)
@given(name=st.text(min_size=1, max_size=40).filter(lambda n: not _valid_name_re(n)))
def test_random_invalid_network_names_are_rejected(name: str) -> None:
    with pytest.raises(SettingsError) as err:
        settings_from_mapping({"network_name": name})
    assert err.value.setting == "network_name"


@hsettings(max_examples=100, deadline=None)
@given(name=_valid_name)
def test_random_valid_network_names_are_accepted(name: str) -> None:
    assert settings_from_mapping({"network_name": name}).network_name == name


@hsettings(max_examples=100, deadline=None)
@given(count=st.integers().filter(lambda n: n < 1 or n > MAX_VALIDATORS or n in (2, 3)))
def test_random_out_of_range_validator_counts_are_rejected(count: int) -> None:
    with pytest.raises(SettingsError) as err:
        settings_from_mapping({"validator_count": str(count)})
    assert err.value.setting == "validator_count"


def _valid_name_re(name: str) -> bool:
    import re

    stripped = name.strip()
    return (
        bool(re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]", stripped))
        and "--" not in stripped
        and 2 <= len(stripped) <= 20
    )
