"""One Hydra job as one run: the job wrapper, W&B tracking, config checks, resolvers, run-folder lookup."""
