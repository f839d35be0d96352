"""Batched decoding with the training chat template: ``generate``, the shared prefix cache, constrained decoding."""
