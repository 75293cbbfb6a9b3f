"""The validator host's user data: checked as text, and run end to end against stub commands.

For the runs, the script's absolute paths are rewritten into a temporary directory and every
system command it needs (curl for IMDSv2, aws, blkid, mkfs.xfs, mount, mountpoint, chown,
systemctl, logger, sleep) is a stub on ``PATH`` that appends its arguments to one call log, so
the order of the host's actions can be asserted.
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from besu_stack.constructs.fleet.host_bootstrap import BESU_UID, host_bootstrap_script
from tests.support.fake_besu import read_public_key
from tests.support.tokens import LocalSigningKey

BASH = shutil.which("bash")
KEY = "0x" + "5a" * 32
SECRET_FETCH = "secretsmanager get-secret-value"
RPC_TOKEN_KEY = "alias/besu-rpc-token"
RPC_KEY = LocalSigningKey()
"""Stands in for the KMS key; the stub ``aws kms get-public-key`` prints its public key as the
AWS CLI does (base64 of the DER SubjectPublicKeyInfo)."""
ECS_START = "systemctl enable --now --no-block ecs"


def _lines(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines() if line.strip()]


def _index(lines: list[str], needle: str) -> int:
    found = [i for i, line in enumerate(lines) if needle in line]
    assert len(found) == 1, f"{needle!r} on lines {found}"
    return found[0]


# --- the script as text ---------------------------------------------------------------------


@pytest.mark.skipif(BASH is None, reason="bash not installed")
def test_script_is_valid_bash(tmp_path: Path) -> None:
    path = tmp_path / "user-data.sh"
    path.write_text(
        host_bootstrap_script(rpc_token_key=RPC_TOKEN_KEY, cluster_name="besu-validators")
    )
    result = subprocess.run([BASH or "bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_cluster_wait_and_uid_are_substituted() -> None:
    script = host_bootstrap_script(
        rpc_token_key=RPC_TOKEN_KEY, cluster_name="net-a-validators", wait_seconds=1234
    )
    assert script.startswith("#!/bin/bash\n")
    assert "CLUSTER=net-a-validators\n" in script
    assert "WAIT_SECONDS=1234\n" in script
    assert f"BESU_UID={BESU_UID}\n" in script
    assert "__CLUSTER__" not in script and "__WAIT__" not in script and "__UID__" not in script
    assert "RPC_TOKEN_KEY=alias/besu-rpc-token\n" in script and "__RPC_TOKEN_KEY__" not in script
    assert "ECS_CLUSTER=$CLUSTER" in script
    assert "WAIT_SECONDS=900\n" in host_bootstrap_script(
        rpc_token_key=RPC_TOKEN_KEY, cluster_name="x"
    )


@pytest.mark.parametrize(
    "cluster_name",
    ["", "${aws_ecs_cluster.cluster.name}", "${TfToken[TOKEN.12]}", "prefix-${var.name}"],
)
def test_refuses_cluster_names_that_are_not_literals(cluster_name: str) -> None:
    with pytest.raises(ValueError, match="cluster_name must be a literal"):
        host_bootstrap_script(rpc_token_key=RPC_TOKEN_KEY, cluster_name=cluster_name)


@pytest.mark.parametrize("wait_seconds", [0, 59, 7201, -1])
def test_refuses_waits_out_of_range(wait_seconds: int) -> None:
    with pytest.raises(ValueError, match="wait_seconds must be from 60 to 7200"):
        host_bootstrap_script(
            rpc_token_key=RPC_TOKEN_KEY, cluster_name="c", wait_seconds=wait_seconds
        )


@pytest.mark.parametrize("wait_seconds", [60, 7200])
def test_accepts_the_wait_bounds(wait_seconds: int) -> None:
    assert f"WAIT_SECONDS={wait_seconds}\n" in host_bootstrap_script(
        rpc_token_key=RPC_TOKEN_KEY, cluster_name="c", wait_seconds=wait_seconds
    )


def test_cluster_name_is_shell_quoted() -> None:
    script = host_bootstrap_script(rpc_token_key=RPC_TOKEN_KEY, cluster_name="a b;reboot")
    assert "CLUSTER='a b;reboot'\n" in script


def test_ecs_agent_starts_last_after_the_key_is_in_place() -> None:
    lines = _lines(host_bootstrap_script(rpc_token_key=RPC_TOKEN_KEY, cluster_name="c"))
    fetch = _index(lines, SECRET_FETCH)
    start = _index(lines, ECS_START)
    assert fetch < _index(lines, "mv /run/besu/key.tmp /run/besu/key") < start
    assert _index(lines, "cat > /etc/ecs/ecs.config") < start
    # Nothing but a log line after the agent start.
    assert all(line.startswith("echo ") for line in lines[start + 1 :])
    assert sum("systemctl" in line for line in lines) == 1


def test_key_lives_on_a_root_only_tmpfs_with_mode_0400_never_on_a_disk() -> None:
    script = host_bootstrap_script(rpc_token_key=RPC_TOKEN_KEY, cluster_name="c")
    lines = _lines(script)
    assert "umask 077" in lines[:6]
    tmpfs = _index(lines, "mount -t tmpfs")
    assert "/run/besu" in lines[tmpfs] and "mode=0700" in lines[tmpfs]
    assert "noexec" in lines[tmpfs] and "uid=$BESU_UID" in lines[tmpfs]
    assert tmpfs < _index(lines, SECRET_FETCH)
    assert "chmod 0400 /run/besu/key.tmp" in lines
    # Every file the secret is written to is on the tmpfs.
    fetch = script[script.index(SECRET_FETCH) :].split("||", 1)[0]
    assert re.findall(r">\s*(\S+)", fetch) == ["/run/besu/key.tmp"]
    assert not any("/var/lib/besu" in line and "key" in line for line in lines)
    assert "set -x" not in script


# --- the script, run -------------------------------------------------------------------------

STUBS = {
    "curl": r"""
echo "curl $*" >> "$CALLS"
case "$*" in
  *"-X PUT"*) echo token; exit 0 ;;
esac
url=${@: -1}
case "$url" in
  */tags/instance/*)
    key=${url##*/tags/instance/}
    [ -f "$TAGS/$key" ] || exit 22
    cat "$TAGS/$key" ;;
  */placement/region) echo eu-west-1 ;;
  */local-ipv4) echo 10.0.1.23 ;;
  *) exit 22 ;;
esac
""",
    "aws": r"""
echo "aws $*" >> "$CALLS"
case "$*" in
  *"s3 cp"*) dst=${@: -1}; echo '{}' > "$dst" ;;
  *"ec2 describe-network-interfaces"*)
    [ -n "${FAKE_LB_IPS:-}" ] || exit 255
    printf '%s\n' "$FAKE_LB_IPS" ;;
  *"secretsmanager get-secret-value"*)
    [ -n "${FAKE_KEY:-}" ] || exit 255
    printf '%s\n' "$FAKE_KEY" ;;
  *"kms get-public-key"*)
    [ -n "${FAKE_PUBLIC_KEY:-}" ] || exit 254
    printf '%s\n' "$FAKE_PUBLIC_KEY" ;;
  *) exit 2 ;;
esac
""",
    "blkid": 'echo "blkid $*" >> "$CALLS"; exit "${BLKID_RC:-2}"',
    "mkfs.xfs": 'echo "mkfs.xfs $*" >> "$CALLS"',
    "mountpoint": 'echo "mountpoint $*" >> "$CALLS"; exit 1',
    "mount": 'echo "mount $*" >> "$CALLS"',
    "chown": 'echo "chown $*" >> "$CALLS"',
    "systemctl": 'echo "systemctl $*" >> "$CALLS"',
    "logger": 'cat >> "$ROOT/console"',
    "sleep": "exit 0",
    "dnf": 'echo "dnf $*" >> "$CALLS"',
}
TAGS = {
    "besu:slot": "3",
    "besu:secret-name": "besu/validator-3/key",
    "besu:address": "0x" + "12" * 20,
    "besu:p2p-host": "validator-3.besu.besu.internal",
    "besu:volume-id": "vol-0123456789abcdef0",
    "besu:genesis": "s3://bucket/genesis.json",
    "besu:static-nodes": "s3://bucket/static-nodes.json",
}
DEVICE = "nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0"


@dataclass
class Host:
    root: Path

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def calls(self) -> list[str]:
        log = self.root / "calls"
        return log.read_text().splitlines() if log.exists() else []

    def run(
        self,
        *,
        key: str = KEY,
        blank: bool = True,
        tags: dict[str, str] = TAGS,
        load_balancer: str | None = "besu-rpc",
        load_balancer_ips: str = "10.0.0.5\t10.0.1.6\t10.0.2.7",
        public_key: str = RPC_KEY.public_key_der_base64,
    ) -> subprocess.CompletedProcess[str]:
        tag_dir = self.root / "tags"
        tag_dir.mkdir(exist_ok=True)
        for name, value in tags.items():
            (tag_dir / name).write_text(value + "\n")
        script = host_bootstrap_script(
            cluster_name="besu-validators",
            wait_seconds=60,
            load_balancer_name=load_balancer,
            rpc_token_key=RPC_TOKEN_KEY,
        )
        for absolute in ("/etc/besu", "/etc/ecs", "/var/lib/besu", "/run/besu", "/dev/console"):
            assert absolute in script
        local = re.sub(
            r"(/etc/besu|/etc/ecs|/var/lib/besu|/run/besu|/dev/console|/dev/disk/by-id|/opt/aws)",
            lambda m: str(self.path(m.group(1))),
            script,
        )
        (self.root / "user-data.sh").write_text(local)
        return subprocess.run(
            [BASH or "bash", str(self.root / "user-data.sh")],
            capture_output=True,
            text=True,
            timeout=60,
            env={
                "PATH": f"{self.root / 'stubs'}:/usr/bin:/bin",
                "CALLS": str(self.root / "calls"),
                "TAGS": str(tag_dir),
                "ROOT": str(self.root),
                "FAKE_KEY": key,
                "FAKE_LB_IPS": load_balancer_ips,
                "FAKE_PUBLIC_KEY": public_key,
                "BLKID_RC": "2" if blank else "0",
            },
        )


@pytest.fixture
def host(tmp_path: Path) -> Host:
    if BASH is None:
        pytest.skip("bash not installed")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, body in STUBS.items():
        stub = stubs / name
        stub.write_text("#!/bin/bash\n" + body.strip() + "\n")
        stub.chmod(0o755)
    for directory in ("etc/ecs", "dev/disk/by-id", "var/lib", "run"):
        (tmp_path / directory).mkdir(parents=True)
    (tmp_path / "dev/disk/by-id" / DEVICE).touch()
    return Host(tmp_path)


def test_run_prepares_the_slot_and_starts_ecs_last(host: Host) -> None:
    result = host.run()
    assert result.returncode == 0, (result, (host.root / "console").read_text())
    calls = host.calls()
    assert calls[-1] == "systemctl enable --now --no-block ecs"
    assert sum(c.startswith("systemctl") for c in calls) == 1
    tmpfs = next(i for i, c in enumerate(calls) if c.startswith("mount -t tmpfs"))
    fetch = next(i for i, c in enumerate(calls) if SECRET_FETCH in c)
    assert tmpfs < fetch < len(calls) - 1
    assert str(host.path("/run/besu")) in calls[tmpfs]
    assert "--secret-id besu/validator-3/key" in calls[fetch]
    assert "--region eu-west-1" in calls[fetch]
    # IMDSv2: every metadata read carries a token.
    reads = [c for c in calls if c.startswith("curl") and "-X PUT" not in c]
    assert reads and all("X-aws-ec2-metadata-token: token" in c for c in reads)

    key = host.path("/run/besu/key")
    assert key.read_text().strip() == KEY
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    assert not host.path("/run/besu/key.tmp").exists()
    for path in host.path("/var/lib/besu").rglob("*"):
        assert not path.is_file() or KEY not in path.read_text(errors="ignore"), path
    assert KEY not in result.stdout + result.stderr
    assert KEY not in (host.root / "console").read_text()

    node_env = host.path("/etc/besu/node.env").read_text().splitlines()
    # No BESU_ prefix: Besu reads every BESU_<OPTION> variable as that option
    # (EnvironmentVariableDefaultProvider, Besu 25.11.0).
    assert node_env == [
        "NODE_SLOT=3",
        "NODE_PRIVATE_IP=10.0.1.23",
        "NODE_HOST=validator-3.besu.besu.internal",
        "NODE_LOAD_BALANCER_IPS=10.0.0.5,10.0.1.6,10.0.2.7",
        f"NODE_EXPECTED_ADDRESS={TAGS['besu:address']}",
    ]
    lookup = next(c for c in calls if "describe-network-interfaces" in c)
    assert "Name=description,Values=ELB net/besu-rpc/*" in lookup
    ecs = host.path("/etc/ecs/ecs.config").read_text()
    assert "ECS_CLUSTER=besu-validators\n" in ecs
    assert 'ECS_INSTANCE_ATTRIBUTES={"besu.slot":"3"}\n' in ecs
    # The slot's volume: a blank one gets a file system, then it is mounted at /var/lib/besu.
    device = str(host.path("/dev/disk/by-id") / DEVICE)
    assert f"mkfs.xfs -q -L besu-data {device}" in calls
    assert f"mount -o noatime {device} {host.path('/var/lib/besu')}" in calls


def test_run_never_formats_a_volume_that_has_a_file_system(host: Host) -> None:
    result = host.run(blank=False)
    assert result.returncode == 0, result
    calls = host.calls()
    assert any(c.startswith("blkid") for c in calls)
    assert not any(c.startswith("mkfs") for c in calls)
    assert any(c.startswith("mount -o noatime") for c in calls)


def test_run_stops_before_ecs_when_the_key_cannot_be_read(host: Host) -> None:
    result = host.run(key="")
    assert result.returncode != 0
    assert not any(c.startswith("systemctl") for c in host.calls())
    assert not host.path("/run/besu/key").exists()
    assert not host.path("/etc/ecs/ecs.config").exists()
    assert "cannot read the key of slot 3" in (host.root / "console").read_text()


def test_run_gives_up_without_ecs_when_no_slot_is_assigned(host: Host) -> None:
    """No ``besu:slot`` tag within the wait: fail, never start the agent (a fake clock makes the
    60 s bound end the loop at once)."""
    tags = {k: v for k, v in TAGS.items() if k != "besu:slot"}
    fake_date = host.root / "stubs" / "date"
    # Each call to date advances the clock by 61 s.
    fake_date.write_text(
        '#!/bin/bash\nn=$(cat "$ROOT/clock" 2>/dev/null || echo 1000)\n'
        'echo $((n + 61)) > "$ROOT/clock"\necho "$n"\n'
    )
    fake_date.chmod(0o755)
    result = host.run(tags=tags)
    assert result.returncode != 0
    calls = host.calls()
    assert not any(c.startswith(("systemctl", "aws", "mount", "mkfs")) for c in calls)
    assert "no slot assigned within 60s" in (host.root / "console").read_text()


def test_node_env_names_the_entry_point_reads(host: Host) -> None:
    """The bootstrap writes exactly the variables the entry point reads."""
    from besu_stack.constructs.fleet.node_entrypoint import NODE_ENV_VARIABLES

    assert host.run().returncode == 0
    written = [
        line.split("=", 1)[0] for line in host.path("/etc/besu/node.env").read_text().splitlines()
    ]
    assert written == list(NODE_ENV_VARIABLES)
    assert not any(name.startswith(("BESU_", "PANTHEON_")) for name in written)


def test_without_a_load_balancer_the_node_ip_stands_in(host: Host) -> None:
    assert host.run(load_balancer=None).returncode == 0
    assert "NODE_LOAD_BALANCER_IPS=10.0.1.23" in host.path("/etc/besu/node.env").read_text()
    assert not any("describe-network-interfaces" in c for c in host.calls())


def test_stops_before_ecs_when_the_load_balancer_has_no_interfaces(host: Host) -> None:
    fake_date = host.root / "stubs" / "date"
    fake_date.write_text(
        '#!/bin/bash\nn=$(cat "$ROOT/clock" 2>/dev/null || echo 1000)\n'
        'echo $((n + 61)) > "$ROOT/clock"\necho "$n"\n'
    )
    fake_date.chmod(0o755)
    result = host.run(load_balancer_ips="")
    assert result.returncode != 0
    assert not any(c.startswith("systemctl") for c in host.calls())
    assert "no network interfaces of load balancer besu-rpc" in (host.root / "console").read_text()


@pytest.mark.parametrize("name", ["", "a" * 33, "bad name", "${var.x}"])
def test_refuses_load_balancer_names_that_are_not_literals(name: str) -> None:
    with pytest.raises(ValueError, match="load_balancer_name"):
        host_bootstrap_script(
            rpc_token_key=RPC_TOKEN_KEY, cluster_name="x", load_balancer_name=name
        )


def test_run_writes_the_rpc_token_public_key_besu_reads(host: Host) -> None:
    """The PEM file holds the key KMS returned, as Besu reads it (JWTAuthOptionsFactory's
    PemReader, mirrored by the fake Besu), where the command line points, readable by Besu."""
    from besu_stack.besu.command_line import BesuNodeOptions

    assert host.run().returncode == 0
    (fetch,) = [c for c in host.calls() if "kms get-public-key" in c]
    assert f"--key-id {RPC_TOKEN_KEY} --query PublicKey --output text" in fetch
    assert "--region eu-west-1" in fetch
    path = BesuNodeOptions(protocol="ibft2").rpc_token_public_key_file
    pem = host.path(path)
    assert stat.S_IMODE(pem.stat().st_mode) == 0o644
    lines = pem.read_text().splitlines()
    assert lines[0] == "-----BEGIN PUBLIC KEY-----" and lines[-1] == "-----END PUBLIC KEY-----"
    assert all(len(line) <= 64 for line in lines[1:-1])
    read = read_public_key(pem.read_bytes())
    assert read.public_numbers() == RPC_KEY.private_key.public_key().public_numbers()


@pytest.mark.parametrize("public_key", ["", "not base64!"])
def test_run_stops_before_ecs_without_the_rpc_token_public_key(host: Host, public_key: str) -> None:
    result = host.run(public_key=public_key)
    assert result.returncode != 0
    assert not any(c.startswith("systemctl") for c in host.calls())
    assert f"public key of {RPC_TOKEN_KEY}" in (host.root / "console").read_text()


@pytest.mark.parametrize(
    "alias", ["", "rpc-token", "alias/", "alias/a b", "${aws_kms_alias.x.name}", "alias/aws/ebs"]
)
def test_refuses_rpc_token_keys_that_are_not_literal_aliases(alias: str) -> None:
    with pytest.raises(ValueError, match="rpc_token_key must be the literal alias"):
        host_bootstrap_script(cluster_name="x", rpc_token_key=alias)
