"""groundex fine-tuning: SFT data from GMNER / FMNERG annotations, LoRA training, adapter export."""
