"""`python -m training data fetch NAME... --dir data/`: the official dataset files, verified.

Each file is downloaded from its official address to `<name>.part` (an interrupted download resumes
from there with an HTTP Range request), its sha256 compared with the sum pinned here, and only a
file with the right sum is renamed to its final name. A file already present with the right sum is
not downloaded again. `--base-url` (or WIYH_DATA_BASE_URL) fetches every file by its name from a
mirror instead; the sums still decide.

Only files whose sha256 is published by a source other than this project are listed; each entry
says where its sum comes from.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Mapping

from tqdm.auto import tqdm

BASE_URL_ENV = "WIYH_DATA_BASE_URL"
CHUNK = 1 << 20
TIMEOUT_S = 60

_SQUAD = "https://rajpurkar.github.io/SQuAD-explorer/dataset/"
_HOTPOT = "http://curtis.ml.cmu.edu/datasets/hotpot/"
# Where the pinned sums come from: tensorflow/datasets' checksum file for SQuAD, and the
# `download_checksums` of Hugging Face's dataset scripts (huggingface/datasets) for the others.
_TFDS_SQUAD = "tensorflow/datasets: tensorflow_datasets/datasets/squad/checksums.tsv"
_HF_HOTPOT = "huggingface/datasets: datasets/hotpot_qa/dataset_infos.json"
_HF_DROP = "huggingface/datasets: datasets/drop/dataset_infos.json"


@dataclass(frozen=True)
class Source:
    """One official file: where it is, what its bytes hash to, and what reads it."""

    name: str
    url: str
    sha256: str
    size: int  # bytes, for the progress bar when a server does not say
    reader: str  # the data.files format that reads it (training/data/loading.py)
    sum_from: str  # who published the sha256
    unpack: bool = False  # a zip: its members are extracted beside it once it is verified

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


REGISTRY: dict[str, Source] = {s.name: s for s in (
    Source("squad-v1.1-train", _SQUAD + "train-v1.1.json", size=30288272, reader="squad", sum_from=_TFDS_SQUAD,
           sha256="3527663986b8295af4f7fcdff1ba1ff3f72d07d61a20f487cb238a6ef92fd955"),
    Source("squad-v1.1-dev", _SQUAD + "dev-v1.1.json", size=4854279, reader="squad", sum_from=_TFDS_SQUAD,
           sha256="95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9"),
    Source("squad-v2.0-train", _SQUAD + "train-v2.0.json", size=42123633, reader="squad", sum_from=_TFDS_SQUAD,
           sha256="68dcfbb971bd3e96d5b46c7177b16c1a4e7d4bdef19fb204502738552dede002"),
    Source("squad-v2.0-dev", _SQUAD + "dev-v2.0.json", size=4370528, reader="squad", sum_from=_TFDS_SQUAD,
           sha256="80a5225e94905956a6446d296ca1093975c4d3b3260f1d6c8f68bc2ab77182d8"),
    Source("hotpot-train", _HOTPOT + "hotpot_train_v1.1.json", size=566426227, reader="hotpot", sum_from=_HF_HOTPOT,
           sha256="26650cf50234ef5fb2e664ed70bbecdfd87815e6bffc257e068efea5cf7cd316"),
    Source("hotpot-dev-distractor", _HOTPOT + "hotpot_dev_distractor_v1.json", size=46320117, reader="hotpot",
           sum_from=_HF_HOTPOT, sha256="4e9ecb5c8d3b719f624d66b60f8d56bf227f03914f5f0753d6fa1b359d7104ea"),
    Source("drop", "https://s3-us-west-2.amazonaws.com/allennlp/datasets/drop/drop_dataset.zip", size=8308692,
           reader="drop", sum_from=_HF_DROP, unpack=True,
           sha256="39d2278a29fd729de301b111a45f434c24834f40df8f4ff116d864589e3249d6"),
)}


class FetchError(Exception):
    """A file could not be fetched or did not verify; the message says what to do."""


@dataclass(frozen=True)
class Fetched:
    source: Source
    path: Path
    downloaded: bool  # False: it was already there with the right sum
    unpacked: tuple[Path, ...] = ()


def resolve(names: Iterable[str], registry: Mapping[str, Source] = REGISTRY) -> list[Source]:
    """The sources named, in order; an unknown name raises FetchError listing the valid ones."""
    names = list(names)
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise FetchError(f"unknown dataset file(s) {', '.join(map(repr, unknown))}; valid names: "
                         f"{', '.join(sorted(registry))} (list them with `python -m training data fetch --list`)")
    return [registry[n] for n in names]


def url_of(source: Source, base_url: str | None = None) -> str:
    """The official address, or the file's name under a mirror's base URL."""
    return f"{base_url.rstrip('/')}/{source.filename}" if base_url else source.url


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def fetch(source: Source, directory: str | Path, base_url: str | None = None, progress: bool = True) -> Fetched:
    """The source's file in `directory`, downloaded (or resumed) and verified; see the module."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / source.filename
    downloaded = False
    if final.exists():
        got = sha256_of(final)
        if got != source.sha256:
            raise FetchError(f"{source.name}: {final} already exists but its sha256 is {got}, not {source.sha256}; "
                             f"move or delete it and run the command again to download it")
    else:
        part = final.with_name(final.name + ".part")
        _download(url_of(source, base_url), part, source, progress)
        got = sha256_of(part)
        if got != source.sha256:
            part.unlink()  # resuming from these bytes would only give the same wrong file
            raise FetchError(f"{source.name}: the file downloaded from {url_of(source, base_url)} has sha256 {got}, "
                             f"expected {source.sha256}; it was deleted and {final} was not written. Run the command "
                             f"again; if the sum differs again, the server (or the mirror given by --base-url / "
                             f"{BASE_URL_ENV}) serves a different file")
        part.replace(final)
        downloaded = True
    unpacked = _unpack(final, directory) if source.unpack else ()
    return Fetched(source, final, downloaded, unpacked)


def _download(url: str, part: Path, source: Source, progress: bool) -> None:
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing past the end: the .part already holds every byte
            return
        raise FetchError(f"{source.name}: {url} answered HTTP {err.code} {err.reason}; check the address "
                         f"(or --base-url / {BASE_URL_ENV})") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise FetchError(f"{source.name}: cannot reach {url} ({reason}); check the network and run the command "
                         f"again") from err
    with response:
        if offset and response.status != 206:
            offset = 0  # the server ignored the Range and sends the whole file: start over
        total = _total_size(response.headers, offset) or source.size
        with part.open("ab" if offset else "wb") as fh, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=source.name,
            disable=not progress, leave=False,
        ) as bar:
            try:
                while block := response.read(CHUNK):
                    fh.write(block)
                    bar.update(len(block))
            except OSError as err:
                raise FetchError(f"{source.name}: the download from {url} broke off after {part.stat().st_size} "
                                 f"bytes ({err}); run the command again to resume from {part}") from err


def _total_size(headers, offset: int) -> int | None:
    """The whole file's size: Content-Range's total for a resumed download, else offset + length."""
    match = re.fullmatch(r"bytes \d+-\d+/(\d+)", headers.get("Content-Range", "") or "")
    if match:
        return int(match.group(1))
    length = headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _unpack(archive: Path, directory: Path) -> tuple[Path, ...]:
    """The zip's files, extracted into `directory` where they are not there yet. A member whose path
    would leave `directory` (absolute, or with "..") is refused."""
    out = []
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            parts = PurePosixPath(member.filename).parts
            if member.filename.startswith("/") or ".." in parts:
                raise FetchError(f"{archive}: member {member.filename!r} would be written outside {directory}; "
                                 f"not extracting this archive")
            if member.is_dir():
                continue
            target = directory.joinpath(*parts)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
            out.append(target)
    return tuple(out)


def listing(registry: Mapping[str, Source] = REGISTRY) -> str:
    """One line per file: its name, size, the reader that reads it and its address."""
    return "\n".join(f"{s.name:<24}{s.size / 1e6:>9.1f} MB  {s.reader:<8}{s.url}" for s in registry.values())


def run(names: list[str], directory: str | Path, base_url: str | None = None, progress: bool = True,
        registry: Mapping[str, Source] = REGISTRY, echo: Callable[[str], None] = print) -> list[Fetched]:
    """Fetch each named file in turn, saying what was done; the first failure raises FetchError."""
    base_url = base_url or os.environ.get(BASE_URL_ENV) or None
    results = []
    for source in resolve(names, registry):
        result = fetch(source, directory, base_url, progress)
        state = "downloaded and verified" if result.downloaded else "already present, sha256 verified"
        echo(f"{source.name}: {result.path} ({state})")
        for path in result.unpacked or (result.path,):
            split = "eval" if "dev" in path.name else "train"  # every official dev file says so in its name
            echo(f"  data.files entry: {{format: {source.reader}, path: {path}, split: {split}}}")
        results.append(result)
    return results
