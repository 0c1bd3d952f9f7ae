"""Download, verify and unpack dataset archives into the cache, atomically.

``pooch`` downloads an archive (streamed, with a progress bar on a terminal, retried on a flaky
connection) into a temporary folder beside the final one and checks it against its published
SHA-256 (its ``known_hash``; the MD5 where no SHA-256 is published) before the file appears;
the other published digest is checked here. The archive is then unpacked in that temporary
folder, and each file the loader reads is checked against its SHA-256 before the folder is
renamed into place: a partial download or extraction never looks complete, and the archive
itself is not kept (the cache holds the unpacked release only).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from mfbench.errors import DataError, MfbenchError
from mfbench.paths import cache_dir

__all__ = ["cache_dir", "sha256_of", "verify_files", "fetch_zip"]

#: downloads retried after a failed connection or a damaged transfer (pooch waits 1 s, then 2 s)
RETRIES = 2


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_of(path: Path) -> str:
    return _digest(path, "sha256")


def verify_files(folder: Path, sha256: dict[str, str]) -> None:
    """Check each named file of ``folder`` against its SHA-256; a clear error on the first mismatch."""
    for name, expected in sha256.items():
        path = folder / name
        if not path.exists():
            raise DataError(f"{path}: missing (expected in a copy of this dataset)")
        got = sha256_of(path)
        if got != expected:
            raise DataError(
                f"{path}: SHA-256 {got} does not match the published data ({expected}); "
                "the copy is damaged or a different release: replace it or delete it to download again"
            )


def _mismatch(url: str, alg: str, got: str, expected: str) -> DataError:
    return DataError(
        f"{url}: {alg.upper()} {got} does not match the published {expected}; the download was deleted, try again"
    )


def _download(url: str, digests: dict[str, str], folder: Path) -> Path:
    """``url`` downloaded by pooch into ``folder``, checked against every digest in ``digests``."""
    try:
        import pooch
        import requests
    except ImportError as exc:  # a dependency of mfbench; missing only in a broken install
        raise MfbenchError(f"downloading datasets needs pooch ({exc}); pip install pooch") from None
    first = "sha256" if "sha256" in digests else "md5"
    name = url.rsplit("/", 1)[-1]
    fetcher = pooch.create(
        path=folder,
        base_url="",
        registry={name: f"{first}:{digests[first]}"},
        urls={name: url},
        retry_if_failed=RETRIES,
    )
    downloader = pooch.HTTPDownloader(progressbar=sys.stderr.isatty(), timeout=60)
    try:
        path = Path(fetcher.fetch(name, downloader=downloader))
    except ValueError as exc:  # pooch's hash mismatch: it has deleted the download
        m = re.search(r"\(([0-9a-f]+)\) does not match", str(exc))
        raise _mismatch(url, first, m.group(1) if m else "of the download", digests[first]) from None
    except (OSError, requests.exceptions.RequestException) as exc:
        raise MfbenchError(
            f"cannot download {url} ({exc}); download it by hand, unzip it and point "
            "--data-dir (or MFBENCH_DATA_DIR) at the folder that holds its folder"
        ) from None
    for alg, expected in digests.items():
        got = _digest(path, alg)
        if got != expected:
            path.unlink()
            raise _mismatch(url, alg, got, expected)
    return path


def fetch_zip(url: str, digests: dict[str, str | None], member_dir: str, target: Path, sha256: dict[str, str]) -> Path:
    """Download ``url``, check it against ``digests`` (``{"md5": ..., "sha256": ...}``, each
    given one must match), and unpack its folder ``member_dir`` to ``target``, verifying the files
    named in ``sha256``; atomically: ``target`` appears only complete."""
    digests = {alg: value for alg, value in digests.items() if value}
    if not digests:
        raise DataError(f"{url}: no checksum to verify it against")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
        archive = _download(url, digests, Path(tmp) / "download")
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)
        except zipfile.BadZipFile as exc:
            raise DataError(f"{url}: not a readable zip archive ({exc})") from None
        archive.unlink()
        unpacked = Path(tmp) / member_dir
        if not unpacked.is_dir():
            raise DataError(f"{url}: the archive has no folder {member_dir}/")
        verify_files(unpacked, sha256)
        if target.exists():
            shutil.rmtree(target)
        os.replace(unpacked, target)
    return target
