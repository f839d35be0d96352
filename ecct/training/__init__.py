"""The training stage: the run body (``run``), SFT datasets with a length check, the trainer subclass."""
