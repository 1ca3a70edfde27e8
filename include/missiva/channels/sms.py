"""SMS through an HTTP provider's JSON API, over one reused ``httpx.Client`` per batch.

``POST {base_url}/messages`` with ``{"to": <E.164>, "text": ..., "reference":
<communication id>}``, a bearer token and ``Idempotency-Key: <idempotency key>``.
The same key goes with every attempt, so a retry after a timeout (the provider may
have accepted the first one) never makes a second SMS.

- 2xx with the message id -> ``SendResult``;
- 429, 408, 5xx, timeouts, dropped connections -> retried with exponential backoff and
  jitter, never sooner than Retry-After, within bounded attempts and total time; then
  ``TransientFailure``;
- 401, 403, 404, 405 and 3xx -> ``ChannelConfigurationError`` (the account or
  the endpoint is wrong, for everyone: no fallback per customer);
- any other 4xx -> ``PermanentFailure`` with the provider's error, without a retry.

Segmenting and the text itself come from composition; this adapter only sends it.
"""

import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Self

import httpx
import phonenumbers

from missiva.channels import registry
from missiva.channels.base import (
    ChannelConfigurationError,
    Delivery,
    PermanentFailure,
    RetryPolicy,
    SendResult,
    TransientFailure,
)
from missiva.text_safety import redact_contacts

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429})
CONFIGURATION_STATUS = frozenset({401, 403, 404, 405})
_MOBILE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
# Ranges reserved for fiction and tests, never allocated to a subscriber (so
# libphonenumber calls them invalid). Accepted only with ``allow_fictional=True``.
FICTIONAL_NUMBERS = re.compile(r"\+447700900\d{3}")  # Ofcom: 07700 900000-900999 (drama)
_CHARSET = re.compile(r"charset=\"?([\w.:-]+)\"?", re.IGNORECASE)


class InvalidPhoneNumber(ValueError):
    """A phone number that cannot receive an SMS, with the reason."""


def normalise_phone(
    raw: str | None,
    country: str | None,
    *,
    mobile_only: bool = True,
    allow_fictional: bool = False,
) -> str:
    """The E.164 form of ``raw`` (national numbers read in ``country``, an ISO code).

    Raises ``InvalidPhoneNumber`` for an empty, unparseable, unallocated or (with
    ``mobile_only``) non-mobile number.
    """
    if raw is None or not str(raw).strip():
        raise InvalidPhoneNumber("no phone number")
    region = country.strip().upper() if country else None
    try:
        number = phonenumbers.parse(str(raw), region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"not a phone number ({redact_contacts(str(exc), raw)})") from exc
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if allow_fictional and FICTIONAL_NUMBERS.fullmatch(e164):
        return e164
    if not phonenumbers.is_valid_number(number):
        where = f" for {region}" if region else ""
        raise InvalidPhoneNumber(f"invalid phone number{where} (not allocated)")
    if mobile_only and phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise InvalidPhoneNumber("not a mobile number")
    return e164


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _provider_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "detail", "errors"):
            if key in body:
                value = body[key]
                return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return response.text[:500] or response.reason_phrase


def _text(delivery: Delivery) -> str:
    if not delivery.content_type.lower().startswith("text/plain"):
        raise ValueError(f"SMS needs text/plain, got {delivery.content_type!r}")
    charset = _CHARSET.search(delivery.content_type)
    text = delivery.payload.decode(charset.group(1) if charset else "utf-8")
    if not text.strip():
        raise ValueError(f"communication {delivery.communication_id}: empty SMS text")
    return text


@dataclass(frozen=True)
class _Retryable:
    """An attempt that may succeed if repeated: what went wrong, and when to retry."""

    problem: str
    status: int | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class SmsSettings:
    """The provider connection (from an Airflow Connection in production)."""

    base_url: str
    token: str = field(repr=False)
    timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    id_field: str = "id"
    allow_fictional: bool = False


class SmsAdapter:
    """``ChannelAdapter`` for SMS: ``recipient`` is the raw phone number,
    ``metadata["country"]`` the customer's country, ``payload`` the text (UTF-8)."""

    def __init__(
        self,
        settings: SmsSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._sleep, self._clock = sleep, clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._client: httpx.Client | None = None

    def __enter__(self) -> Self:
        s = self.settings
        self._client = httpx.Client(
            base_url=s.base_url,
            headers={"Authorization": f"Bearer {s.token}", "Accept": "application/json"},
            timeout=httpx.Timeout(s.timeout),
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def send(self, delivery: Delivery) -> SendResult:
        client = self._client
        if client is None:
            raise RuntimeError("SmsAdapter is not open; use it as a context manager")
        try:
            to = normalise_phone(
                delivery.recipient,
                delivery.metadata.get("country"),
                allow_fictional=self.settings.allow_fictional,
            )
        except InvalidPhoneNumber as exc:
            raise PermanentFailure(f"SMS recipient rejected: {exc}") from exc
        body = {"to": to, "text": _text(delivery), "reference": delivery.communication_id}
        headers = {"Idempotency-Key": delivery.idempotency_key}
        policy = self.settings.retry
        started = self._clock()
        for attempt in range(1, policy.max_attempts + 1):
            outcome = self._attempt(client, body, headers, delivery, attempt)
            if isinstance(outcome, SendResult):
                return outcome
            if attempt == policy.max_attempts:
                break
            self._back_off(delivery, attempt, outcome, started)
        raise TransientFailure(
            f"SMS not sent after {policy.max_attempts} attempts; last: {outcome.problem}",
            status=outcome.status,
            attempts=policy.max_attempts,
        )

    def _attempt(
        self,
        client: httpx.Client,
        body: dict[str, str],
        headers: dict[str, str],
        delivery: Delivery,
        attempt: int,
    ) -> "SendResult | _Retryable":
        """One POST: the result, a retryable problem, or the failure raised."""
        try:
            response = client.post("/messages", json=body, headers=headers)
        except httpx.TimeoutException as exc:
            return _Retryable(f"timeout ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return _Retryable(f"connection failed ({type(exc).__name__}: {exc})")
        status = response.status_code
        if response.is_success:
            return SendResult(self._message_id(response, delivery, attempt))
        error = redact_contacts(_provider_error(response), body["to"], delivery.recipient)
        if status < 400 or status in CONFIGURATION_STATUS:  # 1xx/3xx: wrong endpoint
            raise ChannelConfigurationError(
                f"SMS provider refused the request: HTTP {status}: {error}",
                status=status,
                provider_error=error,
                attempts=attempt,
            )
        if status < 500 and status not in RETRYABLE_STATUS:
            raise PermanentFailure(
                f"SMS provider rejected the message: HTTP {status}: {error}",
                status=status,
                provider_error=error,
                attempts=attempt,
            )
        retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
        return _Retryable(f"HTTP {status}: {error}", status, retry_after)

    def _back_off(
        self, delivery: Delivery, attempt: int, failed: "_Retryable", started: float
    ) -> None:
        """Wait before the next attempt, or give up when that would exceed the budget."""
        policy = self.settings.retry
        wait = policy.delay(attempt, failed.retry_after, self._rng)
        elapsed = self._clock() - started
        if elapsed + wait > policy.max_total:
            raise TransientFailure(
                f"SMS not sent after {attempt} attempt(s) in {elapsed:.1f}s: waiting "
                f"{wait:.1f}s more would exceed {policy.max_total:g}s; last: {failed.problem}",
                status=failed.status,
                attempts=attempt,
            )
        log.warning(
            "SMS %s attempt %d/%d failed (%s); retrying in %.2fs",
            delivery.communication_id,
            attempt,
            policy.max_attempts,
            failed.problem,
            wait,
        )
        self._sleep(wait)

    def _message_id(self, response: httpx.Response, delivery: Delivery, attempt: int) -> str:
        try:
            message_id = response.json().get(self.settings.id_field)
        except (ValueError, AttributeError):
            message_id = None
        if not message_id:
            # Accepted, but we cannot prove it: a retry with the same key is safe, a
            # fallback channel is not (the customer may already have the SMS).
            raise TransientFailure(
                f"SMS provider answered HTTP {response.status_code} without a "
                f"{self.settings.id_field!r} for {delivery.communication_id}",
                status=response.status_code,
                attempts=attempt,
            )
        return str(message_id)


def sms_contact(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The customer's mobile number in E.164, or why there is none."""
    try:
        return normalise_phone(record.get("phone"), record.get("country")), None
    except InvalidPhoneNumber as exc:
        return None, f"no valid mobile number ({exc})"


def compose_sms(request: registry.Rendering) -> registry.Rendered:
    sms = request.composer.render_sms(request.communication, request.context)
    return registry.Rendered(sms.text.encode(), sms.provenance, sms.provenance.blocks)


SMS = registry.register(
    registry.Channel(
        name="sms",
        contact=sms_contact,
        extension=".txt",
        content_type="text/plain; charset=utf-8",
        rendition="sms",
        compose=compose_sms,
        open_adapter=lambda opening: SmsAdapter(opening.provider()),
        needs_provider=True,
        resend_safe=True,  # the provider de-duplicates on the Idempotency-Key
        quiet_hours=True,
        carries_notice=True,
    )
)
