"""serialize -> parse_output gives back every real document's triplets exactly, in both formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecct.data.model import Document
from ecct.data.readers import read_ecf, read_gui2016_csv
from ecct.output.formats import FORMATS, as_text_triplets, serialize
from ecct.output.parsing import parse_output

CORPORA = {
    "gui2016": (read_gui2016_csv, "gui2016_ece_rthn/datacsv_2105.csv"),
    "ecf2": (read_ecf, "ecf2_semeval2024_task3/Subtask_1_train.json"),
}


@pytest.fixture(scope="module", params=sorted(CORPORA))
def corpus(request, data_dir: Path) -> tuple[str, list[Document]]:
    reader, relative = CORPORA[request.param]
    documents = reader(data_dir / relative).documents
    assert documents, f"{relative}: no documents read"
    return request.param, documents


def round_trip_failures(documents: list[Document], fmt: str, with_document: bool = True) -> list[str]:
    """One line per document whose triplets do not come back exactly (text order, no other violation)."""
    failures = []
    for document in documents:
        gold = as_text_triplets(document.triplets)
        expected = list(dict.fromkeys(gold))  # the text format cannot tell same-text triplets apart
        result = parse_output(serialize(document.triplets, fmt=fmt), document.text if with_document else None, fmt)
        kinds = [v.kind for v in result.violations]
        if result.text_triplets != expected or kinds != ["duplicate"] * (len(gold) - len(expected)):
            missing = [t for t in expected if t not in result.text_triplets]
            failures.append(f"{document.id}: missing {missing[:2]}, violations {result.violations[:2]}")
            continue
        for triplet in result.triplets if with_document else []:
            for span in (triplet.emotion_span, triplet.cause_span):
                if span is None or document.text[span.start : span.end] != span.text:
                    failures.append(f"{document.id}: span {span} not located in the text")
    return failures


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_real_document_round_trips_exactly(corpus, fmt):
    name, documents = corpus
    failures = round_trip_failures(documents, fmt)
    assert not failures, f"{name}/{fmt}: {len(failures)} of {len(documents)} documents fail:\n" + "\n".join(
        failures[:5]
    )


def test_lines_round_trip_holds_without_the_document_too(corpus):
    # The separator serialize writes (", " right after a non-space) is told apart from the " , " of tokenised
    # English text inside ECF spans, so even document-free parsing finds every boundary.
    name, documents = corpus
    failures = round_trip_failures(documents, "lines", with_document=False)
    assert not failures, f"{name}: {len(failures)} documents fail without the document:\n" + "\n".join(failures[:5])


def test_ecf_spans_hold_commas_so_the_comma_path_is_exercised(data_dir):
    documents = read_ecf(data_dir / CORPORA["ecf2"][1]).documents
    with_commas = [d for d in documents if any("," in e or "," in c for e, c, _ in as_text_triplets(d.triplets))]
    assert len(with_commas) > len(documents) // 2
