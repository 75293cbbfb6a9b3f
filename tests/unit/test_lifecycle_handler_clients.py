"""Each lifecycle function builds the clients its own handler calls, and only those.

The launch hook, the termination hook and the reconciler share the ``lifecycle`` package; each
handler names its stores in ``STORES_CALLED`` and ``Stores.from_boto3`` builds a client for
those only, so a cold start pays for no other handler's clients. The oracle is the code: the
stores reachable from each handler's entry point, following the package's own functions.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from besu_stack.lambda_package import LAMBDA_SOURCE
from lambda_src.lifecycle.store import STORE_NAMES, ClientNotBuiltError, Stores

PACKAGE = LAMBDA_SOURCE / "lifecycle"
HANDLERS = {
    "launch_handler": "handle_launch",
    "termination_handler": "handle_termination",
    "reconcile_handler": "reconcile",
}
"""Handler module -> the package function its ``handler`` runs."""


def _module(name: str) -> ast.Module:
    return ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))


def _functions() -> dict[str, dict[str, ast.FunctionDef]]:
    """Top-level functions of every module of the package, by module and name."""
    return {
        path.stem: {
            node.name: node for node in _module(path.stem).body if isinstance(node, ast.FunctionDef)
        }
        for path in sorted(PACKAGE.glob("*.py"))
    }


def _imports(module: str) -> dict[str, str]:
    """Names a module imports from its sibling modules (``from .x import f``): name -> x."""
    found = {}
    for node in _module(module).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                found[alias.asname or alias.name] = node.module
    return found


def stores_reached(module: str, function: str) -> set[str]:
    """The ``stores.<name>`` attributes used by ``function`` and the package functions it calls."""
    functions = _functions()
    seen: set[tuple[str, str]] = set()
    used: set[str] = set()
    pending = [(module, function)]
    while pending:
        where, name = pending.pop()
        if (where, name) in seen:
            continue
        seen.add((where, name))
        imports = _imports(where)
        for node in ast.walk(functions[where][name]):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "stores"
            ):
                used.add(node.attr)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                callee = node.func.id
                if callee in functions[where]:
                    pending.append((where, callee))
                elif callee in imports and callee in functions.get(imports[callee], {}):
                    pending.append((imports[callee], callee))
    return used & set(STORE_NAMES)


def _stores_called(handler: str) -> tuple[str, ...]:
    for node in _module(handler).body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "STORES_CALLED"
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, tuple)
            return value
    raise AssertionError(f"{handler} has no STORES_CALLED")


@pytest.mark.parametrize("handler", sorted(HANDLERS))
def test_each_handler_builds_exactly_the_stores_it_calls(handler: str) -> None:
    entry = HANDLERS[handler]
    (module,) = [m for m, fs in _functions().items() if entry in fs and m != handler]
    assert set(_stores_called(handler)) == stores_reached(module, entry)


def test_the_handlers_need_different_clients() -> None:
    """The reason for the split: the launch hook never drains or unmounts, the termination hook
    never points DNS or publishes metrics, the reconciler does neither."""
    called = {h: set(_stores_called(h)) for h in HANDLERS}
    assert {"containers", "commands"} - called["launch_handler"] == {"containers", "commands"}
    assert not {"dns", "metrics"} & called["termination_handler"]
    assert not {"dns", "lifecycle", "containers", "commands"} & called["reconcile_handler"]
    assert stores_reached("reconcile", "reconcile") >= {"secrets"}  # through release_slot


def _stores(called: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> tuple[Stores, list[str]]:
    built: list[str] = []

    def fake_client(service: str, **_: Any) -> object:
        built.append(service)
        return object()

    monkeypatch.setattr("lambda_src.lifecycle.store.aws_client", fake_client)
    stores = Stores.from_boto3(
        table_name="t",
        zone_id="z",
        instance_role_arn="arn:aws:iam::123456789012:role/r",
        key_lambda_role_arn="arn:aws:iam::123456789012:role/k",
        secrets_key_arn="arn:aws:kms:eu-west-1:123456789012:key/k",
        metric_namespace="n",
        network="net",
        ecs_cluster="c",
        called=called,
    )
    return stores, built


def test_only_the_named_stores_get_a_client(monkeypatch: pytest.MonkeyPatch) -> None:
    stores, built = _stores(("registry", "ec2", "metrics"), monkeypatch)
    assert built == ["dynamodb", "ec2", "cloudwatch"]
    with pytest.raises(
        ClientNotBuiltError, match="'dns' store, yet called change_resource_record_sets"
    ):
        stores.dns.point("validator-0.net.internal", "10.0.0.1", 30)


def test_every_store_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    _, built = _stores(STORE_NAMES, monkeypatch)
    assert sorted(built) == sorted(
        ["dynamodb", "ec2", "route53", "secretsmanager", "autoscaling", "cloudwatch", "ecs", "ssm"]
    )


def test_an_unknown_store_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="no store dsn"):
        _stores(("registry", "dsn"), monkeypatch)


def test_handler_modules_are_where_the_test_looks() -> None:
    for handler in HANDLERS:
        assert Path(PACKAGE / f"{handler}.py").is_file()
