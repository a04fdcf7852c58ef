"""What a registry's HTTP answer or a transport failure means, as mirrorsync's errors (see ``errors.py``)."""

from __future__ import annotations

import contextlib
from typing import Callable

import httpx

from . import retry
from ..errors import AuthError, NotFound, RegistryError, Unreachable
from .retry import TransientError


def _error_detail(response: httpx.Response) -> tuple[str | None, str]:
    """The registry's error code and message from its JSON error body, if any."""
    try:
        errors = response.json().get("errors") or []
        if errors and isinstance(errors[0], dict):
            first = errors[0]
            return first.get("code"), str(first.get("message") or first.get("code") or "")
    except Exception:  # noqa: BLE001 - a body that is not the spec's error JSON; fall back to the status
        pass
    return None, response.reason_phrase


def raise_for_status(response: httpx.Response, what: str,
                     auth_hint: Callable[[httpx.Response], str] | None = None) -> None:
    """Turn a non-2xx registry answer into the error that says what it means; a 401 or 403 ends with
    ``auth_hint(response)`` (which credentials were sent, or that none were found)."""
    status = response.status_code
    if status < 400:
        return
    if not response.is_stream_consumed:
        with contextlib.suppress(Exception):
            response.read()
    code, message = _error_detail(response)
    text = f"{what}: HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    if status in (408, 429) or status >= 500:
        raise TransientError(text, status=status, retry_after=retry.parse_retry_after(response.headers.get("Retry-After")))
    if status == 404 or code in ("MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NAME_UNKNOWN"):
        raise NotFound(text, status=status, code=code)
    if status in (401, 403):
        raise AuthError(text + (auth_hint(response) if auth_hint is not None else ""), status=status, code=code)
    raise RegistryError(text, status=status, code=code)


def refused_push(exc: RegistryError, host: str, repo: str, media_type: str | None = None) -> RegistryError:
    """A push the registry refused, as what it means where a product's rules explain it: a namespace that does
    not exist (Quay organisations and Harbor projects must be created first: the README shows how), or a manifest
    media type it does not take; else ``exc`` itself."""
    if exc.status == 404 or exc.code in ("NAME_UNKNOWN", "NOT_FOUND"):
        namespace = repo.split("/")[0]
        return RegistryError(f"{exc}: the namespace {namespace} does not exist on {host}: create it first (a Quay "
                             f"organisation or Harbor project named {namespace}; see the README's compatibility "
                             "table)", status=exc.status, code=exc.code)
    if media_type and (exc.status == 415 or exc.code in ("MANIFEST_INVALID", "UNSUPPORTED")):
        return RegistryError(f"{exc}: {host} refuses manifests of media type {media_type}", status=exc.status,
                             code=exc.code)
    return exc


def unreachable(host: str, exc: httpx.TransportError, owns: Callable[[httpx.URL], bool],
                fix: Callable[[str | None, str], str] | None = None) -> Unreachable:
    """A transport failure as one line naming the registry ``host``, or the other host it sent us to (``owns``
    tells them apart), ending with what fixes it where no retry can (``fix(kind, failing host)``, kind as
    ``transport.permanence``). The cause's text carries no secrets."""
    kind = "timed out talking to" if isinstance(exc, httpx.TimeoutException) else "cannot connect to"
    if not isinstance(exc, (httpx.ConnectError, httpx.TimeoutException)):
        kind = "connection to"
    detail = str(exc).strip() or type(exc).__name__
    where = failing = host
    with contextlib.suppress(RuntimeError):  # httpx raises it when the error has no request
        if not owns(exc.request.url):  # its token realm, or a redirect's target
            failing = exc.request.url.netloc.decode('ascii')
            where = f"{failing} (where {host} sent us)"
    permanent = getattr(exc, "permanent", None)
    hint = fix(permanent, failing) if fix is not None else ""
    if kind == "connection to":
        error = Unreachable(f"connection to {where} failed: {detail}{hint}")
    else:
        error = Unreachable(f"{kind} {where}: {detail}{hint}")
    error.permanent = permanent  # type: ignore[attr-defined]
    return error
