"""descent: gradient-descent regression with NumPy, measured against the exact optimum."""

__version__ = "0.1.0"
