"""Trimmed botocore data for the Lambda packages, made when a package is built.

Building a botocore client loads the service's whole model (``service-2.json``) and creates a
method for each of its operations: EC2's model has over 800 operations and took about 0.15 s
of a cold start to parse on this project's machine, as long as importing boto3. Before the
first client, botocore also parses ``endpoints.json``, every service in every partition (1.2 MB).
A function calls a handful of operations of a few services. So each deployment package
carries, under :data:`~besu_stack.lambda_kernel.aws.SERVICE_MODELS_DIR`:

* for each service it calls, a ``<service>/<api-version>/service-2.json`` holding only the
  operations the package calls (:attr:`besu_stack.lambda_package.LambdaPackage.aws_operations`)
  and the shapes they reach, without documentation;
* ``endpoints.json`` with only those services, in every partition.

The kernel's loader searches that directory first (:func:`besu_stack.lambda_kernel.aws.
package_loader`); endpoint rules, paginators, retry rules and the rest still come from the
runtime's botocore.

The data is cut from the botocore installed here (pinned in ``pyproject.toml``): the same
botocore gives the same bytes. Nothing is rewritten, only left out: the metadata (protocol,
signing, endpoint prefix), every kept operation and every shape it reaches stay as botocore ships
them, in botocore's key order (the XML and query serializers write members in model order).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from besu_stack.lambda_kernel.aws import SERVICE_MODELS_DIR

MODEL_TYPE = "service-2"
"""The botocore model file a client is built from."""
ENDPOINTS = "endpoints"
"""botocore's endpoint data file (every service in every partition: 1.2 MB of JSON)."""

_DOCUMENTATION_KEYS = frozenset({"documentation", "documentationUrl"})


class UnknownOperationError(ValueError):
    """An operation named for a trimmed model is not in the service's botocore model."""


def _without_docs(node: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in node.items() if key not in _DOCUMENTATION_KEYS}


def _referenced_shapes(shape: Mapping[str, Any]) -> list[str]:
    """The shapes one shape refers to (structure/union members, list member, map key/value)."""
    refs = [member["shape"] for member in shape.get("members", {}).values()]
    refs += [shape[key]["shape"] for key in ("member", "key", "value") if key in shape]
    return refs


def _trimmed_shape(shape: Mapping[str, Any]) -> dict[str, Any]:
    trimmed = _without_docs(shape)
    if "members" in trimmed:
        trimmed["members"] = {
            name: _without_docs(member) for name, member in trimmed["members"].items()
        }
    return trimmed


def trimmed_service_model(model: Mapping[str, Any], operations: Iterable[str]) -> dict[str, Any]:
    """``model`` (a loaded ``service-2``) with only ``operations`` and the shapes they reach.

    An operation keeps its input, output and error shapes; a shape keeps every shape it refers
    to. Documentation strings are left out (botocore reads them only to build docstrings).
    Raises :class:`UnknownOperationError` naming an operation the model does not define.
    """
    wanted = sorted(set(operations))
    unknown = [name for name in wanted if name not in model["operations"]]
    if unknown:
        service = model["metadata"].get("serviceId", "?")
        raise UnknownOperationError(
            f"{service} has no operation {', '.join(unknown)} (names are the API's, e.g. "
            "DescribeInstances)"
        )
    pending: list[str] = []
    kept_operations: dict[str, Any] = {}
    for name, operation in model["operations"].items():
        if name not in wanted:
            continue
        kept_operations[name] = _without_docs(operation)
        pending += [operation[key]["shape"] for key in ("input", "output") if key in operation]
        pending += [error["shape"] for error in operation.get("errors", [])]
    reached: set[str] = set()
    while pending:
        name = pending.pop()
        if name not in reached:
            reached.add(name)
            pending += _referenced_shapes(model["shapes"][name])
    trimmed = _without_docs(model)
    trimmed["operations"] = kept_operations
    trimmed["shapes"] = {
        name: _trimmed_shape(shape) for name, shape in model["shapes"].items() if name in reached
    }
    return trimmed


def trimmed_endpoints(endpoints: Mapping[str, Any], prefixes: Iterable[str]) -> dict[str, Any]:
    """The endpoint data of botocore's ``endpoints.json`` with only the services of ``prefixes``.

    Every partition keeps everything else (regions, defaults, DNS suffix, region pattern), so
    botocore's ``EndpointResolver`` answers the same for these services in every partition
    (``tests/unit/test_service_models.py`` compares them over every region and variant).
    """
    keep = set(prefixes)
    trimmed = dict(endpoints)
    trimmed["partitions"] = [
        {
            **partition,
            "services": {
                name: service for name, service in partition["services"].items() if name in keep
            },
        }
        for partition in endpoints["partitions"]
    ]
    return trimmed


def _json_bytes(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def builtin_loader() -> Any:
    """A botocore ``Loader`` over the installed botocore's own data only.

    Never ``~/.aws/models`` or this machine's ``AWS_DATA_PATH``: a package is the same wherever
    it is built.
    """
    from botocore.loaders import Loader

    return Loader(extra_search_paths=[Loader.BUILTIN_DATA_PATH], include_default_search_paths=False)


def service_model_files(
    aws_operations: Mapping[str, Sequence[str]], loader: Any = None
) -> dict[str, bytes]:
    """The trimmed data of ``aws_operations`` (service -> API operation names), by zip path.

    For each service, ``<SERVICE_MODELS_DIR>/<service>/<api-version>/service-2.json``, the
    newest API version botocore has; and ``<SERVICE_MODELS_DIR>/endpoints.json`` with these
    services' endpoints (:func:`trimmed_endpoints`). Compact JSON in botocore's key order.
    ``loader`` defaults to :func:`builtin_loader`. Empty when there are no operations.
    """
    if not aws_operations:
        return {}
    loader = loader or builtin_loader()
    files: dict[str, bytes] = {}
    prefixes = []
    for service in sorted(aws_operations):
        version = loader.determine_latest_version(service, MODEL_TYPE)
        model = loader.load_service_model(service, MODEL_TYPE, version)
        prefixes.append(model["metadata"]["endpointPrefix"])
        trimmed = trimmed_service_model(model, aws_operations[service])
        files[f"{SERVICE_MODELS_DIR}/{service}/{version}/{MODEL_TYPE}.json"] = _json_bytes(trimmed)
    endpoints = trimmed_endpoints(loader.load_data(ENDPOINTS), prefixes)
    files[f"{SERVICE_MODELS_DIR}/{ENDPOINTS}.json"] = _json_bytes(endpoints)
    return dict(sorted(files.items()))
