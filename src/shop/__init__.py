"""shop: the backend foundation of a global e-commerce platform."""

__version__ = "0.1.0"
