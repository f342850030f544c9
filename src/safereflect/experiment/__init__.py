"""The experiment runner: every arm x seed x grid value through every stage, then a report."""

from safereflect.experiment.config import ExperimentConfig, Grid, WorldSpec
from safereflect.experiment.runner import run_experiment, variants

__all__ = ["ExperimentConfig", "Grid", "WorldSpec", "run_experiment", "variants"]
