"""Where the corpora live: ``ECCT_DATA_DIR``, a config value, or ``../shared/data/raw`` beside the checkout."""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
HOW_TO_OBTAIN = (
    "The corpora are research-only and not shipped with ecct. Obtain them as the README's 'Data' section says, "
    "put them in one folder (gui2016_ece_rthn/, gui2016_ecpe_nustm/, ...) and point ecct at it with "
    "ECCT_DATA_DIR=/path/to/raw or the config key data_dir=/path/to/raw."
)


class DataDirNotFound(FileNotFoundError):
    """The corpus folder is missing; the message says how to get it."""


def resolve_data_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """The corpus folder: the configured path, else ``$ECCT_DATA_DIR``, else ``<checkout>/../shared/data/raw``.

    A folder the user gave (``data_dir=...``, or ``ECCT_DATA_DIR``, which the configs pass on as ``data_dir``)
    must exist and be a folder: it is never replaced by another one. The folder beside the checkout is used
    only when the user gave none. The folder used, and where it came from, is logged.
    """
    env = os.environ.get("ECCT_DATA_DIR")
    if configured:
        source = "data_dir (from ECCT_DATA_DIR)" if env and str(configured) == env else "data_dir"
        return _given_folder(source, configured)
    if env:
        return _given_folder("ECCT_DATA_DIR", env)
    default = REPO_ROOT.parent / "shared" / "data" / "raw"
    if not default.is_dir():
        raise DataDirNotFound(
            f"No corpus folder given (data_dir, ECCT_DATA_DIR) and none beside the checkout ({default}). "
            + HOW_TO_OBTAIN
        )
    logger.info("corpus folder: %s (none given; the folder beside the checkout)", default.resolve())
    return default.resolve()


def _given_folder(source: str, value: str | os.PathLike[str]) -> Path:
    path = Path(value).expanduser()
    if not path.exists():
        raise DataDirNotFound(f"{source}={value}: the corpus folder {path} does not exist. {HOW_TO_OBTAIN}")
    if not path.is_dir():
        raise DataDirNotFound(f"{source}={value}: {path} is not a folder. {HOW_TO_OBTAIN}")
    logger.info("corpus folder: %s (from %s)", path.resolve(), source)
    return path.resolve()
