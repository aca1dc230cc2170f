"""Reusable widgets: banner, thumbnail grid, scan summary, image detail, spec editor, preview grid."""
