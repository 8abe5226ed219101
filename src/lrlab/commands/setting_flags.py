"""The setting flags of a command, generated from the settings table
(:mod:`lrlab.config.settings`): its argparse groups, and the parsed flags back as overrides."""

from __future__ import annotations

import argparse
from collections.abc import Collection, Mapping
from typing import Any, get_origin

from lrlab.config.flags import SHARED_GROUPS
from lrlab.config.settings import Setting, settings_of
from lrlab.errors import LrlabError


def add_setting_groups(
    parser: argparse.ArgumentParser,
    command: str,
    *,
    title: str | None = None,
    help: Mapping[str, str] | None = None,
) -> None:
    """The experiment file argument, then one group per shared section (task, optimization,
    fine-tuning) with the flags ``command`` takes there, or one group ``title`` for all.
    ``help``: by setting key, the help where ``command`` means something of its own."""
    parser.add_argument("experiment", nargs="?", metavar="EXPERIMENT.toml", help="an experiment file")
    single = parser.add_argument_group(title) if title else None
    taken = {setting.marker.group for setting in settings_of(command)}
    for group in (group for group in SHARED_GROUPS if group in taken):
        add_setting_flags(single or parser.add_argument_group(group), command, group, help=help)


def add_setting_flags(
    container: argparse._ActionsContainer,
    command: str,
    group: str,
    *,
    help: Mapping[str, str] | None = None,
) -> None:
    """Add to ``container`` the flags of the settings that ``command`` takes in ``group`` (a
    command lists its ``run`` and ``parallel`` settings among its own options)."""
    for setting in settings_of(command):
        if setting.marker.group == group:
            text = (help or {}).get(setting.key, setting.help)
            container.add_argument(
                setting.flag_in(command), *setting.marker.aliases, help=text, **_kind(setting)
            )


def _kind(setting: Setting) -> dict[str, Any]:
    """How argparse reads the setting's value, from its type."""
    kind, metavar = setting.annotation, setting.marker.metavar
    if setting.marker.switch:  # the value may be left out
        return {"nargs": "?", "const": True, "type": kind, "metavar": metavar}
    if kind is bool:  # None when not given: the file's value stays
        return {"action": "store_true", "default": None}
    if (values := setting.choices) is not None:
        return {"choices": values}
    if get_origin(kind) in (list, dict):  # repeated; a table takes KEY=VALUE items
        return {"action": "append", "metavar": metavar}
    return {"type": kind, "metavar": metavar} if kind in (int, float) else {"metavar": metavar}


def overrides(args: argparse.Namespace, command: str) -> dict[str, object]:
    """The values of ``command``'s setting flags, by override key (``None``: not given)."""
    return {setting.key: _value(args, setting, command) for setting in settings_of(command)}


def train_words(args: argparse.Namespace, command: str, *, skip: Collection[str] = ()) -> list[str]:
    """The setting flags given to ``command`` (but those keyed in ``skip``) as words of an
    ``lrlab train`` command line."""
    words: list[str] = []
    for setting in settings_of(command):
        value = _given(args, setting, command)
        if setting.key in skip or value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            words += [setting.flag] if item is True else [setting.flag, str(item)]
    return words


def _given(args: argparse.Namespace, setting: Setting, command: str) -> Any:
    return getattr(args, setting.flag_in(command).removeprefix("--").replace("-", "_"))


def _value(args: argparse.Namespace, setting: Setting, command: str) -> object:
    """A table-valued setting's ``KEY=NUMBER`` items as a table; other values as parsed."""
    value = _given(args, setting, command)
    if value is None or get_origin(setting.annotation) is not dict:
        return value
    table: dict[str, float] = {}
    for item in value:
        key, _, text = item.partition("=")
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is None or not key.strip():
            raise LrlabError(f"{setting.flag_in(command)} takes {setting.marker.form}, got {item!r}.")
        table[key.strip()] = number
    return table
