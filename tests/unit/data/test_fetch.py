"""Fetching official files from a local HTTP server on 127.0.0.1: download, skip, resume, refusal."""
from __future__ import annotations

import hashlib
import io
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from training.data import fetch as F

BODY = b'{"version": "1.1", "data": []}\n' * 300  # ~9 kB: several reads, small enough to write here


class _Handler(BaseHTTPRequestHandler):
    """Serves server.files by name and honours `Range: bytes=N-` (unless server.honour_range is off)."""

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        server = self.server
        rng = self.headers.get("Range")
        server.requests.append((self.path, rng))
        body = server.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        if rng and server.honour_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            chunk = body[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            chunk = body
            self.send_response(200)
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        self.wfile.write(chunk)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # a proxy set for the machine must not see these requests
    monkeypatch.delenv(F.BASE_URL_ENV, raising=False)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.honour_range = {}, [], True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _source(server, name="tiny.json", body=BODY, sha256=None, **kw) -> F.Source:
    server.files[name] = body
    return F.Source(name="tiny", url=f"{server.url}/{name}", sha256=sha256 or hashlib.sha256(body).hexdigest(),
                    size=len(body), reader="squad", sum_from="this test", **kw)


def test_download_verifies_and_leaves_no_part_file(server, tmp_path):
    result = F.fetch(_source(server), tmp_path / "data", progress=False)
    assert result.downloaded and result.path == tmp_path / "data" / "tiny.json"
    assert result.path.read_bytes() == BODY
    assert not (tmp_path / "data" / "tiny.json.part").exists()
    assert server.requests == [("/tiny.json", None)]


def test_a_present_file_with_the_right_sum_is_not_downloaded_again(server, tmp_path):
    source = _source(server)
    F.fetch(source, tmp_path, progress=False)
    again = F.fetch(source, tmp_path, progress=False)
    assert not again.downloaded and again.path.read_bytes() == BODY
    assert len(server.requests) == 1


def test_a_partial_download_resumes_with_a_range_request(server, tmp_path):
    (tmp_path / "tiny.json.part").write_bytes(BODY[:4000])
    result = F.fetch(_source(server), tmp_path, progress=False)
    assert server.requests == [("/tiny.json", "bytes=4000-")]
    assert result.path.read_bytes() == BODY


def test_a_complete_part_file_is_finished_without_a_body(server, tmp_path):
    (tmp_path / "tiny.json.part").write_bytes(BODY)  # the server answers 416: nothing past the end
    assert F.fetch(_source(server), tmp_path, progress=False).path.read_bytes() == BODY


def test_a_server_that_ignores_range_restarts_the_file(server, tmp_path):
    server.honour_range = False
    (tmp_path / "tiny.json.part").write_bytes(b"stale bytes")
    assert F.fetch(_source(server), tmp_path, progress=False).path.read_bytes() == BODY


def test_a_sha256_mismatch_is_refused_and_no_file_is_left(server, tmp_path):
    wrong = "0" * 64
    source = _source(server, sha256=wrong)
    with pytest.raises(F.FetchError) as err:
        F.fetch(source, tmp_path, progress=False)
    message = str(err.value)
    assert "tiny" in message and source.url in message and str(tmp_path / "tiny.json") in message
    assert wrong in message and hashlib.sha256(BODY).hexdigest() in message and "run the command again" in message.lower()
    assert list(tmp_path.iterdir()) == []  # neither the final name nor a .part to resume from


def test_a_present_file_with_a_wrong_sum_is_refused_and_kept(server, tmp_path):
    (tmp_path / "tiny.json").write_bytes(b"something else")
    with pytest.raises(F.FetchError, match=r"already exists but its sha256 is .*move or delete it"):
        F.fetch(_source(server), tmp_path, progress=False)
    assert (tmp_path / "tiny.json").read_bytes() == b"something else" and server.requests == []


def test_an_unknown_name_lists_the_valid_ones(server):
    registry = {"tiny": _source(server), "other": _source(server, name="other.json")}
    with pytest.raises(F.FetchError, match=r"unknown dataset file\(s\) 'nope'; valid names: other, tiny"):
        F.resolve(["tiny", "nope"], registry)
    with pytest.raises(F.FetchError, match="valid names: drop, hotpot-dev-distractor"):
        F.resolve(["nope"])


def test_a_missing_file_on_the_server_names_the_address(server, tmp_path):
    source = _source(server)
    del server.files["tiny.json"]
    with pytest.raises(F.FetchError, match=rf"tiny: {re.escape(source.url)} answered HTTP 404"):
        F.fetch(source, tmp_path, progress=False)


def test_the_base_url_replaces_the_official_address(server, tmp_path, monkeypatch):
    source = _source(server)
    official = F.Source(**{**source.__dict__, "url": "http://127.0.0.1:9/never/tiny.json"})  # port 9: nothing there
    lines: list[str] = []
    monkeypatch.setenv(F.BASE_URL_ENV, server.url)
    (result,) = F.run(["tiny"], tmp_path, progress=False, registry={"tiny": official}, echo=lines.append)
    assert result.path.read_bytes() == BODY and server.requests == [("/tiny.json", None)]
    assert lines[0] == f"tiny: {tmp_path / 'tiny.json'} (downloaded and verified)"
    assert "format: squad" in lines[1]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_is_unpacked_once_verified(server, tmp_path):
    body = _zip({"drop_dataset/drop_dataset_dev.json": b"{}", "drop_dataset/drop_dataset_train.json": b"{}"})
    result = F.fetch(_source(server, name="drop.zip", body=body, unpack=True), tmp_path, progress=False)
    assert [p.relative_to(tmp_path).as_posix() for p in result.unpacked] == [
        "drop_dataset/drop_dataset_dev.json", "drop_dataset/drop_dataset_train.json"]
    assert (tmp_path / "drop_dataset" / "drop_dataset_dev.json").read_bytes() == b"{}"


def test_a_zip_member_outside_the_directory_is_refused(server, tmp_path):
    body = _zip({"../escaped.json": b"{}"})
    with pytest.raises(F.FetchError, match="would be written outside"):
        F.fetch(_source(server, name="evil.zip", body=body, unpack=True), tmp_path / "data", progress=False)
    assert not (tmp_path / "escaped.json").exists()


def test_the_registry_pins_a_sum_and_its_source_for_every_file():
    assert F.REGISTRY["squad-v1.1-dev"].sha256 == "95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9"
    for source in F.REGISTRY.values():
        assert re.fullmatch(r"[0-9a-f]{64}", source.sha256) and source.sum_from and source.url.startswith("http")


def test_command_line(capsys):
    from training.__main__ import main

    assert main(["data", "fetch", "--list"]) == 0
    assert "squad-v1.1-dev" in capsys.readouterr().out
    assert main(["data", "fetch", "nope"]) == 2
    assert "valid names:" in capsys.readouterr().err
