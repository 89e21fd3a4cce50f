"""Load and validate the workflow configuration before any job runs.

The schema (``workflow/schemas/config.schema.yaml``) is applied with
``snakemake.utils.validate``, which also fills in the defaults. Errors are re-raised as
:class:`ConfigError` naming the offending key path (``pipeline[1].params.sigma``), and the
checks a schema cannot express follow: unique step names, ``keep`` naming real steps, every
step registered and its parameters accepted by the step library.
"""

from __future__ import annotations

from pathlib import Path

import yaml

SCHEMA_NAME = "config.schema.yaml"


class ConfigError(ValueError):
    """The configuration is invalid; the message starts with the key path at fault."""


def schema_path() -> Path:
    """The config schema of the checkout this package runs from.

    Looks in ``./workflow/schemas`` first (running from a clone), then next to the
    package source (an editable install).
    """
    candidates = [
        Path.cwd() / "workflow" / "schemas" / SCHEMA_NAME,
        Path(__file__).resolve().parents[2] / "workflow" / "schemas" / SCHEMA_NAME,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{SCHEMA_NAME} not found in {[str(c.parent) for c in candidates]}: run from the "
        "hcs-steps checkout"
    )


def key_path(parts) -> str:
    """Spell a JSON path (keys and list indices) the way a config file reads.

    Examples
    --------
    >>> key_path(["pipeline", 1, "params", "sigma"])
    'pipeline[1].params.sigma'
    >>> key_path([])
    '<top level>'
    """
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "<top level>"


def _deepest(error):
    """The most specific error: inside ``oneOf`` branches, the one deepest in the config."""
    import jsonschema

    candidates, pending = [], [error]
    while pending:
        current = pending.pop()
        candidates.append(current)
        pending.extend(current.context or [])
    depth = max(len(c.absolute_path) for c in candidates)
    return jsonschema.exceptions.best_match(
        [c for c in candidates if len(c.absolute_path) == depth]
    )


def _schema_errors(config: dict, schema: Path) -> None:
    import jsonschema
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    try:
        validate(config, str(schema), set_default=True)
    except WorkflowError as error:
        # validate() raises WorkflowError inside its `except ValidationError`, so the
        # jsonschema error (with its path) is the context of the WorkflowError.
        cause = error.__context__
        if not isinstance(cause, jsonschema.ValidationError):
            raise ConfigError(f"config: {error}") from error
        best = _deepest(cause)
        raise ConfigError(f"config key {key_path(best.absolute_path)}: {best.message}") from None


def _semantic_errors(config: dict) -> None:
    from hcs_steps import steps
    from hcs_steps.workflow.plan import decide_gpu

    # Judged for the machine the plan is made for: a cupy-only step with backend: auto is
    # fine where the run uses a GPU, and refused (here, before any job) where it does not.
    use_gpu = decide_gpu(config["gpu"])
    names = [entry["name"] for entry in config["pipeline"]]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise ConfigError(
                f"config key pipeline[{index}].name: step name {name!r} is used twice"
            )
    if config["keep"] != "all":
        for index, name in enumerate(config["keep"]):
            if name not in names:
                raise ConfigError(
                    f"config key keep[{index}]: {name!r} is not a step name of the pipeline "
                    f"(known: {', '.join(names)})"
                )
    for index, plugin in enumerate(config["plugins"]):
        try:
            steps.load_plugins([plugin])
        except (ImportError, ValueError) as error:
            raise ConfigError(f"config key plugins[{index}]: {error}") from None
    known = {definition.name for definition in steps.list_steps()}
    for index, entry in enumerate(config["pipeline"]):
        if entry["step"] not in known:
            raise ConfigError(
                f"config key pipeline[{index}].step: unknown step {entry['step']!r} "
                f"(known: {', '.join(sorted(known))})"
            )
        if entry["channel"] != "all" and not steps.get_step(entry["step"]).keeps_shape:
            raise ConfigError(
                f"config key pipeline[{index}].channel: step {entry['step']!r} changes the "
                "stack's shape, and a field's channels must keep one shape; apply it to all "
                "channels (channel: all) or leave out the channels it should not see with "
                "the top-level channels key"
            )
        try:
            steps.validate_parameters(entry["step"], entry["params"])
        except (TypeError, ValueError) as error:
            raise ConfigError(f"config key pipeline[{index}].params: {error}") from None
        try:
            steps.choose_implementation(entry["step"], entry["backend"], gpu_available=use_gpu)
        except ValueError as error:
            raise ConfigError(f"config key pipeline[{index}].backend: {error}") from None


def validate_config(config: dict, schema: Path | None = None) -> dict:
    """Validate ``config`` in place (defaults filled in) and return it.

    Raises
    ------
    ConfigError
        With the key path of the first problem, e.g. ``config key pipeline[0].step: ...``.
    """
    if not isinstance(config, dict):
        # snakemake.utils.validate lets anything but a mapping through unchecked.
        raise ConfigError(
            f"config key <top level>: a config is a mapping of keys (plates, pipeline, ...); "
            f"got {type(config).__name__}"
        )
    _schema_errors(config, schema or schema_path())
    _semantic_errors(config)
    return config


def load_config(path: str | Path, schema: Path | None = None) -> dict:
    """Read a YAML config file and validate it (see :func:`validate_config`).

    A file that is not YAML (or not text) is a :class:`ConfigError` naming the file and
    where the YAML parser stopped.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"config file {path} is not UTF-8 text: {error}") from None
    return validate_config({} if config is None else config, schema)
