"""One exception hierarchy: what went wrong, and which exit code it means."""

from __future__ import annotations


class MirrorsyncError(Exception):
    """Base of every error mirrorsync raises on purpose."""

    exit_code = 1


class InputError(MirrorsyncError):
    """Bad input from the user: a file, a flag, a reference. Exit code 2.

    Rendered as one line: ``FILE:LINE: FIELD: message`` with the parts that are known.
    """

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        field = f"{self.field}: " if self.field else ""
        text = f"{where}{field}{self.message}"
        # Field names and messages quote the user's input, which may hold line breaks or control characters.
        return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class InvalidReference(InputError):
    """An image reference that does not follow the distribution reference grammar."""


class RegistryError(MirrorsyncError):
    """A registry answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        self.status = status
        self.code = code
        super().__init__(message)


class NotFound(RegistryError):
    """The manifest, blob or repository does not exist (HTTP 404 or MANIFEST_UNKNOWN)."""


class AuthError(RegistryError):
    """Authentication or authorization failed (HTTP 401/403 after trying credentials)."""


class DigestMismatch(MirrorsyncError):
    """Content did not hash to the digest it was asked for under."""


class UnsupportedContent(MirrorsyncError):
    """Content mirrorsync refuses to copy, such as Docker schema 1 manifests."""


class EngineError(MirrorsyncError):
    """The copy engine itself failed (for example skopeo missing or killed)."""


class Unreachable(RegistryError):
    """The registry could not be reached at all (refused, reset, timed out, TLS handshake failed)."""


class PreflightError(RegistryError):
    """A mirror failed the check before copying (unreachable, untrusted, refusing the credentials): the run
    copies nothing. Exit code 1."""


def describe(exc: BaseException) -> str:
    """One line saying what went wrong, for reports and logs (never a traceback)."""
    if isinstance(exc, MirrorsyncError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
