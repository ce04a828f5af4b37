"""Errors that mean "fix your setup", shared by every layer (no imports)."""


class ConfigurationError(RuntimeError):
    """A setting, block, credential or limit the chosen target needs is missing or wrong."""


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of an error's message (at most LIMIT characters); "" if it has none."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else ""
