"""open_store: which backend a URL, path or settings object names, and its options.

Building a boto3 client makes no request, so no server is needed here; the S3 store
itself is exercised against a real server in tests/integration.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from missiva.records.store import ArtifactStore, LocalArtifactStore, open_store
from missiva.records.store_s3 import S3ArtifactStore, client_config, make_client
from missiva.settings import Settings

DIGEST = "ab" * 32


@pytest.fixture(autouse=True)
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the machine's AWS config files and env out of what is parsed here."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


# --- local ---------------------------------------------------------------------------


def test_file_url_opens_the_local_store(tmp_path: Path) -> None:
    store = open_store(tmp_path.as_uri())
    assert isinstance(store, LocalArtifactStore)
    assert isinstance(store, ArtifactStore)
    assert store.root == tmp_path.resolve()
    artifact = store.put(b"x")
    assert (tmp_path / "sha256" / artifact.sha256[:2] / artifact.sha256).read_bytes() == b"x"


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("file:///srv/missiva/archive", "/srv/missiva/archive"),
        ("file://localhost/srv/archive/", "/srv/archive"),
        ("file:///srv/my%20archive", "/srv/my archive"),
        ("/srv/missiva/archive", "/srv/missiva/archive"),
        ("  file:///srv/a  ", "/srv/a"),
    ],
)
def test_local_urls_and_paths(url: str, root: str) -> None:
    store = open_store(url)
    assert isinstance(store, LocalArtifactStore)
    assert store.root == Path(root)


def test_a_path_object_opens_the_local_store(tmp_path: Path) -> None:
    store = open_store(tmp_path / "archive")
    assert isinstance(store, LocalArtifactStore)
    assert store.root == (tmp_path / "archive").resolve()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file://fileserver/share/archive", "remote host"),
        ("file:relative/dir", "absolute"),
        ("file:///srv/a?x=1", "no query"),
        ("relative/archive", "absolute"),
        ("", "unsupported"),
        ("gs://bucket/prefix", "unsupported"),
        ("https://bucket.s3.amazonaws.com/prefix", "unsupported"),
    ],
)
def test_bad_local_or_unknown_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(url)


def test_settings_open_their_archive_url(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MISSIVA_HOME", str(tmp_path))
    monkeypatch.delenv("MISSIVA_ARCHIVE_URL", raising=False)
    store = open_store(Settings.from_env())
    assert isinstance(store, LocalArtifactStore)
    assert store.root == (tmp_path / "archive").resolve()


def test_settings_with_archive_url_open_it(tmp_path: Path) -> None:
    local = SimpleNamespace(archive_url=None, archive_dir=tmp_path)
    assert isinstance(open_store(local), LocalArtifactStore)
    remote = SimpleNamespace(archive_url="s3://missiva-archive/letters", archive_dir=tmp_path)
    store = open_store(remote)
    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.prefix) == ("missiva-archive", "letters")


def test_an_object_with_neither_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        open_store(42)


# --- S3 ------------------------------------------------------------------------------


def test_s3_url_with_every_option() -> None:
    store = open_store(
        "s3://missiva-archive/prod/letters/?endpoint_url=http%3A%2F%2F127.0.0.1%3A8333"
        "&region=eu-south-1&retention_mode=compliance&retention_days=3650&legal_hold=true"
        "&connect_timeout=2.5&read_timeout=15&max_attempts=5"
    )
    assert isinstance(store, S3ArtifactStore)
    assert isinstance(store, ArtifactStore)
    assert (store.bucket, store.prefix) == ("missiva-archive", "prod/letters")
    assert (store.retention_mode, store.retention_days, store.legal_hold) == (
        "COMPLIANCE",
        3650,
        True,
    )
    meta = store.client.meta
    assert meta.endpoint_url == "http://127.0.0.1:8333"
    assert meta.region_name == "eu-south-1"
    assert meta.config.connect_timeout == 2.5
    assert meta.config.read_timeout == 15
    assert meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert meta.config.s3 == {"addressing_style": "path"}  # the default with an endpoint
    assert store.key_for(DIGEST) == f"prod/letters/sha256/ab/{DIGEST}"


def test_s3_url_defaults() -> None:
    store = open_store("s3://missiva-archive")
    assert isinstance(store, S3ArtifactStore)
    assert store.prefix == ""
    assert (store.retention_mode, store.retention_days, store.legal_hold) == (None, None, False)
    config = store.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (3.0, 20.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert not (config.s3 or {}).get("addressing_style")  # AWS: boto3 decides
    assert store.key_for(DIGEST) == f"sha256/ab/{DIGEST}"


def test_s3_addressing_style_can_be_chosen() -> None:
    store = open_store(
        "s3://b-1/p?endpoint_url=https%3A%2F%2Fs3.example.org&addressing_style=virtual"
    )
    assert store.client.meta.config.s3 == {"addressing_style": "virtual"}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3:///prefix", "s3://bucket"),
        ("s3://key:secret@bucket/prefix", "no credentials"),
        ("s3://bucket?retention_day=10&retention_mode=COMPLIANCE", "unknown s3 store option"),
        ("s3://bucket?region=a&region=b", "given twice"),
        ("s3://bucket?retention_mode=FOREVER&retention_days=1", "retention_mode"),
        ("s3://bucket?retention_mode=COMPLIANCE", "go together"),
        ("s3://bucket?retention_days=30", "go together"),
        ("s3://bucket?retention_mode=COMPLIANCE&retention_days=0", "at least 1"),
        ("s3://bucket?retention_mode=COMPLIANCE&retention_days=ten", "not a number"),
        ("s3://bucket?legal_hold=maybe", "not a boolean"),
        ("s3://bucket?max_attempts=0", "at least 1"),
        ("s3://bucket?read_timeout=-1", "positive"),
        ("s3://bucket?addressing_style=dns", "addressing_style"),
        ("s3://bucket#frag", "fragment"),
    ],
)
def test_bad_s3_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(url)


def test_make_client_keeps_the_timeouts_when_it_forces_path_style() -> None:
    config = client_config(connect_timeout=1.5, read_timeout=0.5, max_attempts=2)
    client = make_client(endpoint_url="http://127.0.0.1:9", region="us-east-1", config=config)
    meta = client.meta.config
    assert (meta.connect_timeout, meta.read_timeout) == (1.5, 0.5)
    assert meta.retries == {"mode": "standard", "total_max_attempts": 2}
    assert meta.s3 == {"addressing_style": "path"}


def test_s3_store_arguments_are_checked() -> None:
    client = make_client(region="us-east-1")
    with pytest.raises(ValueError, match="bucket"):
        S3ArtifactStore(client, "")
    store = S3ArtifactStore(client, "b-1", "/a/b/", retention_mode="governance", retention_days=7)
    assert (store.prefix, store.retention_mode) == ("a/b", "GOVERNANCE")
    assert "GOVERNANCE" in repr(store) and "s3://b-1/a/b" in repr(store)
    with pytest.raises(ValueError, match="SHA-256"):
        store.uri_for("not-a-hash")
