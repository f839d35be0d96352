"""The two-step BERT-Classifier baseline: a BIO span tagger (stage 1), then an (emotion, cause) pair classifier
(stage 2). ``python -m ecct.baseline [overrides]`` trains and tests it; see ``ecct.baseline.pipeline``.
``method=rules`` runs the rule-based floor instead (lexicon + clause positions, no model; ``ecct.baseline.rules``)."""
