"""Typed views of config groups: a dataclass is the schema, checked by OmegaConf, with errors naming the key.

``load_settings(Schema, cfg, "augment")`` merges a config group onto ``OmegaConf.structured(Schema)``: an unknown
key or a value of the wrong type is rejected with its full key (``augment.sampling.top_p``), the defaults are the
dataclass's own (written once), and the result is the dataclass itself, so its ``__post_init__`` checks run.
Booleans must be written ``true``/``false``: OmegaConf would read ``no``/``off``/``0`` as false, and a plain
``bool()`` reads the string ``"no"`` as true.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar, get_type_hints

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

T = TypeVar("T")


class SettingsError(ValueError):
    """A config value that does not fit its schema; the message names the key."""


def flag(
    cfg: Mapping[str, Any] | None,
    key: str,
    default: bool,
    prefix: str,
    error: type[Exception] = SettingsError,
) -> bool:
    """``cfg[key]`` as a real boolean (``true``/``false``; absent or null: ``default``), else ``error`` naming it.

    ``prefix`` is the key's group (``data``), or ``""`` for a top-level key of a command's own config.
    """
    value = (cfg or {}).get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        name = f"{prefix}.{key}" if prefix else key
        raise error(f"{name}={value!r}: expected true or false")
    return value


def _check_booleans(schema: type, raw: Mapping[str, Any], prefix: str) -> None:
    hints = get_type_hints(schema)
    for field in dataclasses.fields(schema):
        if field.name not in raw:
            continue
        kind, value = hints[field.name], raw[field.name]
        if kind is bool and value is not None and not isinstance(value, bool):
            raise SettingsError(f"{prefix}.{field.name}={value!r}: expected true or false")
        if dataclasses.is_dataclass(kind) and isinstance(value, Mapping):
            _check_booleans(kind, value, f"{prefix}.{field.name}")  # type: ignore[arg-type]


def _writable(node: Any) -> Any:
    """OmegaConf makes the nodes of frozen dataclasses read-only, which would refuse the merge itself."""
    node._set_flag("readonly", None)
    if isinstance(node, DictConfig):
        for key in node:
            _writable(node._get_node(key))
    return node


def load_settings(schema: type[T], cfg: Any, prefix: str) -> T:
    """``cfg`` (a DictConfig, a mapping or None) checked against the dataclass ``schema`` and built as one."""
    raw = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg or {})
    assert isinstance(raw, dict)
    _check_booleans(schema, raw, prefix)
    try:
        merged = OmegaConf.merge(_writable(OmegaConf.structured(schema)), raw)
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except OmegaConfBaseException as err:
        key = f"{prefix}.{err.full_key}" if getattr(err, "full_key", None) else prefix
        message = str(err).split("\n")[0]
        if isinstance(err, ConfigKeyError):
            message = f"unknown key ({message})"
        raise SettingsError(f"{key}: {message}") from None
