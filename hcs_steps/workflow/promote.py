"""Write a sweep combination's values into a config file's pipeline, keeping the rest of it.

The file is edited as a round-trip YAML document (``ruamel.yaml``): comments, key order,
quoting and the file's own indentation survive, and only the promoted parameters change.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from hcs_steps.plate.atomic import write_file_atomically
from hcs_steps.workflow.config import ConfigError


def _move_trailing_comment(mapping, previous_last, new_last) -> None:
    """Keep the comment lines that followed a mapping's last key after the new last key.

    ruamel attaches the comment lines and blank lines below a mapping to its last key; a
    key appended after it would otherwise land below them, away from its entry.
    """
    comments = mapping.ca.items.get(previous_last)
    if not comments or len(comments) < 3 or comments[2] is None:
        return
    token = comments[2]
    same_line, newline, below = token.value.partition("\n")
    if not below:
        return
    token.value = same_line + newline
    moved = type(token)("\n" + below, token.start_mark, None)
    mapping.ca.items[new_last] = [None, None, moved, None]


def set_parameter(entry, parameter: str, value) -> None:
    """Set ``entry["params"][parameter]``, adding ``params`` right after ``step`` if absent."""
    from ruamel.yaml.comments import CommentedMap

    params = entry.get("params")
    if params is None:
        params = CommentedMap()
        keys = list(entry)
        position = keys.index("step") + 1 if "step" in keys else len(keys)
        entry.insert(position, "params", params)
    if parameter in params:
        params[parameter] = value
        return
    previous_last = list(params)[-1] if params else None
    params[parameter] = value
    if previous_last is not None:
        _move_trailing_comment(params, previous_last, parameter)


def promote(path: Path, values: dict) -> list[str]:
    """Write ``values`` (``"<entry>.<parameter>": value``) into the file's pipeline entries.

    Returns one line per changed parameter (``count.min_area: 30 -> 60``); a parameter that
    already has the value is left as it is.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    text = Path(path).read_text()
    document, indent, sequence_offset = load_yaml_guess_indent(text)
    entries = {entry.get("name"): entry for entry in document.get("pipeline") or []}
    changes = []
    for key, value in values.items():
        name, parameter = key.split(".", 1)
        if name not in entries:
            raise ConfigError(f"{path}: no pipeline entry {name!r} to write {key} into")
        entry = entries[name]
        current = (entry.get("params") or {}).get(parameter, "(step default)")
        if current == value and parameter in (entry.get("params") or {}):
            continue
        set_parameter(entry, parameter, value)
        changes.append(f"{key}: {current} -> {value}")
    if changes:
        yaml = YAML()
        # ruamel guesses the indent of the first nested block: with dashes indented
        # (`  - name:`) that is the sequence's, and mappings are indented by the rest.
        yaml.indent(mapping=indent - sequence_offset, sequence=indent, offset=sequence_offset)
        yaml.width = 4096  # never re-wrap the user's long lines
        out = StringIO()
        yaml.dump(document, out)
        write_file_atomically(Path(path), out.getvalue().encode())
    return changes
