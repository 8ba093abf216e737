"""The package version, in one place (imported without the package's heavy modules)."""

__version__ = "0.1.0"
