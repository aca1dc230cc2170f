"""Augmentations: a serialisable spec (spec.py) and the one function that draws views (views.py)."""
