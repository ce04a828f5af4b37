"""The one error every ingest level raises for unusable input."""


class IngestError(ValueError):
    """A source file cannot be loaded; nothing from it was written."""
