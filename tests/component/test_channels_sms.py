"""The SMS adapter against a real local HTTP provider that records what it receives."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from missiva.channels import (
    ChannelAdapter,
    ChannelConfigurationError,
    Delivery,
    PermanentFailure,
    RetryPolicy,
    TransientFailure,
)
from missiva.channels.sms import (
    SmsAdapter,
    SmsSettings,
)

TOKEN = "test-token-not-a-secret"


@dataclass(frozen=True)
class Reply:
    """One scripted answer: status, JSON body, headers, and a delay before answering."""

    status: int = 201
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    client: tuple[str, int]


class Provider:
    """Answers from ``script`` in order, then ``201 {"id": "msg-<n>"}``; records requests."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.url = ""

    def next_reply(self) -> Reply:
        with self.lock:
            if self.script:
                return self.script.pop(0)
            return Reply(201, {"id": f"msg-{len(self.requests)}", "status": "queued"})

    @property
    def keys(self) -> list[str]:
        return [r.headers.get("idempotency-key", "") for r in self.requests]


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with provider.lock:
                provider.requests.append(
                    Request(
                        "POST",
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        json.loads(raw) if raw else {},
                        tuple(self.client_address),
                    )
                )
            reply = provider.next_reply()
            if reply.delay:
                time.sleep(reply.delay)
            data = b"" if reply.body is None else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client timed out and went away
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[Provider]:
    provider = Provider()
    server = QuietServer(("127.0.0.1", 0), _handler(provider))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    provider.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()


class Sleeps(list):
    """An injected ``sleep`` that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def adapter(url: str, sleeps: Sleeps, *, timeout: float = 2.0, **retry: Any) -> SmsAdapter:
    policy = RetryPolicy(
        **{"max_attempts": 4, "base_delay": 0.5, "max_delay": 8.0, "max_total": 60.0, **retry}
    )
    settings = SmsSettings(base_url=url, token=TOKEN, timeout=timeout, retry=policy)
    return SmsAdapter(settings, sleep=sleeps, rng=random.Random(7))


def delivery(n: int = 1, phone: str = "312 345 6789", country: str = "IT") -> Delivery:
    return Delivery(
        communication_id=f"00000000-0000-5000-8000-{n:012d}",
        idempotency_key=f"onboarding/welcome/{n}/2026-11-03",
        recipient=phone,
        payload="Benvenuta in Missiva, Giulia! Il tuo codice è 123.".encode(),
        content_type="text/plain; charset=utf-8",
        metadata={"country": country},
    )


# --- sending --------------------------------------------------------------------------


def test_is_a_channel_adapter(provider: Provider) -> None:
    assert isinstance(adapter(provider.url, Sleeps()), ChannelAdapter)


def test_send_posts_what_the_provider_expects(provider: Provider) -> None:
    d = delivery()
    with adapter(provider.url, Sleeps()) as sms:
        result = sms.send(d)
    assert result.provider_message_id == "msg-1"
    (request,) = provider.requests
    assert request.path == "/v1/messages"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["idempotency-key"] == d.idempotency_key
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "to": "+393123456789",
        "text": "Benvenuta in Missiva, Giulia! Il tuo codice è 123.",
        "reference": d.communication_id,
    }


def test_one_connection_for_the_batch(provider: Provider) -> None:
    with adapter(provider.url, Sleeps()) as sms:
        ids = [sms.send(delivery(n)).provider_message_id for n in range(1, 6)]
    assert ids == [f"msg-{n}" for n in range(1, 6)]
    assert len(provider.requests) == 5
    assert len({r.client for r in provider.requests}) == 1  # keep-alive, one TCP connection
    assert provider.keys == [delivery(n).idempotency_key for n in range(1, 6)]


def test_5xx_retried_with_the_same_key_and_backoff(provider: Provider) -> None:
    provider.script = [Reply(500, {"error": "boom"}), Reply(503, {"error": "busy"})]
    sleeps = Sleeps()
    with adapter(provider.url, sleeps) as sms:
        result = sms.send(delivery())
    assert result.provider_message_id == "msg-3"
    assert len(provider.requests) == 3
    assert set(provider.keys) == {delivery().idempotency_key}
    assert len({json.dumps(r.body) for r in provider.requests}) == 1
    # exponential with jitter: attempt n waits within [base*2^(n-1)/2, base*2^(n-1)]
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5
    assert 0.5 <= sleeps[1] <= 1.0


def test_429_honours_retry_after(provider: Provider) -> None:
    provider.script = [Reply(429, {"error": "slow down"}, {"Retry-After": "3"})]
    sleeps = Sleeps()
    with adapter(provider.url, sleeps) as sms:
        assert sms.send(delivery()).provider_message_id == "msg-2"
    assert sleeps == [3.0]
    assert provider.keys == [delivery().idempotency_key] * 2


def test_retry_after_beyond_the_time_budget_gives_up_at_once(provider: Provider) -> None:
    provider.script = [Reply(429, {"error": "quota"}, {"Retry-After": "3600"})]
    sleeps = Sleeps()
    with adapter(provider.url, sleeps) as sms, pytest.raises(TransientFailure) as info:
        sms.send(delivery())
    assert len(provider.requests) == 1
    assert sleeps == []
    assert info.value.status == 429
    assert "would exceed 60s" in str(info.value)


def test_persistent_5xx_ends_in_transient_failure_after_bounded_attempts(
    provider: Provider,
) -> None:
    provider.script = [Reply(503, {"error": "maintenance"})] * 10
    sleeps = Sleeps()
    with adapter(provider.url, sleeps) as sms, pytest.raises(TransientFailure) as info:
        sms.send(delivery())
    assert len(provider.requests) == 4
    assert set(provider.keys) == {delivery().idempotency_key}
    assert len(sleeps) == 3
    assert info.value.attempts == 4
    assert info.value.status == 503
    assert "maintenance" in str(info.value)


def test_total_time_is_bounded(provider: Provider) -> None:
    """With a clock that advances as we wait, retries stop once the budget is spent."""
    provider.script = [Reply(500, {})] * 10
    now = [0.0]
    sleeps = Sleeps()

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=100.0, max_total=10.0)
    settings = SmsSettings(base_url=provider.url, token=TOKEN, retry=policy)
    sms = SmsAdapter(settings, sleep=sleep, clock=lambda: now[0], rng=random.Random(1))
    with sms, pytest.raises(TransientFailure, match="would exceed 10s"):
        sms.send(delivery())
    assert sum(sleeps) <= 10.0
    assert 2 <= len(provider.requests) < 10


def test_timeout_retried_with_the_same_key(provider: Provider) -> None:
    provider.script = [Reply(201, {"id": "too-late"}, delay=2.0)]
    sleeps = Sleeps()
    with adapter(provider.url, sleeps, timeout=0.5) as sms:
        result = sms.send(delivery())
    assert result.provider_message_id == "msg-2"
    assert len(provider.requests) == 2  # the provider did see the first attempt
    assert provider.keys == [delivery().idempotency_key] * 2
    assert provider.requests[0].body == provider.requests[1].body
    assert len(sleeps) == 1


def test_persistent_timeouts_end_in_transient_failure(provider: Provider) -> None:
    provider.script = [Reply(201, {"id": "late"}, delay=2.0)] * 3
    sleeps = Sleeps()
    with (
        adapter(provider.url, sleeps, timeout=0.4, max_attempts=3) as sms,
        pytest.raises(TransientFailure, match="timeout") as info,
    ):
        sms.send(delivery())
    assert len(provider.requests) == 3
    assert set(provider.keys) == {delivery().idempotency_key}
    assert info.value.attempts == 3


def test_400_is_permanent_without_retry(provider: Provider) -> None:
    provider.script = [Reply(400, {"error": "destination not reachable"})]
    sleeps = Sleeps()
    with adapter(provider.url, sleeps) as sms, pytest.raises(PermanentFailure) as info:
        sms.send(delivery())
    assert len(provider.requests) == 1
    assert sleeps == []
    assert info.value.status == 400
    assert info.value.provider_error == "destination not reachable"
    assert "destination not reachable" in str(info.value)


def test_a_provider_error_echoing_the_number_is_redacted(provider: Provider) -> None:
    provider.script = [Reply(400, {"error": "destination +393123456789 (312 345 6789) barred"})]
    with adapter(provider.url, Sleeps()) as sms, pytest.raises(PermanentFailure) as info:
        sms.send(delivery())
    assert info.value.provider_error == "destination [redacted] ([redacted]) barred"
    assert "345" not in str(info.value), "the reason reaches logs and XCom: no number"


def test_422_with_structured_error_is_permanent(provider: Provider) -> None:
    provider.script = [Reply(422, {"errors": [{"field": "to", "code": "blocked"}]})]
    with adapter(provider.url, Sleeps()) as sms, pytest.raises(PermanentFailure) as info:
        sms.send(delivery())
    assert len(provider.requests) == 1
    assert "blocked" in info.value.provider_error


@pytest.mark.parametrize("status", [301, 401, 403, 404])
def test_account_or_endpoint_problems_are_configuration_errors(
    provider: Provider, status: int
) -> None:
    """Not the recipient's fault: no fallback letter for every customer on a bad token."""
    provider.script = [Reply(status, {"error": "unauthorised"})]
    with adapter(provider.url, Sleeps()) as sms, pytest.raises(ChannelConfigurationError):
        sms.send(delivery())
    assert len(provider.requests) == 1


def test_accepted_without_id_is_transient(provider: Provider) -> None:
    provider.script = [Reply(202, {"status": "queued"})]
    with adapter(provider.url, Sleeps()) as sms, pytest.raises(TransientFailure, match="'id'"):
        sms.send(delivery())


def test_invalid_number_is_permanent_and_never_sent(provider: Provider) -> None:
    with adapter(provider.url, Sleeps()) as sms, pytest.raises(PermanentFailure, match="IT"):
        sms.send(delivery(phone="12"))
    assert provider.requests == []


def test_provider_down_is_transient(unused_port: int) -> None:
    sleeps = Sleeps()
    url = f"http://127.0.0.1:{unused_port}/v1"
    with adapter(url, sleeps, max_attempts=3) as sms, pytest.raises(TransientFailure) as info:
        sms.send(delivery())
    assert "connection failed" in str(info.value)
    assert len(sleeps) == 2


def test_send_outside_context_manager_refused(provider: Provider) -> None:
    with pytest.raises(RuntimeError, match="context manager"):
        adapter(provider.url, Sleeps()).send(delivery())


def test_non_text_payload_refused(provider: Provider) -> None:
    d = Delivery("c", "k", "312 345 6789", b"%PDF", "application/pdf", {"country": "IT"})
    with adapter(provider.url, Sleeps()) as sms, pytest.raises(ValueError, match="text/plain"):
        sms.send(d)
    assert provider.requests == []
