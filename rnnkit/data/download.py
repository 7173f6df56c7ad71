"""Where dataset files live, and fetching missing ones over HTTPS with a checksum.

Every dataset loader takes a ``data_dir`` argument and looks for its files in this order
(:func:`resolve_data_dir`):

1. ``data_dir``, when given: the dataset's own folder (e.g. ``shared/data/ptb``), or a folder that
   holds one subfolder per dataset (e.g. ``shared/data``; the subfolder is then used).
2. the ``RNNKIT_DATA`` environment variable: a folder with one subfolder per dataset, named
   ``ag_news_csv``, ``imdb``, ``ptb``, ``wikitext-2``, ``tinyshakespeare``, ``jaychou``,
   ``conll2003``, ``multi30k``, ``ett``; the dataset's files may also sit directly in it.
3. the cache: ``$XDG_CACHE_HOME/rnnkit/<name>``, by default ``~/.cache/rnnkit/<name>``.

A file that is missing there is downloaded from its canonical HTTPS address (:func:`download`):
streamed to a temporary file beside the target with a progress bar, checked against its known
sha256 (md5 for the two files whose sha256 is not published, see their loaders), and only then
renamed into place. A file whose checksum does not match is deleted and the error says so.
Files already on disk are used as they are (the integration tests check the shared copies).

Without network (or with the server down) the error is one line: ``cannot download URL: the
reason; put a copy of FILE in DIR, or pass data_dir=DIR`` (``--data-dir DIR`` on the command
line). A full disk while downloading is a :class:`~rnnkit.errors.WriteError` naming the file.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from rnnkit.data.files import PathLike
from rnnkit.errors import DownloadError, OptionHint, writing

__all__ = ["DownloadError"]  # the error class is rnnkit.errors.DownloadError, re-exported here

CHUNK = 1 << 20


@dataclass(frozen=True)
class Remote:
    """Where to download a file and how to check it (at least one checksum is required)."""

    url: str
    """HTTPS address of the canonical file."""
    sha256: str | None = None
    """Expected sha256 of the file, lower-case hex."""
    md5: str | None = None
    """Expected md5, only for files whose sha256 is not known."""

    def __post_init__(self) -> None:
        if self.sha256 is None and self.md5 is None:
            raise ValueError(f"a download needs a checksum (sha256 or md5): {self.url}")


def cache_root() -> Path:
    """The download cache: ``$XDG_CACHE_HOME/rnnkit``, else ``~/.cache/rnnkit``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rnnkit"


def resolve_data_dir(
    name: str, data_dir: PathLike | None = None, files: tuple[str, ...] = ()
) -> Path:
    """The folder a dataset's files are read from (and downloaded into when missing).

    Args:
        name: the dataset's folder name, e.g. ``"ptb"`` or ``"ag_news_csv"``.
        data_dir: the folder the caller named, if any (see the module docstring).
        files: file names the dataset expects; a ``RNNKIT_DATA`` folder holding any of them
            directly is used as it is.

    Returns:
        The folder (it may not exist yet).
    """
    if data_dir is not None:
        base = Path(data_dir).expanduser()
        return base / name if (base / name).is_dir() else base
    env = os.environ.get("RNNKIT_DATA")
    if env:
        base = Path(env).expanduser()
        if (base / name).is_dir():
            return base / name
        if any((base / f).exists() for f in files):
            return base
        return base / name
    return cache_root() / name


def file_digest(path: PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file (``"sha256"`` or ``"md5"``), read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def download(
    url: str,
    dest: PathLike,
    sha256: str | None = None,
    md5: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying its checksum.

    Args:
        url: an ``https://`` address (``file://`` is accepted too, for local mirrors and tests).
        dest: the file to create; its folder is created if needed.
        sha256: expected sha256 (hex); at least one of ``sha256`` and ``md5`` is required.
        md5: expected md5 (hex), for files whose sha256 is not known.
        progress: show a tqdm progress bar.
        timeout: seconds to wait for the server.

    Returns:
        ``dest`` as a Path.

    Raises:
        DownloadError: the download failed, or the file's checksum did not match (the partial or
            wrong file is deleted).
    """
    if sha256 is None and md5 is None:
        raise ValueError(f"refusing to download {url} without a sha256 or md5 to check it against")
    if not url.startswith(("https://", "file://")):
        raise ValueError(f"refusing to download over an insecure or unknown scheme: {url}")
    dest = Path(dest)
    hashes = {k: hashlib.new(k) for k, v in (("sha256", sha256), ("md5", md5)) if v is not None}
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(8)}.part")
    with writing(dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        # 0o666 minus the umask, like any file the user creates (mkstemp would give 0o600)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out, _open_url(url, dest, timeout) as response:
            total = response.headers.get("Content-Length")
            with tqdm(
                total=int(total) if total else None,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=dest.name,
                disable=not progress,
            ) as bar:
                while chunk := _read(response, url, dest, timeout):
                    with writing(dest):
                        out.write(chunk)
                    for h in hashes.values():
                        h.update(chunk)
                    bar.update(len(chunk))
            with writing(dest):
                out.flush()
        expected = {"sha256": sha256, "md5": md5}
        for algorithm, h in hashes.items():
            if h.hexdigest() != expected[algorithm].lower():
                raise DownloadError(
                    f"{url}: {algorithm} checksum mismatch (expected {expected[algorithm]}, got "
                    f"{h.hexdigest()}); the download was deleted. The file on the server has "
                    "changed or the transfer was corrupted."
                )
        with writing(dest):
            os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _failure(url: str, dest: Path, reason: str) -> DownloadError:
    return DownloadError(
        f"cannot download {url}: {reason}",
        f"put a copy of {dest.name} in {dest.parent}",
        option=OptionHint("data_dir", metavar="DIR", purpose="naming a folder that has it"),
    )


def _reason(err: BaseException, timeout: float) -> str:
    """Why a connection failed, in words (offline, refused, timed out, HTTP status...)."""
    if isinstance(err, urllib.error.HTTPError):
        return f"the server answered HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        err = err.reason if isinstance(err.reason, BaseException) else err
    if isinstance(err, socket.gaierror):
        return "the host name could not be resolved (no network connection?)"
    if isinstance(err, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(err, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(err, ssl.SSLError):
        return f"secure connection failed ({err.reason or err})"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror[0].lower() + err.strerror[1:]
    text = str(getattr(err, "reason", "") or err)
    return text or type(err).__name__


def _open_url(url: str, dest: Path, timeout: float) -> Any:
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise _failure(url, dest, _reason(err, timeout)) from err


def _read(response: Any, url: str, dest: Path, timeout: float) -> bytes:
    try:
        return response.read(CHUNK)
    except (urllib.error.URLError, OSError) as err:
        raise _failure(url, dest, "the transfer broke off: " + _reason(err, timeout)) from err


def find_or_download(
    folder: Path, filename: str, remote: Remote | None, alternatives: tuple[str, ...] = ()
) -> Path:
    """A dataset file from ``folder``, downloading it when it is missing.

    Args:
        folder: the dataset folder from :func:`resolve_data_dir`.
        filename: the canonical file name (the name a download is saved as).
        remote: where to download it from, or None when there is no known download.
        alternatives: other names accepted for the same content (e.g. an uncompressed copy).

    Returns:
        The path of the first of ``filename, *alternatives`` that exists, or of the download.
    """
    for name in (filename, *alternatives):
        if (folder / name).is_file():
            return folder / name
    if remote is None:
        names = " or ".join((filename, *alternatives))
        raise FileNotFoundError(f"{names} not found in {folder}, and there is no known download")
    return download(remote.url, folder / filename, sha256=remote.sha256, md5=remote.md5)
