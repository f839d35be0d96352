"""Corpus layer: data model, readers, validation and document-level splits."""

from ecct.data.errors import DataError, SkipReport
from ecct.data.model import CATEGORIES, LANGUAGES, Document, Span, Triplet, find_span

__all__ = ["CATEGORIES", "LANGUAGES", "DataError", "Document", "SkipReport", "Span", "Triplet", "find_span"]
