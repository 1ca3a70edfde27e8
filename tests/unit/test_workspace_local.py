"""The local workspace (the demo's staging folder): clearing a run's area deletes its
files and folders, and nothing beside it."""

from missiva.records.workspace import LocalWorkspace


def test_clear_deletes_the_area_and_keeps_its_neighbours(tmp_path):
    staging = LocalWorkspace(tmp_path / "staging")
    run = staging.sub("onboarding/run-1")
    run.put("extract.jsonl", b'{"name": "Zoe"}\n')
    run.put("chunk-00000.jsonl", b'{"name": "Zoe"}\n')
    with run.lock("chunks"):
        pass  # leaves a lock file, cleared too
    other = staging.sub("onboarding/run-2")
    other.put("extract.jsonl", b"{}\n")

    assert run.clear() == 3
    assert not (tmp_path / "staging" / "onboarding" / "run-1").exists()
    assert other.list_keys() == ["extract.jsonl"]
    assert run.clear() == 0
    assert run.location("") == str(tmp_path / "staging" / "onboarding" / "run-1")
