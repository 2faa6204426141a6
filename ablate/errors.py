"""User-facing errors: the CLI prints them as one line and exits with status 2."""


class AblateError(Exception):
    """A problem with the user's input or environment (never a bug in ablate)."""


class ConfigError(AblateError):
    """An experiment spec that does not validate; the message names the dotted path."""

    def __init__(self, path: str, message: str, source: str | None = None):
        self.path = path
        self.message = message
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{path}: {message}" if path else f"{where}{message}")
