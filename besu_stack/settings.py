"""Synth-time settings: the shape of a deployment.

Shape is what changes the synthesized Terraform itself (how many validators, which consensus
protocol, whether a VPC is created, where state lives). Values that a pipeline changes between
environments (region, instance type, image, CIDRs...) are Terraform variables instead; see
``besu_stack.stacks.inputs``.

Settings come from three layers, later ones winning:

1. the defaults below,
2. an optional TOML settings file (``besu-stack.toml`` in the working directory, or the path in
   ``BESU_STACK_SETTINGS_FILE``),
3. environment variables ``BESU_STACK_<SETTING>`` (e.g. ``BESU_STACK_VALIDATOR_COUNT=7``).

Every invalid value raises :class:`SettingsError` naming the setting, the value and what is
allowed; the CLI turns it into one line and exit code 2.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

ConsensusProtocol = Literal["ibft2", "qbft"]
VpcMode = Literal["create", "existing"]
KeySecrets = Literal["create", "adopt"]
StateBackendKind = Literal["local", "s3", "cloud"]

SETTINGS_FILE_ENV = "BESU_STACK_SETTINGS_FILE"
DEFAULT_SETTINGS_FILE = "besu-stack.toml"
ENV_PREFIX = "BESU_STACK_"

MAX_VALIDATORS = 31
"""Upper bound on validators: BFT message cost grows with n squared; Besu documents networks of
a few dozen validators at most, and 31 keeps f = 10."""

NETWORK_NAME_MAX_LENGTH = 20
"""AWS names are built as ``<network_name>-<purpose>``; the tightest limit is 32 characters for
load balancers and target groups, which leaves 20 for the prefix with our longest suffix."""

_NETWORK_NAME_RE = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_TFC_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,90}$")


class SettingsError(ValueError):
    """A setting has a value that is not allowed.

    Attributes name the setting, the offending value and a description of what is allowed, so
    callers can render the error however they like; ``str()`` gives one readable line.
    """

    def __init__(self, setting: str, value: object, allowed: str, source: str = "") -> None:
        self.setting = setting
        self.value = value
        self.allowed = allowed
        self.source = source
        where = f" (from {source})" if source else ""
        super().__init__(f"invalid setting {setting}={value!r}{where}: {allowed}")


@dataclass(frozen=True)
class StateBackend:
    """Where Terraform keeps the state of the network stack.

    ``local`` (default) keeps ``terraform.tfstate`` next to the synthesized stack: fine for a
    first try, not for a team. ``s3`` uses an S3 bucket with native locking (create it with the
    state-bootstrap stack). ``cloud`` uses a Terraform Cloud / Enterprise workspace.
    """

    kind: StateBackendKind = "local"
    bucket: str = ""
    key: str = ""
    region: str = ""
    kms_key_id: str = ""
    organization: str = ""
    workspace: str = ""
    hostname: str = "app.terraform.io"


@dataclass(frozen=True)
class Settings:
    """The validated, immutable shape of one Besu network deployment."""

    network_name: str = "besu"
    """Prefix of every AWS resource name; lowercase letters, digits and hyphens."""
    validator_count: int = 4
    """Number of validators n; the network tolerates f = (n-1)//3 faulty ones (4 tolerates 1)."""
    consensus: ConsensusProtocol = "ibft2"
    """``ibft2`` (default, as the product was asked for) or ``qbft`` (Besu's recommendation for
    new networks). The two encode the genesis extraData differently."""
    vpc_mode: VpcMode = "create"
    """``create`` an isolated VPC, or deploy into an ``existing`` one given by variables."""
    key_secrets: KeySecrets = "create"
    """``create`` the slot secrets (the key Lambda fills them with fresh keys), or ``adopt``
    secrets ``<network_name>/validator-<slot>/key`` created before the first apply and holding
    your own keys (bring your own keys: see the README)."""
    state: StateBackend = field(default_factory=StateBackend)
    """Where Terraform state lives."""

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def max_faulty(self) -> int:
        """f: how many validators may fail while the network still makes progress."""
        return (self.validator_count - 1) // 3


# --- loading -------------------------------------------------------------------------------

# Flat names, as used in the settings file and (upper-cased, prefixed) in the environment.
_TOP_LEVEL = ("network_name", "validator_count", "consensus", "vpc_mode", "key_secrets")
_STATE_FIELDS = {
    "state_backend": "kind",
    "state_bucket": "bucket",
    "state_key": "key",
    "state_region": "region",
    "state_kms_key_id": "kms_key_id",
    "state_organization": "organization",
    "state_workspace": "workspace",
    "state_hostname": "hostname",
}
SETTING_NAMES: tuple[str, ...] = _TOP_LEVEL + tuple(_STATE_FIELDS)
"""Every setting name accepted in a settings file or as ``BESU_STACK_<NAME>``."""


@dataclass(frozen=True)
class LoadedSettings:
    """Settings together with where each value came from (``default``, a file, or an env var)."""

    settings: Settings
    sources: Mapping[str, str]

    def describe(self) -> list[tuple[str, object, str]]:
        """Rows of (setting, effective value, source) in a stable order."""
        flat = settings_as_flat_dict(self.settings)
        return [(name, flat[name], self.sources.get(name, "default")) for name in SETTING_NAMES]


def settings_as_flat_dict(settings: Settings) -> dict[str, object]:
    """The settings as the flat name → value mapping used by files and the environment."""
    flat: dict[str, object] = {name: getattr(settings, name) for name in _TOP_LEVEL}
    for flat_name, attr in _STATE_FIELDS.items():
        flat[flat_name] = getattr(settings.state, attr)
    return flat


def load_settings(
    *,
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> LoadedSettings:
    """Load settings from defaults, an optional TOML file and ``BESU_STACK_*`` variables.

    ``path`` (or ``BESU_STACK_SETTINGS_FILE``) names the file explicitly; it must then exist.
    Without either, ``besu-stack.toml`` in ``cwd`` is used when present.
    """
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    sources: dict[str, str] = {}

    file_path = _settings_file(path, env, Path(cwd) if cwd is not None else Path.cwd())
    if file_path is not None:
        for name, value in _read_settings_file(file_path).items():
            raw[name] = value
            sources[name] = str(file_path)

    for name in SETTING_NAMES:
        env_name = ENV_PREFIX + name.upper()
        if env_name in env:
            raw[name] = env[env_name]
            sources[name] = f"${env_name}"

    return LoadedSettings(settings=settings_from_mapping(raw, sources), sources=sources)


def settings_from_mapping(
    raw: Mapping[str, object], sources: Mapping[str, str] | None = None
) -> Settings:
    """Build :class:`Settings` from flat names; strings are coerced (they come from env vars)."""
    sources = sources or {}
    unknown = sorted(set(raw) - set(SETTING_NAMES))
    if unknown:
        name = unknown[0]
        raise SettingsError(
            name,
            raw[name],
            "unknown setting; known: " + ", ".join(SETTING_NAMES),
            sources.get(name, ""),
        )
    top: dict[str, Any] = {}
    state: dict[str, Any] = {}
    for name, value in raw.items():
        source = sources.get(name, "")
        if name == "validator_count":
            top[name] = _coerce_int(name, value, source)
        elif name in _STATE_FIELDS:
            state[_STATE_FIELDS[name]] = _coerce_str(name, value, source)
        else:
            top[name] = _coerce_str(name, value, source)
    try:
        return Settings(**top, state=StateBackend(**state))
    except SettingsError as exc:
        if not exc.source and exc.setting in sources:
            raise SettingsError(exc.setting, exc.value, exc.allowed, sources[exc.setting]) from None
        raise


def _settings_file(
    path: str | os.PathLike[str] | None, env: Mapping[str, str], cwd: Path
) -> Path | None:
    if path is not None:
        explicit = Path(path)
    elif env.get(SETTINGS_FILE_ENV):
        explicit = Path(env[SETTINGS_FILE_ENV])
    else:
        default = cwd / DEFAULT_SETTINGS_FILE
        return default if default.is_file() else None
    if not explicit.is_file():
        raise SettingsError("settings_file", str(explicit), "the file does not exist")
    return explicit


def _read_settings_file(path: Path) -> dict[str, object]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(
            "settings_file", str(path), f"cannot be read ({exc.__class__.__name__})"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError("settings_file", str(path), f"is not valid TOML: {exc}") from None
    flat: dict[str, object] = {}
    for key, value in data.items():
        if key == "state" and isinstance(value, dict):
            # [state] table: backend = "s3", bucket = "..." → state_backend, state_bucket
            for sub_key, sub_value in value.items():
                flat["state_" + ("backend" if sub_key in ("backend", "kind") else sub_key)] = (
                    sub_value
                )
        else:
            flat[key] = value
    return flat


def _coerce_int(name: str, value: object, source: str) -> int:
    if isinstance(value, bool):
        raise SettingsError(name, value, "a whole number", source)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,6}\s*", value):
        return int(value)
    raise SettingsError(name, value, "a whole number", source)


def _coerce_str(name: str, value: object, source: str) -> str:
    if isinstance(value, str):
        return value.strip()
    raise SettingsError(name, value, "a string", source)


# --- validation ------------------------------------------------------------------------------


def _validate(s: Settings) -> None:
    name = s.network_name
    if (
        not isinstance(name, str)
        or not (2 <= len(name) <= NETWORK_NAME_MAX_LENGTH)
        or not _NETWORK_NAME_RE.match(name)
        or "--" in name
    ):
        raise SettingsError(
            "network_name",
            name,
            f"2-{NETWORK_NAME_MAX_LENGTH} characters: lowercase letters, digits and single hyphens, "
            "starting with a letter and not ending with a hyphen",
        )
    count = s.validator_count
    if isinstance(count, bool) or not isinstance(count, int) or not (1 <= count <= MAX_VALIDATORS):
        raise SettingsError(
            "validator_count",
            count,
            f"a whole number from 1 to {MAX_VALIDATORS} (4 tolerates one faulty validator, 7 two)",
        )
    if count in (2, 3):
        raise SettingsError(
            "validator_count",
            count,
            f"{count} validators tolerate no failure, so every rolling change or replacement "
            "would halt the chain: use 1 (a development network) or 4 or more",
        )
    _check_choice("consensus", s.consensus, ConsensusProtocol)
    _check_choice("vpc_mode", s.vpc_mode, VpcMode)
    _check_choice("key_secrets", s.key_secrets, KeySecrets)
    _validate_state(s.state)


def _check_choice(setting: str, value: object, choices: Any) -> None:
    allowed: tuple[str, ...] = get_args(choices)
    if value not in allowed:
        raise SettingsError(setting, value, "one of " + ", ".join(allowed))


def _validate_state(state: StateBackend) -> None:
    _check_choice("state_backend", state.kind, StateBackendKind)
    used = {
        "local": set(),
        "s3": {"bucket", "key", "region", "kms_key_id"},
        "cloud": {"organization", "workspace", "hostname"},
    }[state.kind]
    defaults = StateBackend()
    for f in dataclasses.fields(StateBackend):
        if (
            f.name != "kind"
            and f.name not in used
            and getattr(state, f.name) != getattr(defaults, f.name)
        ):
            raise SettingsError(
                f"state_{f.name}",
                getattr(state, f.name),
                f"only used with state_backend={_backend_using(f.name)}, but state_backend={state.kind}",
            )
    if state.kind == "s3":
        if not _BUCKET_RE.match(state.bucket) or ".." in state.bucket:
            raise SettingsError(
                "state_bucket",
                state.bucket,
                "an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens); required with "
                "state_backend=s3 (the state-bootstrap stack prints it)",
            )
        if state.key and (state.key.startswith("/") or len(state.key) > 1024):
            raise SettingsError(
                "state_key", state.key, "a relative S3 object key, at most 1024 characters"
            )
        if not _REGION_RE.match(state.region):
            raise SettingsError(
                "state_region",
                state.region,
                "an AWS region such as eu-west-1; required with state_backend=s3",
            )
        if state.kms_key_id and not state.kms_key_id.startswith(("arn:aws", "alias/")):
            raise SettingsError("state_kms_key_id", state.kms_key_id, "a KMS key ARN or alias/NAME")
    if state.kind == "cloud":
        if not _TFC_NAME_RE.match(state.organization):
            raise SettingsError(
                "state_organization",
                state.organization,
                "a Terraform Cloud organization name (letters, digits, _ and -); required with state_backend=cloud",
            )
        if not _TFC_NAME_RE.match(state.workspace):
            raise SettingsError(
                "state_workspace",
                state.workspace,
                "a Terraform Cloud workspace name (letters, digits, _ and -); required with state_backend=cloud",
            )
        if not re.fullmatch(r"[a-z0-9.-]+\.[a-z]{2,}", state.hostname):
            raise SettingsError(
                "state_hostname", state.hostname, "a host name such as app.terraform.io"
            )


def _backend_using(field_name: str) -> str:
    return "s3" if field_name in {"bucket", "key", "region", "kms_key_id"} else "cloud"
