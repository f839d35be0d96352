"""``python -m ecct.merge adapter=<run dir> output=<folder> [dtype=bfloat16] [qlora_base=dequantized|original]``.

Merges the run's LoRA adapter into a 16/32-bit copy of its base and saves a standalone model, its tokenizer and a
``config.yaml`` that ``python -m ecct.predict adapter=<output>`` reads. Never into 4-bit weights: a QLoRA adapter
is merged into its de-quantized base (``ecct.inference.merging`` explains both ``qlora_base`` choices).
"""

from __future__ import annotations

import logging
import sys

from omegaconf import DictConfig

from ecct import CONF_DIR
from ecct.inference.merging import MergeError, merge_run
from ecct.runs.locate import RunFolderError


def main() -> None:
    import hydra

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="merge")
    def _main(cfg: DictConfig) -> None:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        if cfg.get("adapter") is None or cfg.get("output") is None:
            print("error: give adapter=<run dir> and output=<new folder>", file=sys.stderr)
            sys.exit(2)
        try:
            out = merge_run(cfg.adapter, cfg.output, cfg.get("dtype"), cfg.qlora_base)
        except (MergeError, RunFolderError, OSError) as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        print(f"merged model written to {out}", file=sys.stderr)

    _main()


if __name__ == "__main__":
    main()
