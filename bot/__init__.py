"""Wuxi voluntary tree-planting duty bot."""
