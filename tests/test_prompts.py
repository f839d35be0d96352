"""Tests of the instruction prompts (ecct.prompts) and the Hydra ``prompt`` group.

The rendered training example of every option x prompt language is compared with a
snapshot in ``tests/snapshots/prompt_<option>_<language>.txt``. After an intended
wording change, bump ``version`` in ``conf/prompt/_base.yaml`` and ``PromptConfig``, then
rewrite the snapshots and review the diff:

    ECCT_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_prompts.py -q
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ecct.data.model import Document, Triplet, find_span
from ecct.output.formats import FORMATS, serialize
from ecct.prompts import (
    COMPONENTS,
    OPTIONS,
    PromptConfig,
    build_example,
    build_messages,
    format_example,
    render_component,
    system_prompt,
    user_message,
)
from ecct.prompts.components import EXAMPLE, RULES, UTTERANCE_EXAMPLE, WORKFLOW

REPO = Path(__file__).resolve().parents[1]
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
PROMPT_CONF = REPO / "conf" / "prompt"
UPDATE = os.environ.get("ECCT_UPDATE_SNAPSHOTS") == "1"
HAN = re.compile(r"[\u4e00-\u9fff]")

EXPECTED_COMPONENTS = {
    "desc": {"description", "format"},
    "desc_rules": {"description", "rules", "format"},
    "desc_workflow": {"description", "workflow", "format"},
    "full": {"description", "rules", "workflow", "format"},
}


def make_document(text: str, triplets: list[tuple[str, str, str]], language: str = "en") -> Document:
    """A validated document whose spans are found by search in ``text``."""
    found = []
    for emotion, cause, category in triplets:
        emotion_span, cause_span = find_span(text, emotion), find_span(text, cause)
        assert emotion_span and cause_span, f"{emotion!r} or {cause!r} not in {text!r}"
        found.append(Triplet(emotion_span, cause_span, category))
    return Document(id="t1", text=text, language=language, source="test", triplets=found).validate().sorted()


SNAPSHOT_DOCUMENT = make_document(
    "Tom was delighted when his sister came home for the holidays.",
    [("delighted", "his sister came home for the holidays", "happiness")],
)


def render_example(example: dict[str, list[dict[str, str]]]) -> str:
    """A training example as plain text: one ``[role]`` header per turn."""
    turns = example["prompt"] + example["completion"]
    return "\n\n".join(f"[{turn['role']}]\n{turn['content']}" for turn in turns) + "\n"


def body_lines(component_text: str) -> list[str]:
    """The lines of a rendered component, its header line included."""
    return [line for line in component_text.splitlines() if line.strip()]


# --- the Hydra group --------------------------------------------------------------------------


def test_prompt_group_holds_exactly_the_four_options():
    assert {p.stem for p in PROMPT_CONF.glob("*.yaml") if not p.stem.startswith("_")} == set(EXPECTED_COMPONENTS)
    assert {name: set(components) for name, components in OPTIONS.items()} == EXPECTED_COMPONENTS


@pytest.mark.parametrize("option", sorted(EXPECTED_COMPONENTS))
def test_prompt_yaml_is_accepted(option, compose_config):
    cfg = compose_config(f"prompt={option}").prompt  # the option extends conf/prompt/_base.yaml
    keys = {"name", "components", "language", "output_format", "version", "system_in_user", "emotion_span"}
    assert set(cfg.keys()) == keys
    prompt = PromptConfig.from_config(cfg)
    assert prompt.name == option
    assert set(prompt.components) == EXPECTED_COMPONENTS[option]
    assert prompt.components[-1] == "format"  # the format spec sits next to the document
    defaults = (prompt.language, prompt.output_format, prompt.version, prompt.system_in_user, prompt.emotion_span)
    assert defaults == ("en", "lines", "v1", False, "words")


def test_command_line_overrides_reach_the_prompt(compose_config):
    cfg = OmegaConf.merge(
        compose_config("prompt=desc_rules").prompt,
        OmegaConf.from_dotlist(["language=zh", "output_format=json"]),
    )
    prompt = PromptConfig.from_config(cfg)
    assert (prompt.language, prompt.output_format) == ("zh", "json")
    assert "规则" in system_prompt(prompt)
    assert '"category": "Fear"' in system_prompt(prompt)


# --- snapshots ----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_rendered_prompt_matches_snapshot(option, language):
    rendered = render_example(build_example(SNAPSHOT_DOCUMENT, PromptConfig.for_option(option, language=language)))
    path = SNAPSHOTS / f"prompt_{option}_{language}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"missing snapshot {path}; create it with ECCT_UPDATE_SNAPSHOTS=1"
    assert rendered == path.read_text(encoding="utf-8"), f"{path.name} differs; see the module docstring"


# --- the ablation -------------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", FORMATS)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_options_contain_exactly_their_components(language, output_format):
    prompts = {
        name: system_prompt(PromptConfig.for_option(name, language=language, output_format=output_format))
        for name in OPTIONS
    }
    rules = body_lines(RULES[language])
    workflow = body_lines(WORKFLOW[language])
    rule_lines = body_lines(render_component("rules", PromptConfig.for_option("full", language=language)))
    assert not any(line in prompts["desc"] for line in rule_lines + workflow)
    assert not any(line in prompts["desc_rules"] for line in workflow)
    assert not any(line in prompts["desc_workflow"] for line in rule_lines)
    assert rules[0] in prompts["desc_rules"] and workflow[0] in prompts["desc_workflow"]
    full_cfg = PromptConfig.for_option("full", language=language, output_format=output_format)
    for component in COMPONENTS:
        assert render_component(component, full_cfg) in prompts["full"]
    for name in OPTIONS:  # the format spec, example included, is in every option
        assert render_component("format", full_cfg) in prompts[name]


def test_component_order_follows_the_config():
    reordered = PromptConfig(name="custom", components=("format", "description"))
    text = system_prompt(reordered)
    assert text.index(render_component("format", reordered)) < text.index(render_component("description", reordered))


# --- the format spec ----------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", FORMATS)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_format_example_is_what_serialize_writes(language, output_format):
    cfg = PromptConfig.for_option("desc", language=language, output_format=output_format)
    example_text, example_triplets = EXAMPLE[language]
    shown_text, shown_output = format_example(cfg)
    assert shown_text == example_text
    assert shown_output == serialize(example_triplets, output_format)
    assert f"\n{example_text}\n" in system_prompt(cfg)
    assert system_prompt(cfg).endswith(f"\n{shown_output}")
    # The example obeys its own rules: its spans are verbatim in its text.
    make_document(example_text, example_triplets, language=language)
    if output_format == "json":
        assert json.loads(shown_output)[0]["category"] == "Fear"


@pytest.mark.parametrize("language", ["en", "zh"])
def test_empty_answer_matches_the_output_format(language):
    lines_prompt = system_prompt(PromptConfig.for_option("full", language=language, output_format="lines"))
    json_prompt = system_prompt(PromptConfig.for_option("full", language=language, output_format="json"))
    assert serialize([], "lines") == "None" and serialize([], "json") == "[]"
    assert "None" in lines_prompt and "[]" not in lines_prompt
    assert "[]" in json_prompt and "None" not in json_prompt


@pytest.mark.parametrize("language", ["en", "zh"])
def test_description_names_every_category_as_the_model_writes_it(language):
    description = render_component("description", PromptConfig.for_option("full", language=language))
    for name in ("Happiness", "Sadness", "Anger", "Fear", "Disgust", "Surprise"):
        assert name in description


# --- languages and turns ------------------------------------------------------------------------


def test_zh_prompt_for_an_english_document():
    cfg = PromptConfig.for_option("full", language="zh")
    system, user = build_messages(SNAPSHOT_DOCUMENT.text, cfg)
    assert system["role"] == "system" and user["role"] == "user"
    assert len(HAN.findall(system["content"])) > 100
    assert "Rules" not in system["content"] and "step by step" not in system["content"]
    assert user["content"].endswith(SNAPSHOT_DOCUMENT.text)
    assert build_example(SNAPSHOT_DOCUMENT, cfg)["completion"][0]["content"] == (
        "(delighted, his sister came home for the holidays, Happiness)"
    )


def test_en_prompt_for_a_chinese_document_has_no_chinese_instruction():
    cfg = PromptConfig.for_option("full", language="en")
    text = "他听说儿子考上了大学，非常高兴。"
    system, user = build_messages(text, cfg)
    assert not HAN.search(system["content"])
    assert user["content"] == f"Document:\n{text}"


def test_system_in_user_folds_the_instruction_into_the_user_turn():
    plain = PromptConfig.for_option("desc_rules")
    folded = PromptConfig.for_option("desc_rules", system_in_user=True)
    messages = build_messages(SNAPSHOT_DOCUMENT.text, folded)
    assert [m["role"] for m in messages] == ["user"]
    assert messages[0]["content"] == f"{system_prompt(plain)}\n\n{user_message(SNAPSHOT_DOCUMENT.text, plain)}"
    assert folded.key != plain.key


@pytest.mark.parametrize("language", ["en", "zh"])
def test_utterance_emotion_spans_change_the_description_and_the_example(language):
    words = PromptConfig.for_option("full", language=language)
    utterance = PromptConfig.for_option("full", language=language, emotion_span="utterance")
    assert words.key != utterance.key and words.key == f"full-{language}-lines-v1"  # earlier runs keep their key
    differing = set(system_prompt(utterance).splitlines()) - set(system_prompt(words).splitlines())
    # Only the emotion-span line of the description and the example change.
    example_text, example_triplets = UTTERANCE_EXAMPLE[language]
    assert differing == {
        render_component("description", utterance).splitlines()[1],
        example_text,
        serialize(example_triplets, "lines"),
    }
    # The example follows the convention it illustrates: the emotion span is the whole turn after "Speaker:".
    speaker, turn = example_text.split(":" if language == "en" else "：", 1)
    assert speaker and example_triplets[0][0] == turn.strip()
    make_document(example_text, example_triplets, language=language)


@pytest.mark.parametrize("output_format", FORMATS)
def test_build_example_targets(output_format):
    cfg = PromptConfig.for_option("full", output_format=output_format)
    two_causes = make_document(
        "I was angry that he lied and that he left.", [("angry", "he left", "anger"), ("angry", "he lied", "anger")]
    )
    example = build_example(two_causes, cfg)
    assert example["prompt"] == build_messages(two_causes.text, cfg)
    completion = example["completion"]
    assert [m["role"] for m in completion] == ["assistant"]
    assert completion[0]["content"] == serialize(two_causes.triplets, output_format)
    # Targets are in text order, whatever order the triplets were given in.
    assert completion[0]["content"].index("he lied") < completion[0]["content"].index("he left")
    empty = Document(id="e", text="The sky is blue.", language="en", source="test").validate()
    assert build_example(empty, cfg)["completion"][0]["content"] == serialize([], output_format)


def test_prompt_length_budget():
    """The CPU model trains with a few hundred tokens of instruction per example."""
    assert len(system_prompt(PromptConfig.for_option("full", language="zh"))) < 500
    assert len(system_prompt(PromptConfig.for_option("full", language="en")).split()) < 220


# --- validation ---------------------------------------------------------------------------------


def valid_settings(**changes):
    settings = {"name": "full", "components": ["description", "rules", "workflow", "format"], "language": "en"}
    settings.update(changes)
    return settings


@pytest.mark.parametrize(
    ("changes", "field", "detail"),
    [
        ({"components": ["description", "examples", "format"], "name": "custom"}, "prompt.components", "examples"),
        ({"language": "fr"}, "prompt.language", "fr"),
        ({"output_format": "xml"}, "prompt.output_format", "xml"),
        ({"components": ["description", "rules"], "name": "custom"}, "prompt.components", "must include 'format'"),
        ({"components": ["description", "format"]}, "prompt.components", "option 'full'"),
        ({"components": ["format", "format"], "name": "custom"}, "prompt.components", "repeated"),
        ({"components": "full"}, "prompt.components", "list"),
        ({"components": []}, "prompt.components", "empty"),
        ({"name": ""}, "prompt.name", "non-empty"),
        ({"version": ""}, "prompt.version", "non-empty"),
        ({"system_in_user": "no"}, "prompt.system_in_user", "true or false"),
        ({"emotion_span": "clause"}, "prompt.emotion_span", "'clause'"),
        ({"lang": "zh"}, "prompt", "unknown key(s) ['lang']"),
    ],
)
def test_invalid_config_names_the_field(changes, field, detail):
    with pytest.raises(ValueError) as excinfo:
        PromptConfig.from_config(OmegaConf.create(valid_settings(**changes)))
    message = str(excinfo.value)
    assert message.startswith(f"{field}:") and detail in message


def test_missing_required_key_and_unknown_option():
    with pytest.raises(ValueError, match=r"^prompt\.components: missing"):
        PromptConfig.from_config({"name": "full"})
    with pytest.raises(ValueError, match=r"^prompt\.name: unknown option 'ful'"):
        PromptConfig.for_option("ful")
    with pytest.raises(ValueError, match=r"^prompt: expected a mapping"):
        PromptConfig.from_config(["full"])  # type: ignore[arg-type]


def test_direct_construction_is_validated_and_normalised():
    cfg = PromptConfig(name="full", components=["description", "rules", "workflow", "format"])  # type: ignore[arg-type]
    assert cfg.components == ("description", "rules", "workflow", "format")
    assert hash(cfg) == hash(PromptConfig.for_option("full"))
    with pytest.raises(ValueError, match=r"^prompt\.language"):
        PromptConfig.for_option("desc", language="de")
