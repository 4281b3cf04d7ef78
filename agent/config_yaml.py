"""Reading a config file as YAML in bounded memory and time, with a line for every key.

The agent's config is read by ``config check`` (the unit's ``ExecStartPre``) as root and
by ``run``; a hostile or broken file must end in exit 2 with a clear message, never in an
8 GB process or a ``RecursionError`` (issue 9 item 5). So, before anything is built:

* the file is read up to :data:`MAX_FILE_BYTES` and no further (also stops ``/dev/zero``);
* the event stream (PyYAML's parser is iterative) is scanned for nesting deeper than
  :data:`MAX_DEPTH`, which would otherwise overflow the recursive composer;
* the composed node graph is sized with aliases *expanded*, memoised per node, so a
  "billion laughs" file is refused in linear time before anything walks it.

Problems are :class:`ConfigIssue` lines, ``FILE:LINE key.path: message``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 1 << 20  # a real config is a few kB; profiles and zones live in it too
MAX_DEPTH = 64
MAX_NODES = 200_000  # after alias expansion

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        # Line 0: the problem is the file as a whole (missing, unreadable).
        where = f"{self.file}:{self.line}" if self.line > 0 else f"{self.file}:"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where} {self.message}"


class ConfigError(Exception):
    """The config file is unreadable or invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


def read_bounded(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes; :class:`ConfigError` if unreadable or over the size limit."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(p), 0, "", f"cannot read: {exc.strerror}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(
            [ConfigIssue(str(p), 0, "", f"file is larger than {MAX_FILE_BYTES} bytes")]
        )
    return raw


def _depth_check(text: str, file: str, loader: Any) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 1
                raise ConfigError(
                    [ConfigIssue(file, line, "", f"nested more than {MAX_DEPTH} levels deep")]
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _expanded_size(root: yaml.Node) -> int:
    """Node count with every alias expanded, without expanding (memo by node identity)."""
    sizes: dict[int, int] = {}
    # Post-order walk with an explicit stack; the depth check bounds nothing here.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        kids = _children(node)
        if children_done or not kids:
            sizes[id(node)] = 1 + sum(sizes[id(k)] for k in kids)
            if sizes[id(node)] > MAX_NODES:
                return sizes[id(node)]
            continue
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


# libyaml's parser when PyYAML has it: the pure-Python one was ~25 ms of every start-up
# (issue 19 item 2). A file it refuses is parsed again by the pure-Python parser, whose
# error wording and marks the messages (and their tests) were written against.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", None)


def load_yaml(text: str, file: str) -> tuple[yaml.Node | None, Any]:
    """The composed node (for line numbers) and the plain data, within the limits."""
    if _FAST_LOADER is not None:
        try:
            return _load_with(_FAST_LOADER, text, file)
        except yaml.YAMLError:
            pass
    try:
        return _load_with(yaml.SafeLoader, text, file)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigIssue(file, line, "", f"YAML syntax error: {problem}")]) from None


def _load_with(loader_class: Any, text: str, file: str) -> tuple[yaml.Node | None, Any]:
    _depth_check(text, file, loader_class)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node) > MAX_NODES:
            raise ConfigError(
                [ConfigIssue(file, 1, "", f"aliases expand to more than {MAX_NODES} nodes")]
            )
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, data


def node_lines(node: yaml.Node, prefix: Loc, out: dict[Loc, int]) -> None:
    out.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            # A key's own line is the best place to point at for that key.
            out[(*prefix, key)] = key_node.start_mark.line + 1
            node_lines(value_node, (*prefix, key), out)
            out[(*prefix, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            node_lines(item, (*prefix, i), out)


def scalar_text(node: Any, loc: Loc) -> str | None:
    """The text of the scalar at ``loc`` as typed in the file (before YAML resolves it)."""
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            return None
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def line_for(lines: dict[Loc, int], loc: Loc) -> int:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return 1


def format_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def duplicate_keys(node: yaml.Node, file: str, prefix: Loc = ()) -> Iterator[ConfigIssue]:
    """YAML lets a later key silently replace an earlier one; an installer never means it."""
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.value in first:
                yield ConfigIssue(
                    file,
                    line,
                    format_path((*prefix, key_node.value)),
                    f"key given twice (first on line {first[key_node.value]}); remove one of them",
                )
            else:
                first[key_node.value] = line
            yield from duplicate_keys(value_node, file, (*prefix, key_node.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from duplicate_keys(item, file, (*prefix, i))


def with_section(text: str, file: str, key: str, value: Any) -> str:
    """``text`` with top-level ``key`` replaced by ``value``, as YAML (remote config.apply
    of a new driver list keeps every other section as it is live). Comments are not kept."""
    _, data = load_yaml(text, file)
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(file, 1, "", "the file must hold a mapping of keys")])
    data[key] = value
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
