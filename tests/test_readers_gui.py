"""Readers of the Gui et al. 2016 corpus: the span-level CSV and the EmotionML XML, on real and broken files."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest

from ecct.data.errors import DataError
from ecct.data.readers import READERS, ReadResult, read_gui2016_csv, read_gui2016_xml
from ecct.data.readers.gui_csv import decode_tags

CSV = "gui2016_ece_rthn/datacsv_2105.csv"
XML = "gui2016_ece_hlt_emotionml/HLTEmotionml.eml"

# Whole CSV lines repeated under a second id (same text, code and tags): their triplets coincide.
DUPLICATE_INSTANCES = {(1070, 1807), (1555, 1556), *((i, i + 40) for i in range(1703, 1714))}
# Instances where the CSV and the XML disagree (PROVENANCE.md lists the first three).
KNOWN_DIFFERENCES = {
    1929: "ASCII quotes in the XML cause, full-width in the CSV",
    2035: "the CSV has a second cause",
    2056: "the CSV has a second cause",
}
# XML instances whose <keywords> element is empty: lenient reading skips them ("empty span").
EMPTY_XML_KEYWORDS = {191, 1710, 1750}


@pytest.fixture(scope="module")
def gui_csv(data_dir: Path) -> ReadResult:
    return read_gui2016_csv(data_dir / CSV)


@pytest.fixture(scope="module")
def gui_xml(data_dir: Path) -> ReadResult:
    return read_gui2016_xml(data_dir / XML, lenient=True)


def instances(result: ReadResult) -> list[dict]:
    return [instance for document in result.documents for instance in document.meta["instances"]]


# --- the CSV on the real corpus ---------------------------------------------------------------------------------


def test_csv_counts_match_provenance(gui_csv: ReadResult) -> None:
    assert gui_csv.skipped.total == 0
    assert len(gui_csv.documents) == 1947
    assert len(instances(gui_csv)) == 2105
    assert sorted(i["id"] for i in instances(gui_csv)) == list(range(1, 2106))
    assert sum(len(i["causes"]) for i in instances(gui_csv)) == 2169
    assert Counter(len(d.meta["instance_ids"]) for d in gui_csv.documents) == {1: 1801, 2: 134, 3: 12}
    assert Counter(i["category"] for i in instances(gui_csv)) == {
        "happiness": 544, "sadness": 567, "fear": 379, "anger": 302, "disgust": 225, "surprise": 88,
    }  # fmt: skip


def test_csv_distinct_triplets_are_the_cause_spans_less_duplicated_lines(gui_csv: ReadResult) -> None:
    """2,169 cause spans, but 13 instances repeat another one's line verbatim, so 13 triplets coincide."""
    duplicates = set()
    for document in gui_csv.documents:
        first_with: dict[tuple, int] = {}
        for instance in document.meta["instances"]:
            key = (str(instance["emotion"]), str(instance["causes"]), instance["category"])
            if key in first_with:
                duplicates.add((first_with[key], instance["id"]))
            first_with.setdefault(key, instance["id"])
    assert duplicates == DUPLICATE_INSTANCES
    by_id = {i["id"]: i for i in instances(gui_csv)}
    repeated_causes = sum(len(by_id[second]["causes"]) for _, second in duplicates)
    assert sum(len(d.triplets) for d in gui_csv.documents) == 2169 - repeated_causes == 2156


def test_csv_groups_share_text_and_take_the_first_id(gui_csv: ReadResult) -> None:
    assert len({d.text for d in gui_csv.documents}) == len(gui_csv.documents)
    for document in gui_csv.documents:
        ids = document.meta["instance_ids"]
        assert document.id == str(ids[0]) and ids == sorted(ids)
        assert (document.language, document.source) == ("zh", "gui2016")
        assert document.triplets == sorted(document.triplets, key=lambda t: t.sort_key)
        assert all(document.text[t.cause.start : t.cause.end] == t.cause.text for t in document.triplets)


def test_csv_decodes_the_example_of_provenance(gui_csv: ReadResult) -> None:
    document = next(d for d in gui_csv.documents if d.id == "4")
    assert document.meta["instance_ids"] == [4]
    spans = {(t.emotion.text, t.emotion.start, t.emotion.end, t.category) for t in document.triplets}
    assert spans == {("无奈", 113, 115, "sadness")}
    assert [(t.cause.text, t.cause.start, t.cause.end) for t in document.triplets] == [
        ("对方拖欠工程款", 91, 98),
        ("家中又急需用钱", 99, 106),
        ("生活压力大", 107, 112),
    ]
    assert "[" not in document.text


def test_csv_keeps_a_literal_bracket_as_text(gui_csv: ReadResult) -> None:
    document = next(d for d in gui_csv.documents if 1413 in d.meta["instance_ids"])
    assert "[警方通报]" in document.text


# --- the XML on the real corpus ---------------------------------------------------------------------------------


def test_xml_reads_every_instance_but_those_with_an_empty_keyword(gui_xml: ReadResult) -> None:
    assert len(gui_xml.documents) + gui_xml.skipped.total == 2105
    assert gui_xml.skipped.counts == {"empty span": 3}
    ids = {int(d.id) for d in gui_xml.documents}
    assert set(range(1, 2106)) - ids == EMPTY_XML_KEYWORDS
    assert Counter(d.source for d in gui_xml.documents) == {"gui2016_xml": 2102}


def test_xml_strict_reading_stops_at_the_first_empty_keyword(data_dir: Path) -> None:
    with pytest.raises(DataError, match=r"HLTEmotionml\.eml: line 7928 \(emotion id 191\): empty <keywords>"):
        read_gui2016_xml(data_dir / XML)


def test_xml_recovers_spans_whose_offsets_are_wrong(gui_xml: ReadResult) -> None:
    misses = Counter()
    for document in gui_xml.documents:
        misses.update(document.meta["offset_hint_misses"])
    # PROVENANCE: offsets exact for 2,058/2,105 keywords (the 3 empty ones count as exact there) and 2,012/2,167
    # causes; one cause with a wrong offset belongs to a skipped instance.
    assert misses == {"keyword": 2105 - 2058, "cause": 2167 - 2012 - 1}


def test_xml_text_is_the_clauses_joined_without_separator(gui_xml: ReadResult) -> None:
    document = next(d for d in gui_xml.documents if d.id == "4")
    assert (
        document.text
        == "劝说过程中，消防官兵了解到，该女子是由于对方拖欠工程款，家中又急需用钱，生活压力大，无奈才选择跳楼轻生"
    )
    assert [(t.emotion.text, t.cause.text, t.category) for t in document.triplets] == [
        ("无奈", "对方拖欠工程款", "sadness"),
        ("无奈", "家中又急需用钱", "sadness"),
        ("无奈", "生活压力大", "sadness"),
    ]
    clauses = document.meta["clauses"]
    assert document.text[clauses[2]["start"] : clauses[2]["end"]] == "该女子是由于对方拖欠工程款，"
    assert document.meta["article"] == "3"


def test_csv_and_xml_agree_instance_by_instance(gui_csv: ReadResult, gui_xml: ReadResult) -> None:
    xml_by_id = {int(d.id): d for d in gui_xml.documents}
    differences = set()
    for instance in instances(gui_csv):
        document = xml_by_id.get(instance["id"])
        if document is None:
            assert instance["id"] in EMPTY_XML_KEYWORDS
            continue
        from_csv = (instance["emotion"]["text"], [c["text"] for c in instance["causes"]], instance["category"])
        first = document.triplets[0]
        from_xml = (first.emotion.text, [t.cause.text for t in document.triplets], first.category)
        if from_csv != from_xml:
            differences.add(instance["id"])
    assert differences == set(KNOWN_DIFFERENCES)


# --- tag decoding -----------------------------------------------------------------------------------------------


def test_decode_tags_strips_tags_and_allows_nesting() -> None:
    text, spans = decode_tags("因[-1*1v]看到[f]喜[/f]事[/-1*1v]，[x]他[f]高兴[/f]")
    assert text == "因看到喜事，[x]他高兴"
    assert [(name, s.text, s.start, s.end) for name, s in spans] == [
        ("-1*1v", "看到喜事", 1, 5),
        ("f", "喜", 3, 4),
        ("f", "高兴", 10, 12),
    ]


@pytest.mark.parametrize("tagged", ["[f]喜[/1v]", "[f]喜", "喜[/f]", "[1v]因[f]喜[/1v][/f]"])
def test_decode_tags_rejects_tags_that_do_not_close_properly(tagged: str) -> None:
    with pytest.raises(ValueError, match="tag"):
        decode_tags(tagged)


# --- broken files -----------------------------------------------------------------------------------------------


def check_broken(reader, path: Path, reason: str, location: str, kept: int, caplog) -> None:
    """Strict reading names the file and location; lenient reading skips one record and keeps the rest."""
    with pytest.raises(DataError) as raised:
        reader(path)
    assert str(raised.value).startswith(f"{path}: {location}")
    assert raised.value.reason == reason
    with caplog.at_level(logging.WARNING, logger="ecct.data.readers"):
        result = reader(path, lenient=True)
    assert result.skipped.counts == {reason: 1}
    assert len(result.documents) == kept
    assert any(r.levelno == logging.WARNING and reason in r.getMessage() for r in caplog.records)


GOOD_CSV = "1,3,因为[-1*1v]考试失利[/-1*1v]，他很[f]难过[/f]。\n2,0,[0*1n]大奖[/0*1n]让她[f]高兴[/f]。\n"


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("3,3,他[f]难过[/1v]。", "malformed tag"),
        ("3,3,他[f]难过。", "malformed tag"),
        ("3,9,因[0v]雨[/0v]他[f]难过[/f]。", "unknown category"),
        ("3,x,因[0v]雨[/0v]他[f]难过[/f]。", "unknown category"),
        ("3,3,  ", "empty text"),
        ("1,3,因[0v]雨[/0v]他[f]难过[/f]。", "duplicate id"),
        ("3;3;他难过", "malformed line"),
        ("3,3,因[0v]雨[/0v]他[f]难过[/f][f]哭[/f]。", "not one emotion"),
        ("3,3,他[f]难过[/f]。", "no cause"),
        ("3,3,因[0v][/0v]他[f]难过[/f]。", "empty span"),
    ],
)
def test_csv_broken_records(tmp_path: Path, caplog, bad_line: str, reason: str) -> None:
    path = tmp_path / "broken.csv"
    path.write_text(GOOD_CSV + bad_line + "\n", encoding="utf-8")
    check_broken(read_gui2016_csv, path, reason, "line 3", kept=2, caplog=caplog)


def test_csv_groups_instances_of_one_text_in_a_small_file(tmp_path: Path) -> None:
    path = tmp_path / "group.csv"
    path.write_text(
        "7,0,[0*1n]大奖[/0*1n]让她[f]高兴[/f]，被骗又令她生气。\n9,2,大奖让她高兴，[0v]被骗[/0v]又令她[f]生气[/f]。\n",
        encoding="utf-8",
    )
    (document,) = read_gui2016_csv(path).documents
    assert document.id == "7" and document.meta["instance_ids"] == [7, 9]
    assert [(t.emotion.text, t.cause.text, t.category) for t in document.triplets] == [
        ("高兴", "大奖", "happiness"),
        ("生气", "被骗", "anger"),
    ]


def xml_block(
    emotion_id: str = "5", category: str = "sadness", cause: str = "考试失利", clause: str = "因为考试失利，"
) -> str:
    return f"""<emotionml xmlns="http://www.w3.org/2009/10/emotionml"
           xmlns:meta="http://219.223.252.223/data/emotion_cause/9.txt">
<emotion id="{emotion_id}">
    <category name="{category}" value="4"/>
    <clause id= "1" cause= "Y" keywords= "N">
        <text>
            {clause}
        </text>
        <cause id= "1" type= "v" begin= "2" length= "4">
            {cause}
        </cause>
    </clause>
    <clause id= "2" cause= "N" keywords= "Y">
        <text>
            他很难过。
        </text>
        <keywords key-words-begin= "7" keywords-length= "2">
            难过
        </keywords>
    </clause>
</emotion>
</emotionml>
"""


@pytest.mark.parametrize(
    ("bad_block", "reason", "location"),
    [
        (xml_block("6").replace("</clause>", "</claus>", 1), "malformed xml", "line 35, column"),
        (xml_block("6", category="joy"), "unknown category", "line 24 (emotion id 6)"),
        (xml_block("6", cause="下雨"), "span not in text", "line 24 (emotion id 6)"),
        (xml_block("6", cause="", clause=""), "empty span", "line 24 (emotion id 6)"),
        (xml_block("5"), "duplicate id", "line 24"),
        ("stray text\n", "malformed xml", "line 24"),
    ],
)
def test_xml_broken_records(tmp_path: Path, caplog, bad_block: str, reason: str, location: str) -> None:
    path = tmp_path / "broken.eml"
    path.write_text(xml_block("5") + "\n" + bad_block + xml_block("7"), encoding="utf-8")
    check_broken(read_gui2016_xml, path, reason, location, kept=2, caplog=caplog)


def test_xml_small_file_uses_search_not_offsets(tmp_path: Path) -> None:
    path = tmp_path / "ok.eml"
    path.write_text(xml_block("5"), encoding="utf-8")
    (document,) = read_gui2016_xml(path).documents
    assert document.text == "因为考试失利，他很难过。"
    assert [(t.emotion.start, t.cause.start) for t in document.triplets] == [(9, 2)]
    assert document.meta["offset_hint_misses"] == {"keyword": 1, "cause": 0}  # begin=7 is wrong: 难过 is at 2


def test_readers_registry_names_every_reader() -> None:
    assert READERS["gui2016_csv"] is read_gui2016_csv and READERS["gui2016_xml"] is read_gui2016_xml
    assert set(READERS) == {"gui2016_csv", "gui2016_xml", "ecf", "jsonl", "reccon", "emotion_stimulus"}
