"""Live OpenChargeMap API v3 client: bounding-box pull with timeouts and retries with backoff.

The API key comes only from the environment (`OCM_API_KEY`) and is sent as the `X-API-Key` header;
it is never logged or included in error messages, and never sent to another origin (scheme, host,
port) than the API URL's: redirects are followed here, and the key is dropped on a cross-origin one.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.openchargemap.io/v3/poi"
RETRY_STATUS = {429, 500, 502, 503, 504}
MAX_REDIRECTS = 5
KEY_HEADER = "X-API-Key"


class OpenChargeMapError(RuntimeError):
    """The API could not be read (missing key, exhausted retries, malformed response)."""


@dataclass(frozen=True)
class OpenChargeMapConfig:
    """How to call the API. Defaults suit the public service's rate limits."""

    api_url: str = DEFAULT_API_URL
    timeout_seconds: float = 30.0
    max_retries: int = 4
    backoff_seconds: float = 2.0        # doubles after each retry; Retry-After wins when the server sends it
    max_backoff_seconds: float = 60.0
    max_results: int = 10000


def api_key_from_env() -> str:
    key = os.environ.get("OCM_API_KEY", "").strip()
    if not key:
        raise OpenChargeMapError(
            "stations format 'openchargemap_api' needs an API key: set the OCM_API_KEY environment variable "
            "(free key from your OpenChargeMap profile), or save a /poi response and use format 'openchargemap_json'")
    return key


def _wait_seconds(response: requests.Response | None, attempt: int, config: OpenChargeMapConfig) -> float:
    if response is not None:
        retry_after = response.headers.get("Retry-After", "")
        if retry_after.strip().isdigit():
            return min(float(retry_after), config.max_backoff_seconds)
    return min(config.backoff_seconds * (2 ** attempt), config.max_backoff_seconds)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


def _get(http: requests.Session, url: str, params: dict | None, headers: dict, timeout: float) -> requests.Response:
    """GET following redirects by hand: the API key goes only to the origin of `url`. (requests drops
    `Authorization` on a redirect to another host, but forwards every other header, the key included.)"""
    origin = _origin(url)
    for _ in range(MAX_REDIRECTS + 1):
        response = http.get(url, params=params, headers=headers, timeout=timeout, allow_redirects=False)
        if not response.is_redirect:
            return response
        url, params = urljoin(response.url or url, response.headers["Location"]), None
        if _origin(url) != origin:
            headers = {k: v for k, v in headers.items() if k.lower() != KEY_HEADER.lower()}
    raise OpenChargeMapError(f"OpenChargeMap: more than {MAX_REDIRECTS} redirects")


def fetch_pois(bbox: tuple[float, float, float, float], api_key: str,
               config: OpenChargeMapConfig = OpenChargeMapConfig(),
               session: requests.Session | None = None) -> list:
    """All POIs in `bbox` = (min_lon, min_lat, max_lon, max_lat) as the API's JSON list."""
    min_lon, min_lat, max_lon, max_lat = bbox
    params = {
        "output": "json",
        "boundingbox": f"({max_lat},{min_lon}),({min_lat},{max_lon})",
        "maxresults": config.max_results,
        "compact": "true",
        "verbose": "false",
    }
    headers = {KEY_HEADER: api_key, "User-Agent": "evcharge_pipeline"}
    http = session or requests.Session()
    last_problem = "no attempt made"
    for attempt in range(config.max_retries + 1):
        response = None
        try:
            response = _get(http, config.api_url, params, headers, config.timeout_seconds)
        except (requests.Timeout, requests.ConnectionError) as exc:
            last_problem = f"{type(exc).__name__} after {config.timeout_seconds:g} s timeout"
        else:
            if response.status_code == 200:
                try:
                    return response.json()
                except ValueError as exc:
                    last_problem = f"malformed JSON in the response ({exc})"
            elif response.status_code in RETRY_STATUS:
                last_problem = f"HTTP {response.status_code}"
            else:
                raise OpenChargeMapError(f"OpenChargeMap answered HTTP {response.status_code} from "
                                         f"{config.api_url}; not retrying")
        if attempt < config.max_retries:
            wait = _wait_seconds(response, attempt, config)
            log.warning("OpenChargeMap attempt %d/%d failed (%s); retrying in %.1f s",
                        attempt + 1, config.max_retries + 1, last_problem, wait)
            time.sleep(wait)
    raise OpenChargeMapError(f"OpenChargeMap pull from {config.api_url} failed after "
                             f"{config.max_retries + 1} attempts: {last_problem}")
