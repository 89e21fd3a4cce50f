"""The ``hcs-steps`` console script: ``list`` and ``show`` the steps, ``plan`` a config,
``sweep pick`` a parameter sweep's combination and ``sweep clean`` its stale results.

Examples
--------
>>> main(["show", "median"])  # doctest: +ELLIPSIS
median
  memory types: numpy, pyclesperanto, torch, tensorflow, jax
  parameters:
    radius = 1
<BLANKLINE>
Median of each pixel's flat disk neighbourhood...
0
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys


def _parameter_text(parameter: inspect.Parameter) -> str:
    if parameter.default is inspect.Parameter.empty:
        return f"{parameter.name} (required)"
    return f"{parameter.name} = {parameter.default!r}"


def _list(plugins: list[str]) -> int:
    from hcs_steps.steps import list_steps, load_plugins

    load_plugins(plugins)
    for step in list_steps():
        types = ", ".join(t.value for t in step.memory_types)
        parameters = ", ".join(_parameter_text(p) for p in step.parameters.values())
        print(f"{step.name}  [{types}]")
        print(f"    {step.summary}")
        print(f"    parameters: {parameters or '(none)'}")
    return 0


def _show(name: str, plugins: list[str]) -> int:
    from hcs_steps.steps import UnknownStepError, get_step, load_plugins

    load_plugins(plugins)
    try:
        step = get_step(name)
    except UnknownStepError as error:
        print(f"hcs-steps: {error}", file=sys.stderr)
        return 2
    print(step.name)
    print(f"  memory types: {', '.join(t.value for t in step.memory_types)}")
    print("  parameters:")
    for parameter in step.parameters.values():
        print(f"    {_parameter_text(parameter)}")
    print()
    print(step.doc)
    return 0


def _plan(configfile: str | None) -> int:
    from hcs_steps.workflow.plan_cli import main as plan_main

    return plan_main(configfile)


def _sweep(args) -> int:
    from hcs_steps.workflow import sweep_cli

    if args.action == "pick":
        return sweep_cli.pick(args.combination, args.configfile)
    return sweep_cli.clean(args.configfile, args.delete)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hcs-steps``.

    Examples
    --------
    >>> build_parser().parse_args(["show", "tophat"]).name
    'tophat'
    """
    parser = argparse.ArgumentParser(
        prog="hcs-steps", description="Image-processing steps for hcs-steps pipelines."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    plugin_help = "a plugin module whose steps to include (repeatable)"
    listing = commands.add_parser("list", help="every step, its memory types and parameters")
    listing.add_argument("--plugin", action="append", default=[], help=plugin_help)
    show = commands.add_parser("show", help="one step in full")
    show.add_argument("name")
    show.add_argument("--plugin", action="append", default=[], help=plugin_help)
    plan = commands.add_parser("plan", help="print the plan a config would run")
    plan.add_argument("configfile", nargs="?", default=None)
    sweep = commands.add_parser("sweep", help="promote a sweep combination, clean old results")
    actions = sweep.add_subparsers(dest="action", required=True)
    pick = actions.add_parser(
        "pick", help="write a combination's values into the config's pipeline params"
    )
    pick.add_argument("combination", help="its name, as in results/<plate>/sweep/")
    pick.add_argument("configfile", nargs="?", default=None)
    clean = actions.add_parser(
        "clean", help="list sweep results the config no longer refers to (--delete removes)"
    )
    clean.add_argument("configfile", nargs="?", default=None)
    clean.add_argument("--delete", action="store_true", help="remove them (default: only list)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``hcs-steps`` with ``argv`` (default: the command line); return the exit code.

    Examples
    --------
    >>> main(["list"])  # doctest: +ELLIPSIS
    count_cells_single_channel  [numpy, torch]
    ...
    0
    """
    args = build_parser().parse_args(argv)
    try:
        code = _command(args)
        # Flushed here so that a closed pipe is met inside this try: a listing shorter than
        # stdout's buffer is otherwise written only at the interpreter's exit, which then
        # fails with status 120 (the README test command in a bare `env -i` shell).
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader left early (`hcs-steps list | head`): not an error. Point stdout at
        # devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _command(args) -> int:
    """The exit code of the parsed command."""
    if args.command == "list":
        return _list(args.plugin)
    if args.command == "show":
        return _show(args.name, args.plugin)
    if args.command == "sweep":
        return _sweep(args)
    return _plan(args.configfile)


if __name__ == "__main__":
    sys.exit(main())
