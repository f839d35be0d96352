"""Where the corpora live: ``ECCT_DATA_DIR``, a config value, or ``../shared/data/raw`` beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HOW_TO_OBTAIN = (
    "The corpora are research-only and not shipped with ecct. Obtain them as the README's 'Data' section says, "
    "put them in one folder (gui2016_ece_rthn/, gui2016_ecpe_nustm/, ...) and point ecct at it with "
    "ECCT_DATA_DIR=/path/to/raw or the config key data_dir=/path/to/raw."
)


class DataDirNotFound(FileNotFoundError):
    """The corpus folder is missing; the message says how to get it."""


def resolve_data_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """First of: the configured path, ``$ECCT_DATA_DIR``, ``<checkout>/../shared/data/raw``."""
    candidates: list[tuple[str, Path]] = []
    if configured:
        candidates.append(("data_dir", Path(configured).expanduser()))
    if os.environ.get("ECCT_DATA_DIR"):
        candidates.append(("ECCT_DATA_DIR", Path(os.environ["ECCT_DATA_DIR"]).expanduser()))
    candidates.append(("default", REPO_ROOT.parent / "shared" / "data" / "raw"))
    for _, path in candidates:
        if path.is_dir():
            return path.resolve()
    tried = ", ".join(f"{name}={path}" for name, path in candidates)
    raise DataDirNotFound(f"No corpus folder found (tried {tried}). {HOW_TO_OBTAIN}")


def corpus_file(relative: str, configured: str | os.PathLike[str] | None = None) -> Path:
    """A file inside the corpus folder, with a clear error when it is absent."""
    path = resolve_data_dir(configured) / relative
    if not path.exists():
        raise DataDirNotFound(f"Corpus file {path} does not exist. {HOW_TO_OBTAIN}")
    return path
