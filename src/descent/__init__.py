"""descent: gradient-descent regression with NumPy, measured against the exact optimum."""

__version__ = "0.1.0"
__all__ = ["GDRegressor", "__version__"]


def __getattr__(name: str):
    if name == "GDRegressor":  # needs scikit-learn; `import descent` never imports it
        from descent.estimator import GDRegressor

        return GDRegressor
    raise AttributeError(f"module 'descent' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "GDRegressor"])
