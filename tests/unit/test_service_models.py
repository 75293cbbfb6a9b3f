"""The trimmed botocore data each Lambda package carries, and how the kernel loads it.

Oracles: botocore itself (its full models, its ``EndpointResolver`` over its own
``endpoints.json``, the clients it builds from its own data), and the packages' code (the
operations it calls, found in the source, not in the list the models are cut from).
"""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path
from typing import Any

import botocore
import pytest
from botocore import xform_name
from botocore.exceptions import UnknownServiceError
from botocore.regions import EndpointResolver

from besu_stack.lambda_kernel import aws
from besu_stack.lambda_package import LAMBDA_PACKAGES, LAMBDA_SOURCE, package_service_models
from besu_stack.service_models import (
    ENDPOINTS,
    UnknownOperationError,
    builtin_loader,
    service_model_files,
    trimmed_endpoints,
    trimmed_service_model,
)
from tests.synth.test_reachability import services_called

ROOT = Path(__file__).resolve().parents[2]
LOADER = builtin_loader()


def full_model(service: str) -> dict[str, Any]:
    return dict(LOADER.load_service_model(service, "service-2"))


def _shape(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "documentation": f"<p>{kind}</p>", **fields}


SYNTHETIC: dict[str, Any] = {
    "version": "2.0",
    "documentation": "<p>a service</p>",
    "metadata": {"protocol": "json", "serviceId": "Synthetic", "endpointPrefix": "synthetic"},
    "operations": {
        "Zeta": {
            "name": "Zeta",
            "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": "ZetaInput"},
            "output": {"shape": "ZetaOutput"},
            "errors": [{"shape": "Busy"}],
            "documentation": "<p>z</p>",
            "documentationUrl": "https://example.com/zeta",
        },
        "Alpha": {"name": "Alpha", "http": {}, "input": {"shape": "AlphaInput"}},
    },
    "shapes": {
        "ZetaInput": _shape(
            "structure",
            members={
                "Tags": {"shape": "TagMap", "documentation": "<p>t</p>"},
                "documentation": {"shape": "Text"},  # a member named like the key
                "Items": {"shape": "ItemList"},
            },
        ),
        "ZetaOutput": _shape("structure", members={"Choice": {"shape": "Choice"}}),
        "TagMap": _shape("map", key={"shape": "Text"}, value={"shape": "Count"}),
        "ItemList": _shape("list", member={"shape": "Item"}),
        "Item": _shape("structure", members={"Id": {"shape": "Text"}}),
        "Choice": _shape("union", members={"Number": {"shape": "Count"}}),
        "Busy": _shape("structure", members={}, exception=True),
        "Text": _shape("string"),
        "Count": _shape("integer"),
        "AlphaInput": _shape("structure", members={"Unused": {"shape": "Lonely"}}),
        "Lonely": _shape("string"),
    },
}


def test_a_trimmed_model_keeps_what_its_operations_reach_and_drops_documentation() -> None:
    original = copy.deepcopy(SYNTHETIC)
    trimmed = trimmed_service_model(SYNTHETIC, ["Zeta"])
    assert original == SYNTHETIC  # the input is not changed
    assert list(trimmed["operations"]) == ["Zeta"]
    assert list(trimmed["shapes"]) == [  # botocore's order, only what Zeta reaches
        "ZetaInput",
        "ZetaOutput",
        "TagMap",
        "ItemList",
        "Item",
        "Choice",
        "Busy",
        "Text",
        "Count",
    ]
    assert "documentation" not in trimmed
    assert trimmed["metadata"] == SYNTHETIC["metadata"]
    zeta = trimmed["operations"]["Zeta"]
    assert set(zeta) == {"name", "http", "input", "output", "errors"}
    members = trimmed["shapes"]["ZetaInput"]["members"]
    assert list(members) == ["Tags", "documentation", "Items"]  # order kept, member kept
    assert members["Tags"] == {"shape": "TagMap"}
    assert all("documentation" not in shape for shape in trimmed["shapes"].values())
    assert trimmed["shapes"]["Busy"]["exception"] is True


def test_an_unknown_operation_is_named() -> None:
    with pytest.raises(UnknownOperationError, match="Synthetic has no operation Omega"):
        trimmed_service_model(SYNTHETIC, ["Zeta", "Omega"])


def _services_in(node: ast.AST, local: dict[str, set[str]] | None = None) -> set[str]:
    """The services of the ``aws_client("<service>")`` calls inside an expression, and of the
    ``local`` variables it names (variables assigned such a call in the same function)."""
    found = {
        str(call.args[0].value)
        for call in ast.walk(node)
        if isinstance(call, ast.Call)
        and getattr(call.func, "id", getattr(call.func, "attr", None)) == "aws_client"
        and call.args
        and isinstance(call.args[0], ast.Constant)
    }
    for name in ast.walk(node):
        if isinstance(name, ast.Name) and local and name.id in local:
            found |= local[name.id]
    return found


def _client_variables(scope: ast.AST) -> dict[str, set[str]]:
    """Variables of a function assigned an ``aws_client(...)`` call: name -> services."""
    variables: dict[str, set[str]] = {}
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            services = _services_in(node.value)
            for target in node.targets:
                if services and isinstance(target, ast.Name):
                    variables.setdefault(target.id, set()).update(services)
    return variables


def calls_by_service(package: Path) -> dict[str, set[str]]:
    """The client methods a package's code calls, by the service of the client they are on.

    The code's shape (``lambda_src/*/store.py``): a store class keeps the clients it is given in
    ``self._<name>`` attributes and calls ``self._<name>.<method>(...)``; the stores are built
    with ``aws_client("<service>")`` as arguments (``Stores.from_boto3``). So a client attribute
    of a class has the service of the ``aws_client`` call passed for that ``__init__``
    parameter, and a call on it (or a ``get_paginator("<name>")``) is a call of that service.
    """
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in sorted(package.rglob("*.py"))]
    classes = {
        node.name: node
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    }
    # (class, attribute) -> services, from constructor calls with aws_client() arguments.
    held: dict[tuple[str, str], set[str]] = {}
    owner = {  # a method -> its class, so that ``cls(...)`` in a classmethod is that class
        method: name
        for name, cls_node in classes.items()
        for method in ast.walk(cls_node)
        if isinstance(method, ast.FunctionDef)
    }
    scopes = [
        (scope, _client_variables(scope))
        for tree in trees
        for scope in ast.walk(tree)
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    for scope, local in scopes:
        for call in ast.walk(scope):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
                continue
            constructed = call.func.id
            if constructed == "cls" and scope in owner:
                constructed = owner[scope]
            cls = classes.get(constructed)
            init = (
                next(
                    (
                        f
                        for f in cls.body
                        if isinstance(f, ast.FunctionDef) and f.name == "__init__"
                    ),
                    None,
                )
                if cls
                else None
            )
            if cls is None or init is None:
                continue
            params = [a.arg for a in init.args.args[1:]]
            bound = dict(zip(params, call.args, strict=False))
            bound.update({k.arg: k.value for k in call.keywords if k.arg})
            for statement in ast.walk(init):
                if (
                    isinstance(statement, ast.Assign)
                    and isinstance(statement.value, ast.Name)
                    and statement.value.id in bound
                ):
                    for target in statement.targets:
                        if isinstance(target, ast.Attribute):
                            services = _services_in(bound[statement.value.id], local)
                            if services:
                                held.setdefault((cls.name, target.attr), set()).update(services)
    called: dict[str, set[str]] = {}
    for name, cls in classes.items():
        for call in ast.walk(cls):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                continue
            receiver = call.func.value
            if not (
                isinstance(receiver, ast.Attribute)
                and isinstance(receiver.value, ast.Name)
                and receiver.value.id == "self"
            ):
                continue
            for service in held.get((name, receiver.attr), set()):
                methods = called.setdefault(service, set())
                methods.add(call.func.attr)
                if call.func.attr == "get_paginator":
                    (argument,) = call.args
                    assert isinstance(argument, ast.Constant), f"{name}: paginator by literal"
                    methods.add(str(argument.value))
    return called


@pytest.mark.parametrize("package", sorted(LAMBDA_PACKAGES))
def test_the_declared_operations_are_the_ones_the_code_calls(package: str) -> None:
    """``aws_operations`` (what the models keep) equals the API calls found in the source.

    A missing operation would be an ``AttributeError`` on Lambda, an extra one a model larger
    than needed. The calls are found by :func:`calls_by_service`.
    """
    source = LAMBDA_SOURCE / package
    declared = LAMBDA_PACKAGES[package].aws_operations
    found = calls_by_service(source)
    assert set(declared) == set(found) == services_called(source)
    for service, operations in declared.items():
        model = full_model(service)
        called = {op for op in model["operations"] if xform_name(op) in found[service]}
        assert set(operations) == called, f"{package}/{service}"
        assert len(operations) == len(set(operations))


def test_the_call_finder_follows_a_client_through_a_variable_and_a_classmethod(
    tmp_path: Path,
) -> None:
    (tmp_path / "signer.py").write_text(
        "class Signer:\n"
        "    def __init__(self, kms, key):\n"
        "        self._kms = kms\n"
        "        self._key = key\n"
        "\n"
        "    @classmethod\n"
        "    def from_env(cls, key, guard=None):\n"
        "        kms = aws_client('kms', retries=1)\n"
        "        return cls(guard.wrap(kms) if guard is not None else kms, key)\n"
        "\n"
        "    def token(self):\n"
        "        return self._kms.sign(KeyId=self._key)\n"
    )
    assert calls_by_service(tmp_path) == {"kms": {"sign"}}


def test_the_call_finder_sees_each_stores_client() -> None:
    """Not vacuous: calls are attributed to the client they are made on (DeleteTags is an
    operation of both EC2 and Auto Scaling; the lifecycle functions call EC2's)."""
    found = calls_by_service(LAMBDA_SOURCE / "lifecycle")
    assert "delete_tags" in found["ec2"]
    assert "delete_tags" not in found["autoscaling"]
    assert {"describe_instances", "list_container_instances"} <= found["ec2"] | found["ecs"]
    health = calls_by_service(LAMBDA_SOURCE / "health")
    assert {"stop_task", "list_tasks"} <= health["ecs"]
    assert "set_instance_health" in health["autoscaling"]


@pytest.mark.parametrize("package", sorted(LAMBDA_PACKAGES))
def test_package_models_hold_exactly_the_declared_operations(package: str) -> None:
    files = package_service_models(package)
    declared = LAMBDA_PACKAGES[package].aws_operations
    expected = {
        f"{aws.SERVICE_MODELS_DIR}/{service}/"
        f"{LOADER.determine_latest_version(service, 'service-2')}/service-2.json"
        for service in declared
    } | {f"{aws.SERVICE_MODELS_DIR}/{ENDPOINTS}.json"}
    assert set(files) == expected
    assert files == package_service_models(package)  # the same bytes every time
    for path, data in files.items():
        assert data.endswith(b"\n")
        service = path.split("/")[1]
        if service in declared:
            model = json.loads(data)
            assert sorted(model["operations"]) == sorted(declared[service])
            assert model["metadata"] == full_model(service)["metadata"]
            described = [*model["operations"].values(), *model["shapes"].values()]
            described += [
                m for s in model["shapes"].values() for m in s.get("members", {}).values()
            ]
            assert not [d for d in described if "documentation" in d]


def test_models_are_a_fraction_of_botocore() -> None:
    """Why: EC2's full model is megabytes of JSON; the lifecycle functions call ten operations."""
    files = package_service_models("lifecycle")
    (ec2,) = [data for path, data in files.items() if "/ec2/" in path]
    assert len(ec2) < 100_000
    assert len(files[f"{aws.SERVICE_MODELS_DIR}/{ENDPOINTS}.json"]) < 100_000


def _resolutions(resolver: EndpointResolver, endpoints: dict[str, Any], prefix: str) -> list[Any]:
    answers: list[Any] = []
    for partition in endpoints["partitions"]:
        regions = [*partition["regions"], "not-a-region-1"]
        for region in regions:
            for fips in (False, True):
                for dualstack in (False, True):
                    try:
                        answer = resolver.construct_endpoint(
                            prefix,
                            region,
                            partition_name=partition["partition"],
                            use_fips_endpoint=fips,
                            use_dualstack_endpoint=dualstack,
                        )
                    except Exception as exc:  # compared by type with the full data's
                        answer = type(exc).__name__
                    answers.append((region, fips, dualstack, answer))
        answers.append(resolver.get_available_endpoints(prefix, partition["partition"]))
    return answers


@pytest.mark.parametrize("package", sorted(LAMBDA_PACKAGES))
def test_trimmed_endpoints_resolve_like_botocores_own(package: str) -> None:
    """In every partition, region and variant, for every service the package calls."""
    full = LOADER.load_data(ENDPOINTS)
    prefixes = [
        full_model(s)["metadata"]["endpointPrefix"] for s in LAMBDA_PACKAGES[package].aws_operations
    ]
    trimmed = trimmed_endpoints(full, prefixes)
    assert [p["partition"] for p in trimmed["partitions"]] == [
        p["partition"] for p in full["partitions"]
    ]
    ours = EndpointResolver(trimmed, uses_builtin_data=True)
    botocores = EndpointResolver(full, uses_builtin_data=True)
    for prefix in prefixes:
        assert _resolutions(ours, trimmed, prefix) == _resolutions(botocores, full, prefix)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unit")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unit")  # no request is sent
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DATA_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


def _install(package: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put ``package``'s data where the kernel finds it in a deployment package."""
    for name, data in package_service_models(package).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    models = tmp_path / aws.SERVICE_MODELS_DIR
    monkeypatch.setattr(aws, "service_models_dir", lambda: models)
    aws.botocore_session.cache_clear()
    return models


@pytest.fixture(autouse=True)
def fresh_session() -> Any:
    aws.botocore_session.cache_clear()
    yield
    aws.botocore_session.cache_clear()


def _builtins(client: Any) -> dict[str, Any]:
    """The inputs botocore gives a client's endpoint rules (deferred ones evaluated)."""
    builtins = client._ruleset_resolver._builtins
    return {str(k): v() if callable(v) else v for k, v in builtins.items()}


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("package", sorted(LAMBDA_PACKAGES))
def test_clients_are_built_from_the_trimmed_models_and_botocores_endpoints(
    package: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.session

    _install(package, tmp_path, monkeypatch)
    full_session = botocore.session.get_session()
    for service, operations in LAMBDA_PACKAGES[package].aws_operations.items():
        client = aws.aws_client(service)
        reference = full_session.create_client(service, config=aws.client_config())
        assert sorted(client.meta.service_model.operation_names) == sorted(operations)
        assert client.meta.endpoint_url == reference.meta.endpoint_url
        assert client.meta.region_name == reference.meta.region_name
        assert client.meta.partition == reference.meta.partition
        assert client.meta.config.signature_version == reference.meta.config.signature_version
        # The endpoint rules get the same inputs: in particular no SDK::Endpoint, which botocore
        # sets from custom endpoints.json data (the package's counts as botocore's own).
        assert _builtins(client) == _builtins(reference)
        for operation in operations:
            assert callable(getattr(client, xform_name(operation)))


@pytest.mark.usefixtures("env")
def test_a_client_of_a_service_the_package_does_not_carry_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install("health", tmp_path, monkeypatch)
    with pytest.raises(UnknownServiceError):
        aws.aws_client("ec2")


@pytest.mark.usefixtures("env")
def test_a_runtime_older_than_the_floor_uses_its_own_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install("lifecycle", tmp_path, monkeypatch)
    older = list(aws.SERVICE_MODELS_MIN_BOTOCORE)
    older[-1] -= 1
    monkeypatch.setattr(botocore, "__version__", ".".join(map(str, older)))
    ec2 = aws.aws_client("ec2")
    assert len(ec2.meta.service_model.operation_names) == len(full_model("ec2")["operations"])


@pytest.mark.usefixtures("env")
def test_without_models_the_clients_are_botocores_full_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aws, "service_models_dir", lambda: None)
    ec2 = aws.aws_client("ec2")
    assert len(ec2.meta.service_model.operation_names) == len(full_model("ec2")["operations"])


def test_the_kernel_looks_for_models_at_the_package_root() -> None:
    expected = Path(aws.__file__).resolve().parents[2] / aws.SERVICE_MODELS_DIR
    assert not expected.exists()  # a checkout carries none: only built packages do
    assert aws.service_models_dir() is None


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("1.38.31", (1, 38, 31)), ("1.44.18", (1, 44, 18)), ("2.0.0.dev3", (2, 0, 0))],
)
def test_botocore_versions_compare_as_numbers(text: str, parsed: tuple[int, ...]) -> None:
    assert aws.botocore_version(text) == parsed
    assert aws.botocore_version("1.38.100") > aws.botocore_version("1.38.31")


def test_the_pinned_botocore_is_at_or_above_the_floor() -> None:
    assert aws.botocore_version(botocore.__version__) >= aws.SERVICE_MODELS_MIN_BOTOCORE


def test_make_setup_installs_the_floor_the_kernel_names() -> None:
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(r"^LAMBDA_BOTOCORE_FLOOR := (\S+)$", makefile, re.MULTILINE)
    assert match, "Makefile: LAMBDA_BOTOCORE_FLOOR"
    assert match.group(1) == ".".join(map(str, aws.SERVICE_MODELS_MIN_BOTOCORE))


def test_service_model_files_of_nothing_is_nothing() -> None:
    assert service_model_files({}) == {}
