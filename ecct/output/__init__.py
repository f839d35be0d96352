"""What the model writes and what is read back: completion formats, the parser, violations, prediction records."""
