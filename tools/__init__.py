"""groundex tools: entailment, grounding and segmentation, each with interchangeable backends."""
