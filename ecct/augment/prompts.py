"""The augmentation prompt (Chinese and English): rewrite the context, copy every marked span verbatim.

One worked example (written for this project) shows the expected output; small models follow a demonstration
far better than rules alone. ``prompt_key`` combines ``PROMPT_VERSION`` with a hash of the rendered templates, so
an edited prompt never reuses cached generations even when the version is not bumped.
"""

from __future__ import annotations

import hashlib

from ecct.augment.marking import CAUSE, DEFAULT_MARKERS, EMOTION, MarkedDocument, MarkerFormat

PROMPT_VERSION = "aug-v1"

Messages = list[dict[str, str]]

SYSTEM = {
    "zh": "你是一名中文新闻编辑，负责改写短文，为情感原因抽取任务制作新的训练样本。",
    "en": "You are a news editor who rewrites short texts to create new training examples for emotion-cause "
    "extraction.",
}

INSTRUCTION = {
    "zh": (
        "请改写下面的短文。文中带标记的片段：{emotion} 标出一个情感词，{cause} 标出第 k 个情感的一个原因。\n"
        "要求：\n"
        "1. 每个带标记的片段必须原样保留，连同标记一起，只出现一次，一个字也不能改。\n"
        "2. 不要增加、删除、合并或重新编号标记，也不要给其他内容加标记。\n"
        "3. 改写其余所有内容：换一种说法，也可以换人物、地点或场景，但每个原因仍要能解释它的情感。\n"
        "4. 保持原文的语言（{language_name}），长度与原文大致相同。\n"
        "5. 只输出改写后带标记的短文，不要标题，不要解释。"
    ),
    "en": (
        "Rewrite the text below. Marked spans: {emotion} marks an emotion expression and {cause} marks a cause of "
        "emotion k.\n"
        "Rules:\n"
        "1. Copy every marked span exactly once, character for character, together with its marker.\n"
        "2. Do not add, remove, merge or renumber markers, and do not mark anything else.\n"
        "3. Change everything else: new wording, and if you like new people, places or setting, so that each cause "
        "still explains its emotion.\n"
        "4. Keep the language of the original ({language_name}) and about the same length.\n"
        "5. Output only the rewritten text with its markers: no title, no explanation."
    ),
}

LANGUAGE_NAMES = {"zh": {"zh": "中文", "en": "英文"}, "en": {"zh": "Chinese", "en": "English"}}

TEXT_HEADER = {"zh": "原文：", "en": "Text:"}

# (source, rewrite) with {E1}/{C1} placeholders for the markers, so the example follows the configured format.
EXAMPLE = {
    "zh": (
        "包工头老周说，{C1}已有半年，工人们的工资发不下来，他感到很{E1}。",
        "年关将近，老周蹲在工地门口一根接一根地抽烟。他告诉记者，{C1}，几十名工人等着拿钱回家过年，自己却一分钱也拿"
        "不出来，只能{E1}地一遍遍打电话催款。",
    ),
    "en": (
        "Anna told reporters she was {E1} because {C1} after two weeks of searching.",
        "On Sunday morning a neighbour knocked on Anna's door: {C1}. Speaking on the phone later, Anna said she "
        "was {E1} and thanked everyone who had shared the posters.",
    ),
}
EXAMPLE_SPANS = {"zh": ("无奈", "对方拖欠工程款"), "en": ("delighted", "her lost dog had been found")}


def _example(language: str, fmt: MarkerFormat) -> tuple[str, str]:
    emotion, cause = EXAMPLE_SPANS[language]
    fill = {"E1": fmt.render(EMOTION, 1, emotion), "C1": fmt.render(CAUSE, 1, cause)}
    source, rewrite = EXAMPLE[language]
    return source.format(**fill), rewrite.format(**fill)


def instruction(language: str, fmt: MarkerFormat, text_language: str | None = None) -> str:
    """The rules in ``language``, asking to keep ``text_language`` (default: the same)."""
    return INSTRUCTION[language].format(
        language_name=LANGUAGE_NAMES[language][text_language or language],
        emotion=fmt.render(EMOTION, "k", "…"),  # type: ignore[arg-type]
        cause=fmt.render(CAUSE, "k", "…"),  # type: ignore[arg-type]
    )


def build_augment_messages(
    marked: MarkedDocument, fmt: MarkerFormat = DEFAULT_MARKERS, language: str | None = None, example: bool = True
) -> Messages:
    """System turn (role + instructions), an optional worked example turn pair, and the text to rewrite.

    The instructions are stated once, in the system turn, so the prompt stays short for small local models.
    ``language`` picks the instructions' language (default: the document's); the example is always in the
    document's language.
    """
    text_language = marked.source.language
    language = language or text_language
    if language not in INSTRUCTION:
        raise ValueError(f"augment prompt language must be one of {sorted(INSTRUCTION)}, got {language!r}")
    rules = instruction(language, fmt, text_language)
    messages: Messages = [{"role": "system", "content": f"{SYSTEM[language]}\n\n{rules}"}]
    if example:  # in the text's language: the model should see the kind of output it must write
        source, rewrite = _example(text_language, fmt)
        messages += [
            {"role": "user", "content": f"{TEXT_HEADER[language]}\n{source}"},
            {"role": "assistant", "content": rewrite},
        ]
    messages.append({"role": "user", "content": f"{TEXT_HEADER[language]}\n{marked.text}"})
    return messages


def prompt_key(fmt: MarkerFormat, example: bool) -> str:
    """Version + hash of everything that shapes the rendered prompt: a cache-key component."""
    parts = [PROMPT_VERSION, repr(sorted(SYSTEM.items())), repr(sorted(INSTRUCTION.items())), repr(EXAMPLE)]
    parts.append(repr(LANGUAGE_NAMES))
    parts += [repr(TEXT_HEADER), fmt.key, str(example)]
    return f"{PROMPT_VERSION}-{hashlib.sha256(''.join(parts).encode()).hexdigest()[:8]}"


def echo_fragments(language: str, fmt: MarkerFormat, text_language: str | None = None) -> list[str]:
    """Pieces of the prompt an echoing model copies back: instruction lines, the text header, the worked example."""
    text_language = text_language or language
    rules = instruction(language, fmt, text_language)
    lines = [line.strip() for line in rules.splitlines() if len(line.strip()) >= 4]
    return [*lines, TEXT_HEADER[language], *_example(text_language, fmt)]
