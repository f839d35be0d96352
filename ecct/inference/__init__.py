"""Documents -> predictions: generate, parse and score; prediction inputs, the model of a run, vLLM, merging."""
