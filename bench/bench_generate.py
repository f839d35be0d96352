"""Documents per second of the shared generation path, and what its options change.

    python bench/bench_generate.py [--run RUN_DIR] [--docs demo|gui2016] [--n 30] [--max-new-tokens 96]
                                   [--batch-size 8] [--out bench/results.json]

Runs ``ecct.decoding.generate.generate`` on the same model and documents in four ways:

- ``per_document``: batch size 1, no prefix cache (plain per-document generation, the reference);
- ``batched``: batches of ``--batch-size`` sorted by length, left padded;
- ``batched+prefix``: the same with the shared instruction prefix encoded once (the default path);
- ``batched+prefix+constrained``: the default path with verbatim-constrained decoding.

For each it reports documents per wall-clock second and per CPU second of this process (run with
OMP_NUM_THREADS=1 on a shared machine: CPU time then measures the work done whatever else runs there), whether
every output equals the reference, and (documents with gold triplets) triplet F1, the share of predicted spans
that are not verbatim ("hallucinated"), and the violation counts.
The model is the base model of ``--run`` plus its adapter, or the embedded SmolLM2-135M-Instruct without one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter
from pathlib import Path

import torch
from omegaconf import OmegaConf

from ecct.data.corpus import load_corpus
from ecct.decoding.generate import GenerationSettings, generate
from ecct.inference.loading import load_for_inference
from ecct.metrics import compute_metrics
from ecct.output.parsing import parse_output
from ecct.prompts import PromptConfig, build_messages
from ecct.runs.locate import locate_run

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "per_document": {"batch_size": 1, "prefix_cache": False, "constrained": False},
    "batched": {"prefix_cache": False, "constrained": False},
    "batched+prefix": {"prefix_cache": True, "constrained": False},
    "batched+prefix+constrained": {"prefix_cache": True, "constrained": True},
}


def load(run_path: str | None):
    if run_path:
        run = locate_run(run_path)
        model, tokenizer = load_for_inference(run, device="cpu")
        return model, tokenizer, PromptConfig.from_config(run.config.prompt), run.config
    from ecct.models import load_model, load_tokenizer, resolve_model_path

    model_cfg = OmegaConf.load(REPO / "conf" / "model" / "smollm2_135m.yaml")
    path = resolve_model_path(model_cfg)
    prompt = OmegaConf.load(REPO / "conf" / "prompt" / "desc.yaml")
    return (
        load_model(model_cfg, None, path).eval(),
        load_tokenizer(model_cfg, path),
        PromptConfig.from_config(prompt),
        None,
    )


def documents(source: str, n: int):
    data_cfg = OmegaConf.load(REPO / "conf" / "data" / f"{source}.yaml")
    corpus = load_corpus(data_cfg, None)
    docs = [*corpus.part("test"), *corpus.part("valid"), *corpus.part("train")]
    return docs[:n]


def hallucination(parsed) -> dict[str, float | int]:
    spans = [s for p in parsed.values() for t in p.triplets for s in (t.emotion_span, t.cause_span)]
    unlocated = sum(s is None for s in spans)
    kinds = Counter(v.kind for p in parsed.values() for v in p.violations)
    return {
        "predicted_spans": len(spans),
        "hallucinated_spans": unlocated,
        "hallucinated_rate": unlocated / len(spans) if spans else 0.0,
        **{f"violations/{k}": c for k, c in sorted(kinds.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default=None, help="training run dir (config.yaml + adapter/); default: base SmolLM2")
    parser.add_argument("--docs", default="demo", help="data config name: demo | gui2016 | ...")
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset of " + ",".join(CONFIGS))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results.json")
    args = parser.parse_args()

    model, tokenizer, prompt_cfg, _ = load(args.run)
    docs = documents(args.docs, args.n)
    prompts = [build_messages(d.text, prompt_cfg) for d in docs]
    texts = [d.text for d in docs]
    results: dict[str, dict] = {}
    outputs: dict[str, list[str]] = {}
    generate(model, tokenizer, prompts[:1], GenerationSettings(max_new_tokens=4, progress=False))  # warm-up
    for name in args.configs.split(","):
        options = {"batch_size": args.batch_size, **CONFIGS[name]}
        settings = GenerationSettings(max_new_tokens=args.max_new_tokens, progress=True, **options)
        started, cpu_started = time.perf_counter(), time.process_time()
        out = generate(
            model, tokenizer, prompts, settings, name, documents=texts, output_format=prompt_cfg.output_format
        )
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        outputs[name] = out
        parsed = {d.id: parse_output(o, d.text, prompt_cfg.output_format) for d, o in zip(docs, out, strict=True)}
        metrics = compute_metrics(docs, parsed)
        results[name] = {
            "seconds": seconds,
            "docs_per_second": len(docs) / seconds,
            "cpu_seconds": cpu_seconds,  # this process's CPU time: comparable when other jobs share the machine
            "docs_per_cpu_second": len(docs) / cpu_seconds,
            "span/triplet/f1": metrics["span/triplet/f1"],
            "span/emotion/f1": metrics["span/emotion/f1"],
            "span/cause/f1": metrics["span/cause/f1"],
            "word/triplet/f1": metrics["word/triplet/f1"],
            **hallucination(parsed),
        }
        print(name, json.dumps(results[name]), flush=True)
    reference = outputs.get("per_document")
    differences = {}
    if reference is not None:
        for name, out in outputs.items():
            diff = [
                {"id": d.id, "reference": r, "output": o}
                for d, r, o in zip(docs, reference, out, strict=True)
                if r != o
            ]
            results[name]["identical_to_per_document"] = len(docs) - len(diff)
            differences[name] = diff
    report = {
        "command": "python bench/bench_generate.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None and k != "out"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}",
        "n_documents": len(docs),
        "results": results,
        "differences": differences,
        "outputs": outputs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(results))


def table(results: dict[str, dict]) -> str:
    head = "| configuration | wall s | docs/s | CPU s | docs/CPU-s | same as per-document | triplet F1 | hallucinated |"
    rows = [head, "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        same = r.get("identical_to_per_document", "-")
        rate = f"{r['hallucinated_spans']}/{r['predicted_spans']} ({100 * r['hallucinated_rate']:.0f}%)"
        speed = (
            f"{r['seconds']:.1f} | {r['docs_per_second']:.3f} | {r['cpu_seconds']:.1f} | {r['docs_per_cpu_second']:.3f}"
        )
        rows.append(f"| {name} | {speed} | {same} | {r['span/triplet/f1']:.3f} | {rate} |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
