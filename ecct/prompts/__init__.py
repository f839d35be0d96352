"""Instruction prompts: components (description, rules, workflow, format) + a document -> chat messages."""

from ecct.prompts.components import COMPONENTS
from ecct.prompts.compose import (
    OPTIONS,
    PromptConfig,
    build_example,
    build_messages,
    format_example,
    render_component,
    system_prompt,
    user_message,
)

__all__ = [
    "COMPONENTS",
    "OPTIONS",
    "PromptConfig",
    "build_example",
    "build_messages",
    "format_example",
    "render_component",
    "system_prompt",
    "user_message",
]
