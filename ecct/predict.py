"""Triplets for new text from a trained run: ``python -m ecct.predict adapter=<run dir> input=docs.jsonl``.

Also installed as ``ecct-extract``. Hydra-style ``key=value`` arguments (``conf/predict.yaml``):

- ``adapter``: a training run directory (its ``config.yaml`` names the base model and the prompt; its
  ``adapter/`` holds the LoRA adapter, or the whole model after full fine-tuning), that run's ``adapter/``
  folder, or a folder written by ``python -m ecct.merge``.
- ``text="..."``: one document; or ``input=FILE``, recognised by content (``ecct.inference.inputs``): JSON Lines
  (ecct corpus records, whose gold triplets are kept and scored, or ``{"id", "text"[, "language"]}`` lines), a
  JSON list of such records, an ECF 2.0 conversation file, or plain text, one document per non-blank line (split
  at ``\\n``/``\\r\\n`` only; ``text_file_mode=whole``: the whole file is one document).
- ``output=FILE`` (JSON Lines; default: standard output): a header line ``{"ecct_predict": {"adapter", "input",
  "decoding", ...}}``, then one record per document::

      {"id", "text", "output", "triplets": [{"emotion", "cause", "category",
       "emotion_span": {"start", "end", "text"} | null, "cause_span": ...}], "violations": [{"kind", "detail",
       "line"}], "gold": [...]}   # gold only for labelled corpus input
      {"id", "skipped": "reason"}  # a document that cannot be predicted (invalid UTF-8, a lone surrogate)

  A span that is not verbatim in the text has ``null`` offsets and a ``not_verbatim`` violation. Each batch is
  appended and flushed as it finishes; a completed run leaves the records in input order. ``resume=true`` (the
  default): the same command after a stop predicts only the documents not yet in ``output``
  (``ecct.inference.output_file``). The file is also what ``python -m ecct.score`` scores.

Generation is ``ecct.decoding.generate.generate`` (the path training and testing use): batched by length, shared
prefix cache, greedy, verbatim-constrained by default (``constrained=false``: free decoding; the header and the
summary say which ran). ``backend=vllm`` (``pip install .[vllm]``, a GPU, ``constrained=false``) serves the base
model with the LoRA adapter through vLLM with prefix caching instead.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Sequence

from omegaconf import DictConfig

from ecct import CONF_DIR
from ecct.data.errors import DataError
from ecct.inference.inputs import PredictError
from ecct.inference.pipeline import predict
from ecct.runs.locate import RunFolderError


def run(cfg: DictConfig) -> int:
    try:
        result = predict(cfg)
    except (PredictError, RunFolderError, DataError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(result.summary(cfg.get("output")), file=sys.stderr)
    if cfg.get("output") is not None:
        print(f"{len(result.records)} records in {cfg.output}", file=sys.stderr)
    if result.metrics is not None:
        from ecct.metrics import format_table

        print(format_table(result.metrics), file=sys.stderr)
    return 0


_HYDRA_ESCAPE = re.compile(r"(\\*)('|$)")


def _escape(match: re.Match[str]) -> str:
    # Hydra's quoted strings: a quote, and backslashes before a quote or the end, are escaped with a backslash.
    return match.group(1) * 2 + ("\\'" if match.group(2) else "")


def quote_free_text(argv: Sequence[str]) -> list[str]:
    """Quote the value of ``text=...`` for Hydra's override grammar, which rejects most non-ASCII unquoted text."""
    quoted = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+~") == "text" and not (len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""):
            arg = f"{key}='" + _HYDRA_ESCAPE.sub(_escape, value.replace("${", "\\${")) + "'"
        quoted.append(arg)
    return quoted


def main() -> None:
    import hydra

    sys.argv[1:] = quote_free_text(sys.argv[1:])

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="predict")
    def _main(cfg: DictConfig) -> None:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        code = run(cfg)
        if code:
            sys.exit(code)

    _main()


if __name__ == "__main__":
    main()
