"""Send one alert to one route: Slack, Teams, a signed JSON webhook, or email over SMTP.

Endpoints and secrets are read from the environment variables a route names, at send time.
A failure raises `DeliveryError` with a reason that never contains the endpoint or a secret
(a Slack or Teams webhook URL is itself a secret).

Generic webhook signature: the request carries `X-Validation-Loop-Timestamp` (Unix seconds) and
`X-Validation-Loop-Signature: sha256=<hex>`, the HMAC-SHA256 under the shared secret of
`<timestamp>.<raw body>`. A receiver recomputes it over the raw body, compares in constant time,
and rejects timestamps older than a few minutes (replays).
"""

from __future__ import annotations

import hmac
import json
import smtplib
import ssl
import time
from collections.abc import Callable

import requests

from validation_loop.alerts.messages import (
    Alert,
    email_message,
    slack_payload,
    teams_payload,
    webhook_body,
)
from validation_loop.errors import ValidationLoopError
from validation_loop.spec import RouteSpec

TIMESTAMP_HEADER = "X-Validation-Loop-Timestamp"
SIGNATURE_HEADER = "X-Validation-Loop-Signature"
Resolve = Callable[[str], str | None]


class DeliveryError(ValidationLoopError):
    """A delivery that failed, with a reason safe to log (no endpoint, no secret).

    `retryable` is False for a configuration problem (an unset variable) that trying again at
    once cannot fix.
    """

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for a body sent at `timestamp`."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, "sha256")
    return "sha256=" + digest.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, max_age: float = 300) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    fresh = abs(time.time() - float(timestamp)) <= max_age
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


def _env(resolve: Resolve, name: str | None, route: RouteSpec, what: str) -> str:
    """A route's setting from the environment, or a clear error naming the variable."""
    value = resolve(name) if name else None
    if not value:
        raise DeliveryError(
            f"route {route.name}: environment variable {name} ({what}) is not set",
            retryable=False,
        )
    return value


def _post(route: RouteSpec, url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    """POST a body; any failure becomes a DeliveryError without the URL."""
    try:
        response = requests.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=timeout,
        )
    except requests.Timeout:
        raise DeliveryError(f"route {route.name}: timed out after {timeout:g} s") from None
    except requests.ConnectionError as exc:
        refused = "refused" in str(exc).lower()
        reason = "connection refused" if refused else "could not connect"
        raise DeliveryError(f"route {route.name}: {reason}") from None
    except requests.RequestException as exc:
        raise DeliveryError(f"route {route.name}: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"route {route.name}: HTTP {response.status_code} {response.reason}")


def _email(route: RouteSpec, alert: Alert, resolve: Resolve, timeout: float) -> None:
    """Send over SMTP, with STARTTLS and login when the route asks for them."""
    assert route.smtp_host and route.sender
    message = email_message(alert, route.sender, route.recipients)
    try:
        with smtplib.SMTP(route.smtp_host, route.smtp_port, timeout=timeout) as smtp:
            if route.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=route.ca_file))
            if route.username_env:
                user = _env(resolve, route.username_env, route, "SMTP user")
                password = _env(resolve, route.password_env, route, "SMTP password")
                smtp.login(user, password)
            smtp.send_message(message)
    except TimeoutError:
        raise DeliveryError(f"route {route.name}: SMTP timed out after {timeout:g} s") from None
    except ConnectionRefusedError:
        raise DeliveryError(f"route {route.name}: SMTP connection refused") from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"route {route.name}: SMTP {exc.smtp_code}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"route {route.name}: SMTP {type(exc).__name__}") from None


def _send(route: RouteSpec, alert: Alert, resolve: Resolve, timeout: float) -> None:
    """Deliver `alert` to `route` once by its type; raises DeliveryError."""
    if route.type == "email":
        _email(route, alert, resolve, timeout)
        return
    url = _env(resolve, route.url_env, route, "webhook URL")
    if route.type == "slack":
        _post(route, url, json.dumps(slack_payload(alert)).encode("utf-8"), {}, timeout)
    elif route.type == "teams":
        _post(route, url, json.dumps(teams_payload(alert)).encode("utf-8"), {}, timeout)
    else:
        secret = _env(resolve, route.secret_env, route, "signing secret")
        body = webhook_body(alert)
        timestamp = str(int(time.time()))
        headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body)}
        _post(route, url, body, headers, timeout)


def send(route: RouteSpec, alert: Alert, resolve: Resolve, timeout: float) -> None:
    """Deliver `alert` to `route` once; raises DeliveryError.

    Any other error becomes a DeliveryError naming only its type: its message may hold a
    secret (smtplib's `UnicodeEncodeError` for a non-ASCII password carries the password). It
    is not retried at once: a setting, not the network, is wrong.
    """
    try:
        _send(route, alert, resolve, timeout)
    except DeliveryError:
        raise
    except Exception as exc:
        raise DeliveryError(f"route {route.name}: {type(exc).__name__}", retryable=False) from None
