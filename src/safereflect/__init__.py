"""safereflect: safety pretraining research toolkit (Safety Reflection Pretraining and baselines)."""

__version__ = "0.1.0"
