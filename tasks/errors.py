"""Errors that mean "fix your setup", shared by every layer (no imports)."""


class ConfigurationError(RuntimeError):
    """A setting, block, credential or limit the chosen target needs is missing or wrong."""
