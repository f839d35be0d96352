"""ecct: span-level emotion-cause-category triplet extraction with instruction-tuned LLMs."""

__version__ = "0.1.0"
