"""OmegaConf resolvers the configs use; every Hydra entry point registers them before it composes a config."""

from __future__ import annotations

import hashlib

from omegaconf import OmegaConf

MAX_DIRNAME_BYTES = 120


def short_dirname(override_dirname: str, limit: int = MAX_DIRNAME_BYTES) -> str:
    """A sweep job's folder name: its overrides, cut to ``limit`` bytes plus a hash of the whole when longer.

    A sweep launched with a few budget overrides (``trainer.max_steps=20 eval.max_test_documents=48 ...``) would
    otherwise exceed the file system's 255-byte limit on a name. The job's exact overrides stay in
    ``.hydra/overrides.yaml``, which is what ``ecct.report`` reads.
    """
    encoded = override_dirname.encode()
    if len(encoded) <= limit:
        return override_dirname
    digest = hashlib.sha256(encoded).hexdigest()[:8]
    return f"{encoded[:limit].decode(errors='ignore')}...{digest}"


def register() -> None:
    OmegaConf.register_new_resolver("ecct_subdir", short_dirname, replace=True)
