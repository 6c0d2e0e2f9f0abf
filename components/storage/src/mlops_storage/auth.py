"""Bearer-token authentication of the storage service.

The token comes from a file (a Kubernetes Secret mounted as a volume; re-read
when the file changes, so a rotated Secret takes effect without a restart) or
from an environment variable. It is compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import os
import threading
from dataclasses import dataclass
from pathlib import Path

# Names of environment variables, not secrets.
TOKEN_ENV = "MLOPS_STORAGE_TOKEN"  # nosec B105
TOKEN_FILE_ENV = "MLOPS_STORAGE_TOKEN_FILE"  # nosec B105

#: Longest token accepted from a file or the environment.
MAX_TOKEN_LENGTH = 4096


class TokenError(Exception):
    """The configured token cannot be used (missing, empty, unreadable file)."""


def _clean(raw: str, where: str) -> str:
    token = raw.strip()
    if not token:
        raise TokenError(f"the token in {where} is empty")
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenError(f"the token in {where} is longer than {MAX_TOKEN_LENGTH}")
    if any(ch.isspace() or not ch.isprintable() for ch in token):
        raise TokenError(f"the token in {where} holds whitespace or control characters")
    return token


class TokenSource:
    """Where the expected token comes from; ``token()`` returns its bytes."""

    def __init__(self, *, value: str | None = None, path: Path | None = None) -> None:
        if (value is None) == (path is None):
            raise ValueError("give exactly one of value and path")
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._token = b""
        if value is not None:
            self._token = _clean(value, f"${TOKEN_ENV}").encode()
        else:
            self.token()  # fail at start-up, not at the first write

    def describe(self) -> str:
        return f"file {self.path}" if self.path is not None else f"${TOKEN_ENV}"

    def token(self) -> bytes:
        """The expected token; re-read from the file when the file changed."""
        if self.path is None:
            return self._token
        try:
            info = self.path.stat()
        except OSError as exc:
            raise TokenError(
                f"cannot read token file {self.path}: {exc.strerror}"
            ) from None
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        with self._lock:
            if stamp != self._stamp:
                try:
                    text = self.path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise TokenError(
                        f"cannot read token file {self.path}: {exc}"
                    ) from None
                self._token = _clean(text, f"token file {self.path}").encode()
                self._stamp = stamp
            return self._token


def token_source(
    token_file: str | None, environ: dict[str, str] | None = None
) -> TokenSource | None:
    """The token source from ``--token-file``, else the environment, else None.

    Raises TokenError when both a token file and a token are configured, or the
    configured token cannot be read.
    """
    env = os.environ if environ is None else environ
    path = token_file or env.get(TOKEN_FILE_ENV, "").strip() or None
    value = env.get(TOKEN_ENV)
    if path is not None and value is not None:
        raise TokenError(
            f"both a token file and ${TOKEN_ENV} are set: configure only one"
        )
    if path is not None:
        return TokenSource(path=Path(path))
    if value is not None:
        return TokenSource(value=value)
    return None


@dataclass(frozen=True)
class Verdict:
    """Outcome of checking a request's credentials."""

    status: int  # 0 allowed, else 401, 403 or 503
    message: str = ""


ALLOWED = Verdict(0)


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, else None."""
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    credentials = credentials.strip()
    return credentials or None


def check(
    source: TokenSource | None, header: str | None, *, anonymous: bool
) -> Verdict:
    """Decide a request needing authorization from its Authorization header."""
    if source is None:
        if anonymous:
            return ALLOWED
        return Verdict(
            403,
            "writes are disabled: no token is configured; start the service with "
            f"--token-file FILE or ${TOKEN_FILE_ENV} or ${TOKEN_ENV} "
            "(or --allow-anonymous-writes)",
        )
    given = bearer(header)
    if given is None:
        return Verdict(401, "authentication required: send Authorization: Bearer TOKEN")
    try:
        expected = source.token()
    except TokenError as exc:
        return Verdict(503, f"cannot check credentials: {exc}")
    # Constant time: the comparison does not tell how much of the token matched.
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected):
        return Verdict(403, "invalid token")
    return ALLOWED
