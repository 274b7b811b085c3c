"""OAuth2 client-credentials tokens: fetched on first use, cached, refreshed, shared by threads.

:class:`TokenManager` owns the token. A token is refreshed shortly before it expires (60 s, or
half the lifetime for short-lived tokens) and once more when the API answers 401 (revoked or
expired early). Refreshes are serialised by one lock; a thread that waited for a refresh started
by another reuses the fresh token instead of buying yet another one, so N threads hitting a 401
together cause exactly one token request.

:class:`FireworkAuth` is the ``httpx.Auth`` that puts the token on API requests and replays a
request once after a 401. It attaches the token only to the API's own origin, so a token can never
reach S3 or any other host even if a request is misrouted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator

import httpx
from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

from prefect_firework import _defaults
from prefect_firework._redact import redact_url, register_secret
from prefect_firework.client.errors import (
    AuthenticationError,
    FireworkError,
    FireworkTransportError,
    error_from_response,
)
from prefect_firework.models.token import AccessToken

__all__ = ["FireworkAuth", "TokenManager"]

logger = logging.getLogger("prefect_firework.client")

DEFAULT_REFRESH_MARGIN = 60.0


class TokenManager:
    """Buys and caches OAuth2 access tokens with the client credentials grant.

    The request is form encoded (``grant_type=client_credentials``, ``client_id``,
    ``client_secret``, ``scope``) as Firework documents; the response needs only
    ``access_token`` (``expires_in`` defaults to 3600 s). ``http`` is the caller's
    ``httpx.Client``; the manager never closes it.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        token_url: str,
        client_id: str,
        client_secret: str | SecretStr,
        scopes: str = _defaults.SCOPES,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = (
            client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        )
        register_secret(self._client_secret)
        self.scopes = scopes
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._refresh_at = 0.0
        self.fetch_count = 0  # tokens bought by this manager (observability and tests)

    def __repr__(self) -> str:
        return f"TokenManager(token_url={self.token_url!r}, client_id={self.client_id!r})"

    @property
    def current(self) -> AccessToken | None:
        """The cached token, if any, without fetching or checking expiry."""
        return self._token

    def get_token(self) -> AccessToken:
        """Return a token valid for a while yet, fetching one if none is cached or it is due."""
        token = self._token
        if token is not None and self._clock() < self._refresh_at:
            return token
        with self._lock:
            token = self._token  # another thread may have refreshed while we waited
            if token is not None and self._clock() < self._refresh_at:
                return token
            return self._fetch()

    def refresh(self, stale: AccessToken | None = None) -> AccessToken:
        """Replace ``stale`` (the token a 401 answered) with a new token.

        If another thread already replaced it, return that newer token without a new fetch.
        """
        with self._lock:
            token = self._token
            if token is not None and token is not stale and self._clock() < self._refresh_at:
                return token
            return self._fetch()

    def invalidate(self) -> None:
        """Forget the cached token; the next use fetches a new one."""
        with self._lock:
            self._token = None
            self._refresh_at = 0.0

    def _fetch(self) -> AccessToken:
        """Buy a new token and cache it. Caller holds self._lock."""
        response = self._post_token_request()
        self._raise_for_rejection(response)
        token = self._token_from(response)
        self._cache(token)
        return token

    def _post_token_request(self) -> httpx.Response:
        """POST the client-credentials form; the URL is logged redacted, the form never."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._client_secret.get_secret_value(),
        }
        if self.scopes:
            form["scope"] = self.scopes
        started = time.perf_counter()
        try:
            response = self._http.post(
                self.token_url,
                data=form,
                auth=None,  # type: ignore[arg-type]  # None: not the client's auth (httpx takes it)
                headers={"Accept": "application/json"},
            )
        except httpx.TransportError as exc:
            raise FireworkTransportError.from_httpx(exc, method="POST", url=self.token_url) from exc
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.debug(
            "POST %s -> %s (%.0f ms) [token]",
            redact_url(self.token_url),
            response.status_code,
            elapsed_ms,
        )
        return response

    def _raise_for_rejection(self, response: httpx.Response) -> None:
        """Bad client credentials or scopes are an ``AuthenticationError``; other errors map."""
        if response.status_code in (400, 401):
            # OAuth reports bad client credentials or scopes as 400 or 401.
            err = error_from_response(response)
            raise AuthenticationError(
                f"token request rejected: {err.message}",
                status_code=response.status_code,
                method="POST",
                url=self.token_url,
            )
        if response.is_error:
            raise error_from_response(response)

    def _token_from(self, response: httpx.Response) -> AccessToken:
        """The token in a successful response, registered for redaction before anything else."""
        try:
            token = AccessToken.model_validate(response.json())
        except PydanticValidationError as exc:
            # Never echo the body: it may hold a token. Field names and reasons only.
            fields = ", ".join(
                f"{'.'.join(map(str, e['loc'])) or '<body>'}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
            raise FireworkError(
                f"token endpoint returned an unexpected body ({fields})",
                status_code=response.status_code,
                method="POST",
                url=self.token_url,
            ) from None
        except ValueError:
            raise FireworkError(
                "token endpoint returned a body that is not JSON",
                status_code=response.status_code,
                method="POST",
                url=self.token_url,
            ) from None
        register_secret(token.access_token)
        return token

    def _cache(self, token: AccessToken) -> None:
        """Keep ``token`` and schedule its refresh."""
        lifetime = token.expires_in
        # Refresh a minute early, but never later than halfway through a short lifetime.
        margin = min(self.refresh_margin, lifetime / 2)
        self._token = token
        self._refresh_at = self._clock() + lifetime - margin
        self.fetch_count += 1
        logger.debug("fetched access token (expires in %.0f s)", lifetime)


class FireworkAuth(httpx.Auth):
    """Bearer auth for the Firework API with one refresh-and-replay on 401.

    The token goes only to requests whose origin (scheme, host, port) is the API's. A replay
    re-sends the same request object: JSON bodies are bytes, and the streamed file-upload body
    re-opens its source on each iteration, so both can be sent twice.
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(self, manager: TokenManager, *, api_origin: httpx.URL | str) -> None:
        self.manager = manager
        origin = httpx.URL(str(api_origin))
        self._origin = (origin.scheme, origin.host, origin.port)

    def _same_origin(self, url: httpx.URL) -> bool:
        return (url.scheme, url.host, url.port) == self._origin

    @staticmethod
    def _token(get: Callable[[], AccessToken]) -> AccessToken:
        """A token for the request; a failure to get one is marked ``request_sent = False``:
        the API request itself never left (or was answered 401), so even a create may be
        repeated safely."""
        try:
            return get()
        except FireworkError as exc:
            exc.request_sent = False  # type: ignore[attr-defined]
            raise

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self._same_origin(request.url):
            yield request
            return
        token = self._token(self.manager.get_token)
        request.headers["Authorization"] = f"Bearer {token.access_token.get_secret_value()}"
        response = yield request
        if response.status_code != 401:
            return
        fresh = self._token(lambda: self.manager.refresh(stale=token))
        logger.debug(
            "401 from %s %s: refreshed the token, replaying once", request.method, request.url.path
        )
        request.headers["Authorization"] = f"Bearer {fresh.access_token.get_secret_value()}"
        yield request
