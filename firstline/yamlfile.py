"""Load YAML with the line of every key kept, and duplicate keys refused.

PyYAML keeps the last of two equal keys without a word; for a file that decides
which instance gets rebooted that is not acceptable, so a duplicate is an error.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from firstline.errors import ConfigError

Location = tuple[Hashable, ...]


class _StrictLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise ConfigError(
                f"line {key_node.start_mark.line + 1}: duplicate key {key!r} "
                f"(first on line {seen[key]}); each key may appear once"
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def _index_lines(node: yaml.Node, path: Location, lines: dict[Location, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key_path = (*path, key_node.value)
            _index_lines(value_node, key_path, lines)
            lines[key_path] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*path, index), lines)


def read_text(path: Path) -> str:
    """The file's text, or a ConfigError that names it."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the fleet file ({exc})") from exc


def parse_yaml(text: str, *, source: str) -> tuple[Any, dict[Location, int]]:
    """Return the document in ``text`` and the line of every key and item; errors
    start with ``source``."""
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - strict safe loader
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc

    lines: dict[Location, int] = {}
    if root is not None:
        _index_lines(root, (), lines)
    return document, lines
