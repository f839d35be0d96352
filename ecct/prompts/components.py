"""The building blocks of the instruction, in each prompt language.

Every text is keyed by prompt language (``zh`` | ``en``), which is independent of the
document's language. Categories are always written with their English names
(``Fear``), whatever the prompt language, because that is what the model must output
(see ``ecct.output.formats``).

``{empty}`` in a text stands for the empty answer of the configured output format
(``None`` for ``lines``, ``[]`` for ``json``); ``ecct.prompts.compose`` fills it in and
appends the format example, which it renders with ``ecct.output.formats.serialize`` so that
the instruction and the training targets cannot disagree.
"""

from __future__ import annotations

from ecct.output.formats import TextTriplet

COMPONENTS: tuple[str, ...] = ("description", "rules", "workflow", "format")

DESCRIPTION: dict[str, str] = {
    "en": (
        "You extract emotion-cause triplets from a document.\n"
        "- Emotion span: {emotion_span}\n"
        "- Cause span: the words in the document that state what caused that emotion.\n"
        "- Category: the type of the emotion, one of Happiness, Sadness, Anger, Fear, Disgust, Surprise.\n"
        "A document may express several emotions, or none."
    ),
    "zh": (
        "从文档中抽取“情感–原因–类别”三元组。\n"
        "- 情感片段：{emotion_span}\n"
        "- 原因片段：文档中说明该情感起因的词语。\n"
        "- 类别：以下六种之一，用英文名书写："
        "Happiness（喜悦/快乐）、Sadness（悲伤）、Anger（愤怒）、Fear（恐惧）、Disgust（厌恶）、Surprise（惊讶）。\n"
        "文档可能含多个情感，也可能没有。"
    ),
}

EMOTION_SPANS: tuple[str, ...] = ("words", "utterance")
"""What an emotion span is (``prompt.emotion_span``): the words that express the emotion (Gui 2016: a keyword) or the
whole utterance that expresses it (ECF, whose gold emotion span is a speaker's whole turn)."""

EMOTION_SPAN: dict[str, dict[str, str]] = {
    "en": {
        "words": "the words in the document that express an emotion.",
        "utterance": "the whole utterance that expresses an emotion: everything after its speaker's name and colon.",
    },
    "zh": {
        "words": "文档中表达情感的词语。",
        "utterance": "表达情感的整句话语：说话人名字和冒号之后的全部文字。",
    },
}
"""The emotion-span line of the description, by prompt language and ``EMOTION_SPANS`` value."""

RULES: dict[str, str] = {
    "en": (
        "Rules:\n"
        "1. Output only the triplet list in the exact format below, with nothing before or after it.\n"
        "2. Copy every span verbatim from the document; never paraphrase, shorten or extend it.\n"
        "3. Write one triplet per emotion-cause pair: an emotion with two causes gives two triplets.\n"
        "4. Use only the six categories above.\n"
        "5. Output only what the text supports; if it supports no triplet, output {empty}."
    ),
    "zh": (
        "规则：\n"
        "1. 只输出下述格式的三元组列表，前后不加任何文字。\n"
        "2. 片段须从文档中逐字照抄，不得改写、缩短或扩展。\n"
        "3. 每个情感–原因对写一个三元组：一个情感有两个原因就写两个。\n"
        "4. 类别只能取上述六种之一。\n"
        "5. 只输出文本支持的内容；没有任何三元组时，输出 {empty}。"
    ),
}

WORKFLOW: dict[str, str] = {
    "en": (
        "Work step by step:\n"
        "1. Find every expression of emotion in the document.\n"
        "2. Decide the category of each one.\n"
        "3. Find the cause span or spans of each emotion.\n"
        "4. Check that every span appears word for word in the document.\n"
        "5. Write the list."
    ),
    "zh": (
        "按步骤完成：\n"
        "1. 找出所有表达情感的词语。\n"
        "2. 判断每个情感的类别。\n"
        "3. 找出每个情感的原因片段。\n"
        "4. 检查每个片段都与原文逐字一致。\n"
        "5. 输出三元组列表。"
    ),
}

FORMAT_SPEC: dict[str, dict[str, str]] = {
    "en": {
        "lines": (
            "Output format: one triplet per line, written as (emotion, cause, Category), "
            "in the order the emotions appear; {empty} alone if there is no triplet."
        ),
        "json": (
            'Output format: a JSON list of objects with the keys "emotion", "cause" and "category", '
            "in the order the emotions appear; {empty} if there is no triplet."
        ),
    },
    "zh": {
        "lines": (
            "输出格式：每行一个三元组，写作 (情感, 原因, 类别)，按在文中出现的顺序排列；没有三元组时只输出 {empty}。"
        ),
        "json": (
            '输出格式：JSON 列表，元素为含 "emotion"、"cause"、"category" 键的对象，'
            "按在文中出现的顺序排列；没有三元组时输出 {empty}。"
        ),
    },
}

EXAMPLE_LABELS: dict[str, tuple[str, str]] = {
    "en": ("Example document:", "Example output:"),
    "zh": ("示例文档：", "示例输出："),
}

EXAMPLE: dict[str, tuple[str, list[TextTriplet]]] = {
    "en": ("She was afraid of spending the night alone.", [("afraid", "spending the night alone", "fear")]),
    "zh": ("她害怕一个人在家过夜。", [("害怕", "一个人在家过夜", "fear")]),
}
"""An invented example per prompt language: (document text, its triplets with ``ecct.data.model`` category keys)."""

UTTERANCE_EXAMPLE: dict[str, tuple[str, list[TextTriplet]]] = {
    "en": (
        "Ann: I was afraid of spending the night alone.",
        [("I was afraid of spending the night alone.", "spending the night alone", "fear")],
    ),
    "zh": ("小安：我害怕一个人在家过夜。", [("我害怕一个人在家过夜。", "一个人在家过夜", "fear")]),
}
"""``EXAMPLE`` as a conversation, for ``emotion_span: utterance``: the emotion span is the speaker's whole turn."""

EXAMPLES: dict[str, dict[str, tuple[str, list[TextTriplet]]]] = {"words": EXAMPLE, "utterance": UTTERANCE_EXAMPLE}
"""The format example by ``EMOTION_SPANS`` value: it follows the convention the description states."""

DOCUMENT_LABEL: dict[str, str] = {"en": "Document:", "zh": "文档："}
