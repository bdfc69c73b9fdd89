"""One readable file per paper; :mod:`derain_lib.models.registry` maps names to builders."""
from .registry import build_model, config_dict, list_models, model_class, paper_schedule, training_loss

__all__ = ["build_model", "config_dict", "list_models", "model_class", "paper_schedule", "training_loss"]
