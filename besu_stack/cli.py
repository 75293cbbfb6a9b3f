"""The ``besu-stack`` command line: synth, check, settings, tfvars and genesis tools.

Errors a user can fix (bad settings, bad input files) print one line and exit with code 2; they
never show a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from besu_stack import __version__
from besu_stack.errors import MissingSetupError
from besu_stack.settings import LoadedSettings, Settings, SettingsError, load_settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except (SettingsError, UserError, MissingSetupError) as exc:
        print(f"besu-stack: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        # Input errors raised by the pure Besu tools (bad keys, bad hex) are ValueErrors.
        if type(exc).__module__.startswith("besu_stack"):
            print(f"besu-stack: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        raise
    except KeyboardInterrupt:
        print("besu-stack: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="besu-stack",
        description="Synthesize and check a Hyperledger Besu BFT network on AWS (CDK for Terraform).",
        epilog="Settings come from besu-stack.toml (or --settings / $BESU_STACK_SETTINGS_FILE) "
        "and BESU_STACK_<NAME> environment variables; see `besu-stack settings`.",
    )
    parser.add_argument("--version", action="version", version=f"besu-stack {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    synth = sub.add_parser("synth", help="synthesize the Terraform JSON into cdktf.out/")
    _settings_arg(synth)
    _outdir_arg(synth)
    synth.add_argument("--json", action="store_true", help="print the summary as JSON")
    synth.set_defaults(func=cmd_synth)

    check = sub.add_parser(
        "check", help="synthesize, then run the checkov policy gate over the output"
    )
    _settings_arg(check)
    _outdir_arg(check)
    check.add_argument(
        "--no-synth", action="store_true", help="check the existing output without synthesizing"
    )
    check.add_argument("--json", action="store_true", help="print the gate's result as JSON")
    check.set_defaults(func=cmd_check)

    settings = sub.add_parser(
        "settings", help="print the effective settings and where each value came from"
    )
    _settings_arg(settings)
    settings.add_argument("--json", action="store_true", help="print as JSON")
    settings.set_defaults(func=cmd_settings)

    tfvars = sub.add_parser(
        "tfvars",
        help="write terraform.tfvars.example from the network stack's variables",
        description="Write every plan-time variable with its default and description. Variables "
        "that exist only in another shape (e.g. vpc_mode = existing) are listed commented out.",
    )
    tfvars.add_argument(
        "--output",
        default="terraform.tfvars.example",
        help="file to write (default: %(default)s; - for stdout)",
    )
    tfvars.set_defaults(func=cmd_tfvars)

    modules = sub.add_parser(
        "modules",
        help="synthesize the registry modules into modules/ (no backend, no provider block)",
    )
    modules.add_argument("--dest", default="modules", help="directory (default: %(default)s)")
    modules.add_argument(
        "--archive",
        action="store_true",
        help="also write each module as <name>-<version>.tar.gz for Terraform Cloud's "
        "API-driven registry publishing",
    )
    modules.add_argument(
        "--archive-dir", default="dist", help="where the archives go (default: %(default)s)"
    )
    modules.set_defaults(func=cmd_modules)

    wheels = sub.add_parser(
        "lambda-wheels",
        help="download the Lambdas' pinned third-party wheels (a setup step; synth never downloads)",
    )
    wheels.add_argument(
        "--dest",
        default=None,
        help="directory (default: lambda_src/pinned-wheels/arm64 of the package)",
    )
    wheels.set_defaults(func=cmd_lambda_wheels)

    doctor = sub.add_parser(
        "doctor",
        help="check what a deploy needs on this machine (Node, Terraform, AWS credentials...)",
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.add_argument(
        "--image-repository",
        default=None,
        help="ECR repository of the Besu image (default: the besu_image_repository variable's)",
    )
    doctor.add_argument(
        "--image-tag",
        default=None,
        help="Besu image tag (default: the besu_image_tag variable's)",
    )
    doctor.set_defaults(func=cmd_doctor)

    rehearse = sub.add_parser(
        "rehearse",
        help="plan, apply, drill and destroy the network in a local emulated AWS account (moto)",
        description="Synthesize the network, then plan and apply it with Terraform into a local "
        "moto server (no AWS account, no credentials), replace a validator through the real "
        "lifecycle Lambdas, check a second plan and destroy it. Needs Terraform and the "
        "'rehearse' extra (pip install 'besu-stack[rehearse]').",
    )
    _settings_arg(rehearse)
    rehearse.add_argument(
        "--workdir",
        default=".build/rehearsal",
        help="where the root module, Terraform state and moto log go (default: %(default)s)",
    )
    rehearse.set_defaults(func=cmd_rehearse)

    _register_optional(sub)
    return parser


def _register_optional(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    try:
        from besu_stack.genesis_cli import register
    except ImportError:  # pragma: no cover - during development only
        return
    register(sub)


def _settings_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--settings", metavar="FILE", help="settings file (default: ./besu-stack.toml when present)"
    )


def _outdir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--outdir",
        default=os.environ.get("CDKTF_OUTDIR", "cdktf.out"),
        help="output directory (default: $CDKTF_OUTDIR or %(default)s)",
    )


def _load(args: argparse.Namespace) -> LoadedSettings:
    return load_settings(path=args.settings)


def _progress(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def synthesize(loaded: LoadedSettings, outdir: str) -> None:
    """Synthesize the app for the loaded settings into ``outdir`` with progress output."""
    from besu_stack.node_runtime import use_project_node

    node = use_project_node()
    started = time.monotonic()
    _progress(
        "loading the AWS provider bindings (10-20 s)" + (f" with Node {node}" if node else "")
    )
    from besu_stack.app import build_app

    _progress(f"building network {loaded.settings.network_name!r}")
    app = build_app([loaded.settings], outdir=outdir)
    app.synth()
    _progress(f"synthesized in {time.monotonic() - started:.1f} s")


def cmd_synth(args: argparse.Namespace) -> int:
    """``besu-stack synth``: synthesize and print a summary."""
    loaded = _load(args)
    synthesize(loaded, args.outdir)
    from besu_stack.app import format_summary, summarize, summary_as_json

    summaries = summarize(args.outdir)
    print(
        summary_as_json(summaries, args.outdir)
        if args.json
        else format_summary(summaries, args.outdir)
    )
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """``besu-stack check``: checkov and the IAM policy linter over the synthesized stacks."""
    from besu_stack.policy.gate import find_checkov, run_gate
    from besu_stack.policy.iam_lint import find_parliament, run_lint

    checkov = find_checkov()
    if checkov is None:
        raise UserError(
            "checkov not found: run `make tools` (installs it in .tools/checkov) or set $CHECKOV"
        )
    if not args.no_synth:
        synthesize(_load(args), args.outdir)
    elif not Path(args.outdir, "manifest.json").is_file():
        raise UserError(f"{args.outdir}/manifest.json not found: run `besu-stack synth` first")
    _progress("running checkov over the synthesized stacks")
    # Stale suppressions only fail the test suite's gate over the default shape; other shapes
    # (an existing VPC, say) legitimately leave some unmatched.
    result = run_gate(Path(args.outdir), checkov=checkov, strict=False)
    print(result.as_json() if args.json else result.report())
    lint_ok = True
    parliament = find_parliament()
    if parliament is None:
        print("parliament not found: run `make tools` (installs it in .tools/parliament)")
        lint_ok = False
    else:
        _progress("running parliament over every synthesized IAM policy")
        lint = run_lint(Path(args.outdir), parliament=parliament)
        print(lint.report())
        lint_ok = lint.ok
    return EXIT_OK if result.ok and lint_ok else EXIT_FAILED


def cmd_settings(args: argparse.Namespace) -> int:
    """``besu-stack settings``: effective settings with their sources."""
    loaded = _load(args)
    rows = loaded.describe()
    if args.json:
        print(
            json.dumps(
                {name: {"value": value, "source": source} for name, value, source in rows}, indent=2
            )
        )
        return EXIT_OK
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        print(f"{name:<{width}}  {value!s:<24}  {source}")
    print(
        f"\nfault tolerance f = {loaded.settings.max_faulty} of {loaded.settings.validator_count} validators"
    )
    return EXIT_OK


def cmd_tfvars(args: argparse.Namespace) -> int:
    """``besu-stack tfvars``: render terraform.tfvars.example from the stack's variables."""
    from besu_stack.tfvars import render_tfvars_example

    text = render_tfvars_example(Settings())
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        _progress(f"wrote {args.output}")
    return EXIT_OK


def cmd_modules(args: argparse.Namespace) -> int:
    """``besu-stack modules``: regenerate the Terraform modules for private registries."""
    from besu_stack.node_runtime import use_project_node

    use_project_node()
    _progress("loading the AWS provider bindings (10-20 s) and synthesizing the modules")
    from besu_stack.modules import archive_modules, build_modules

    for path in build_modules(Path(args.dest)):
        _progress(f"wrote {path}")
    if args.archive:
        for archive in archive_modules(Path(args.dest), Path(args.archive_dir)):
            _progress(f"wrote {archive}")
    return EXIT_OK


def cmd_lambda_wheels(args: argparse.Namespace) -> int:
    """``besu-stack lambda-wheels``: fetch the Lambdas' wheels for arm64 / Python 3.12."""
    from besu_stack.lambda_package import download_lambda_wheels
    from besu_stack.lambda_paths import DEFAULT_WHEELS_DIR

    dest = Path(args.dest) if args.dest else DEFAULT_WHEELS_DIR
    _progress(f"downloading the Lambda wheels (arm64, Python 3.12) into {dest}")
    wheels = download_lambda_wheels(dest)
    _progress(f"{len(wheels)} wheels in {dest}")
    return EXIT_OK


def cmd_rehearse(args: argparse.Namespace) -> int:
    """``besu-stack rehearse``: the whole life of the network in a local emulated account."""
    loaded = _load(args)
    try:
        from besu_stack.rehearsal.rehearse import Rehearsal, RehearsalFailure
        from besu_stack.rehearsal.terraform import TerraformError, TerraformNotFound
    except ImportError as exc:  # moto is an optional extra
        raise UserError(
            f"rehearse needs the 'rehearse' extra ({exc.name} is missing): "
            "pip install 'besu-stack[rehearse]'"
        ) from exc
    from besu_stack.node_runtime import use_project_node

    use_project_node()
    try:
        Rehearsal(Path(args.workdir).resolve(), settings=loaded.settings, progress=print).run()
    except TerraformNotFound as exc:
        raise UserError(str(exc)) from exc
    except (RehearsalFailure, TerraformError) as exc:
        print(f"besu-stack: rehearsal failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    """``besu-stack doctor``: pass/warn/fail for each thing a deploy needs."""
    from besu_stack.doctor import doctor

    return doctor(
        as_json=args.json, image_repository=args.image_repository, image_tag=args.image_tag
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
