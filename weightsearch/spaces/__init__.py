"""Search spaces over loss weights: pure functions, no torch, no Optuna."""

from weightsearch.spaces.sum_to_one import parse_base_weights, parse_multipliers, sum_to_one_grid

__all__ = ["parse_base_weights", "parse_multipliers", "sum_to_one_grid"]
