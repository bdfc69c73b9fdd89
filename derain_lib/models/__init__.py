"""One readable file per paper; :mod:`derain_lib.models.registry` maps names to builders."""
from .registry import build_model, list_models, model_class, training_loss, paper_schedule, config_dict

__all__ = ["build_model", "list_models", "model_class", "training_loss", "paper_schedule", "config_dict"]
