"""SSL Workbench: self-supervised representation learning on a folder of images."""

__version__ = "0.1.0"
