"""``python -m ecct.augment data=gui2016 augment=local augment.max_sources=300``: fill the augmentation cache.

Uses the same config tree as ``ecct.train`` and the same training part (``ecct.runs.parts.dev_and_train``), so a
later training run with the same data/augment settings finds every sample in the cache. Generates
``num_samples`` per selected source (more rounds only if ``augment.ratio`` asks for more than that yields), then
writes to the Hydra run dir: ``augment_report.json`` (the yield report), ``candidates.jsonl`` (every generation
with its verdict) and ``augmented.jsonl`` (the documents a training run with this ratio would add).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ecct import CONF_DIR
from ecct.runs import resolvers

log = logging.getLogger("ecct.augment")

resolvers.register()  # conf/config.yaml's sweep subdir uses ${ecct_subdir:...}


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    from ecct.augment.pipeline import Augmenter, AugmentSettings, format_report
    from ecct.data.corpus import load_corpus
    from ecct.data.readers import write_jsonl
    from ecct.jsonl import write_jsonl as write_records
    from ecct.runs.parts import dev_and_train

    settings = AugmentSettings.from_config(cfg.augment)
    if not settings.generator:
        raise SystemExit(f"augment={settings.name} has no generator: choose augment=local or augment=openai")
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    corpus = load_corpus(cfg.data, cfg.get("data_dir"))
    train_docs, _ = dev_and_train(corpus, cfg)  # the held-out dev documents never reach the augmenter
    augmenter = Augmenter(train_docs, settings, f"{cfg.data.name}-{corpus.split.name}")
    log.info(
        "augmenting %d of %d training documents of %s (%d sample(s) each); cache %s",
        len(augmenter.sources),
        len(train_docs),
        corpus.split.name,
        settings.num_samples,
        augmenter.cache.path,
    )
    pool = augmenter.fill(target=None, rounds=1)
    requested = round(settings.ratio * len(train_docs))
    if len(pool.accepted) < requested:
        pool = augmenter.fill(target=requested)
    added = pool.accepted[:requested]
    report = augmenter.report(pool, requested, len(added))
    (run_dir / "augment_report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    candidates = (
        {"source_id": c.source_id, "sample": c.sample, "verdict": c.reason or "accepted", "detail": c.detail}
        | {"output": c.output}
        for c in pool.candidates
    )
    write_records(candidates, run_dir / "candidates.jsonl")
    write_jsonl(added, run_dir / "augmented.jsonl")
    print(format_report(report))
    print(f"outputs in {run_dir}")
    if len(added) < requested:
        log.warning("short by %d synthetic documents for ratio %s", requested - len(added), settings.ratio)


if __name__ == "__main__":
    main()
