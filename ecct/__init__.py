"""ecct: span-level emotion-cause-category triplet extraction with instruction-tuned LLMs."""

from pathlib import Path

__version__ = "0.1.0"

CONF_DIR = Path(__file__).resolve().parent / "conf"
"""The Hydra configs: ``conf/`` of the checkout, shipped inside the package as ``ecct/conf`` (a link in git)."""
