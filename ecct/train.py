"""``python -m ecct.train +experiment=NAME [overrides]``: one Hydra job = one W&B run = one run directory.

The run directory (Hydra's output dir) gets the resolved config, library versions and everything
``ecct.training.run.run`` writes. Running the same command with the same ``hydra.run.dir`` (or a sweep with the
same ``hydra.sweep.dir``) skips a finished run of the same config, resumes an unfinished one from its last
checkpoint in the same W&B run, and refuses a folder of another config (``ecct.runs.resume``).
"""

from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ecct import CONF_DIR
from ecct.runs import resolvers
from ecct.runs.checks import check_config
from ecct.runs.job import run_job
from ecct.runs.tracking import run_name, run_tags

resolvers.register()  # before Hydra composes: conf/config.yaml's sweep subdir uses ${ecct_subdir:...}


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float:
    from ecct.training.run import run  # heavy imports after Hydra has parsed the command line

    check_config(cfg)
    choices = dict(HydraConfig.get().runtime.choices)
    name = cfg.get("run_name") or run_name(cfg, choices)
    metrics = run_job(cfg, name, run_tags(cfg, choices), run)
    return float(metrics["test/span/triplet/f1"])


if __name__ == "__main__":
    main()
