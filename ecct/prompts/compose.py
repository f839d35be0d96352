"""Instruction components + a document -> chat messages; a gold document -> a training example.

Design choices:

- The instruction goes into the system turn and the document into the user turn, so
  the (long, constant) instruction is the same prefix for every example and the user
  turn holds only data. Chat templates without a system role (Gemma's) get
  ``system_in_user=True``, which folds the instruction into the start of the user turn.
- The output-format specification is part of every option: even the ``desc`` ablation
  must tell the model what to write. The ablation varies only the rules and the
  workflow (``OPTIONS``).
- The format example is rendered by ``ecct.output.formats.serialize``, the same function that
  writes the training targets, so the instruction and the targets cannot disagree.
- The prompt language (``zh`` | ``en``) is independent of the document's language.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ecct.data.model import LANGUAGES, Document
from ecct.output.formats import FORMATS, serialize
from ecct.prompts.components import (
    COMPONENTS,
    DESCRIPTION,
    DOCUMENT_LABEL,
    EMOTION_SPAN,
    EMOTION_SPANS,
    EXAMPLE_LABELS,
    EXAMPLES,
    FORMAT_SPEC,
    RULES,
    WORKFLOW,
)

OPTIONS: dict[str, tuple[str, ...]] = {
    "desc": ("description", "format"),
    "desc_rules": ("description", "rules", "format"),
    "desc_workflow": ("description", "workflow", "format"),
    "full": ("description", "rules", "workflow", "format"),
}
"""The instruction ablation: which components each named option renders, in order."""


@dataclass(frozen=True)
class PromptConfig:
    """Which instruction to build; validated on construction (errors name the ``prompt.*`` field)."""

    name: str  # desc | desc_rules | desc_workflow | full (or a custom name for a custom component list)
    components: tuple[str, ...]  # subset/order of COMPONENTS; must include "format"
    language: str = "en"  # prompt language, independent of the document's language
    output_format: str = "lines"  # see ecct.output.formats
    version: str = "v1"  # bump when wording changes: cache keys and W&B runs carry it
    system_in_user: bool = False  # for chat templates without a system role
    emotion_span: str = "words"  # what the description calls an emotion span: words | utterance (EMOTION_SPANS)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"prompt.name: expected a non-empty string, got {self.name!r}")
        if isinstance(self.components, str) or not isinstance(self.components, tuple | list):
            raise ValueError(f"prompt.components: expected a list of component names, got {self.components!r}")
        object.__setattr__(self, "components", tuple(self.components))
        _check_components(self.name, self.components)
        if self.language not in LANGUAGES:
            raise ValueError(f"prompt.language: unknown language {self.language!r}; expected one of {LANGUAGES}")
        if self.output_format not in FORMATS:
            raise ValueError(
                f"prompt.output_format: unknown output format {self.output_format!r}; expected one of {FORMATS}"
            )
        if not isinstance(self.version, str) or not self.version.strip():
            raise ValueError(f"prompt.version: expected a non-empty string, got {self.version!r}")
        if not isinstance(self.system_in_user, bool):
            raise ValueError(f"prompt.system_in_user: expected true or false, got {self.system_in_user!r}")
        if self.emotion_span not in EMOTION_SPANS:
            raise ValueError(
                f"prompt.emotion_span: unknown value {self.emotion_span!r}; expected one of {EMOTION_SPANS}"
            )

    @classmethod
    def from_config(cls, cfg: DictConfig | Mapping[str, Any]) -> PromptConfig:
        """Build from the Hydra ``prompt`` group (a DictConfig) or any mapping with the same keys."""
        if isinstance(cfg, DictConfig):
            data = OmegaConf.to_container(cfg, resolve=True)
        elif isinstance(cfg, Mapping):
            data = dict(cfg)
        else:
            raise ValueError(f"prompt: expected a mapping of prompt settings, got {type(cfg).__name__}")
        assert isinstance(data, dict)
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise ValueError(f"prompt: unknown key(s) {unknown}; expected some of {sorted(known)}")
        for required in ("name", "components"):
            if required not in data:
                raise ValueError(f"prompt.{required}: missing")
        return cls(**data)

    @classmethod
    def for_option(cls, name: str, **overrides: Any) -> PromptConfig:
        """One of the named ablation options (``OPTIONS``), e.g. ``PromptConfig.for_option("full", language="zh")``."""
        if name not in OPTIONS:
            raise ValueError(f"prompt.name: unknown option {name!r}; expected one of {tuple(OPTIONS)}")
        return cls(name=name, components=OPTIONS[name], **overrides)

    @property
    def key(self) -> str:
        """A short identifier of the rendered instruction, for cache keys and run names."""
        suffix = "-sysinuser" if self.system_in_user else ""
        if self.emotion_span != "words":  # the default keeps the keys of earlier runs and caches
            suffix += f"-{self.emotion_span}"
        return f"{self.name}-{self.language}-{self.output_format}-{self.version}{suffix}"


def _check_components(name: str, components: tuple[str, ...]) -> None:
    if not components:
        raise ValueError("prompt.components: empty; expected some of " + str(COMPONENTS))
    for component in components:
        if component not in COMPONENTS:
            raise ValueError(f"prompt.components: unknown component {component!r}; expected some of {COMPONENTS}")
    if len(set(components)) != len(components):
        raise ValueError(f"prompt.components: repeated component in {list(components)}")
    if "format" not in components:
        # Without the format spec the model cannot know what to write; the ablation varies rules/workflow only.
        raise ValueError(f"prompt.components: must include 'format' (got {list(components)})")
    if name in OPTIONS and set(components) != set(OPTIONS[name]):
        raise ValueError(
            f"prompt.components: option {name!r} is {list(OPTIONS[name])}, got {list(components)};"
            " give a custom prompt.name for a custom component list"
        )


def _empty_answer(output_format: str) -> str:
    return serialize([], output_format)


def format_example(cfg: PromptConfig) -> tuple[str, str]:
    """The example of the format spec: (document text, its serialized output in ``cfg.output_format``)."""
    text, triplets = EXAMPLES[cfg.emotion_span][cfg.language]
    return text, serialize(triplets, cfg.output_format)


def render_component(component: str, cfg: PromptConfig) -> str:
    """One component's text in ``cfg.language``, with the format-dependent parts filled in."""
    lang = cfg.language
    if component == "description":
        return DESCRIPTION[lang].replace("{emotion_span}", EMOTION_SPAN[lang][cfg.emotion_span])
    if component == "rules":
        return RULES[lang].replace("{empty}", _empty_answer(cfg.output_format))
    if component == "workflow":
        return WORKFLOW[lang]
    if component == "format":
        spec = FORMAT_SPEC[lang][cfg.output_format].replace("{empty}", _empty_answer(cfg.output_format))
        doc_label, output_label = EXAMPLE_LABELS[lang]
        example_text, example_output = format_example(cfg)
        return f"{spec}\n{doc_label}\n{example_text}\n{output_label}\n{example_output}"
    raise ValueError(f"prompt.components: unknown component {component!r}; expected some of {COMPONENTS}")


@functools.lru_cache(maxsize=64)
def system_prompt(cfg: PromptConfig) -> str:
    """The instruction: the configured components, in order, separated by blank lines."""
    return "\n\n".join(render_component(component, cfg) for component in cfg.components)


def user_message(document_text: str, cfg: PromptConfig) -> str:
    """The user turn: the document (preceded by the instruction when ``cfg.system_in_user``)."""
    document_part = f"{DOCUMENT_LABEL[cfg.language]}\n{document_text}"
    if cfg.system_in_user:
        return f"{system_prompt(cfg)}\n\n{document_part}"
    return document_part


def build_messages(document_text: str, cfg: PromptConfig) -> list[dict[str, str]]:
    """Chat messages for one document: ``[system, user]``, or ``[user]`` alone when ``cfg.system_in_user``."""
    user = {"role": "user", "content": user_message(document_text, cfg)}
    if cfg.system_in_user:
        return [user]
    return [{"role": "system", "content": system_prompt(cfg)}, user]


def build_example(document: Document, cfg: PromptConfig) -> dict[str, list[dict[str, str]]]:
    """A conversational prompt-completion example for TRL's SFTTrainer (completion-only loss)."""
    return {
        "prompt": build_messages(document.text, cfg),
        "completion": [{"role": "assistant", "content": serialize(document.triplets, cfg.output_format)}],
    }
