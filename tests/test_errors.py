"""rnnkit.errors: classes and exit codes, one-line reports, hints as arguments or flags, and
OS write failures (also when torch or safetensors report them) turned into one clear error."""

import errno
import io
import pickle

import pytest

from rnnkit.data.download import DownloadError as DataDownloadError
from rnnkit.data.files import DataError as FilesDataError
from rnnkit.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CheckpointError,
    ConfigError,
    DataError,
    DownloadError,
    IntegrityError,
    Interrupted,
    OptionHint,
    RnnkitError,
    RunDirError,
    RunLockedError,
    UsageError,
    WriteError,
    describe,
    exit_code,
    os_error_in,
    report,
    run_command,
    writing,
)
from rnnkit.train import CheckpointError as TrainCheckpointError


def test_existing_error_names_are_the_classes_of_the_taxonomy():
    assert FilesDataError is DataError and DataDownloadError is DownloadError
    assert TrainCheckpointError is CheckpointError
    # their old bases still catch them
    assert issubclass(DataError, ValueError) and issubclass(ConfigError, ValueError)
    assert issubclass(DownloadError, RuntimeError) and issubclass(CheckpointError, RuntimeError)
    assert issubclass(IntegrityError, CheckpointError) and issubclass(RunLockedError, RunDirError)
    assert issubclass(WriteError, OSError) and issubclass(Interrupted, KeyboardInterrupt)
    assert not issubclass(Interrupted, Exception)  # `except Exception` lets Ctrl-C through


@pytest.mark.parametrize(
    ("err", "code"),
    [
        (UsageError("x"), EXIT_USAGE),
        (ConfigError("x"), EXIT_ERROR),
        (DataError("x"), EXIT_ERROR),
        (RunLockedError("x"), EXIT_ERROR),
        (IntegrityError("x"), EXIT_ERROR),
        (WriteError(errno.ENOSPC, "f"), EXIT_ERROR),
        (Interrupted("stopped"), EXIT_INTERRUPTED),
        (KeyboardInterrupt(), EXIT_INTERRUPTED),
        (ValueError("x"), EXIT_ERROR),
        (RuntimeError("x"), EXIT_ERROR),
    ],
)
def test_exit_codes_by_class(err, code):
    assert exit_code(err) == code
    assert (EXIT_USAGE, EXIT_ERROR, EXIT_INTERRUPTED) == (2, 1, 130)


def test_messages_name_the_cause_then_what_to_do():
    err = DataError("f.csv, line 3: empty text", option=OptionHint("skip_empty", purpose="to skip"))
    assert str(err) == "f.csv, line 3: empty text; pass skip_empty=True to skip"
    assert err.render(cli=True) == "f.csv, line 3: empty text; pass --skip-empty to skip"
    assert err.render(cli=True, flags={"--other"}) == "f.csv, line 3: empty text"
    both = DataError("bad", "fix it", option=OptionHint("fill", ("ffill", "zero"), "to fill"))
    assert str(both) == "bad; fix it, or pass fill='ffill' or 'zero' to fill"
    assert both.render(cli=True) == "bad; fix it, or pass --fill ffill|zero to fill"
    where = DownloadError("offline", option=OptionHint("data_dir", metavar="DIR"))
    assert (str(where), where.render(cli=True)) == (
        "offline; pass data_dir=DIR",
        "offline; pass --data-dir DIR",
    )
    assert str(RunDirError("just the cause")) == "just the cause"


def test_errors_survive_pickling_as_their_message():  # DataLoader workers send errors back
    for err in (
        DataError("a", "b", option=OptionHint("x")),
        WriteError(errno.ENOSPC, "/d/f"),
        ConfigError("c"),
    ):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)


def test_write_errors_say_what_failed_and_where():
    err = WriteError(errno.ENOSPC, "run/model.safetensors")
    assert str(err) == (
        "no space left on device while writing run/model.safetensors; free some space or write "
        "somewhere else"
    )
    assert err.errno == errno.ENOSPC and err.filename == "run/model.safetensors"
    assert str(WriteError(errno.EROFS, "x")).startswith("read-only file system while writing x")
    assert str(WriteError(errno.EACCES, "x")).startswith("permission denied while writing x")


def test_the_errno_behind_an_error_is_found_in_its_chain_or_its_text():
    assert os_error_in(OSError(errno.ENOSPC, "No space left on device")) == errno.ENOSPC
    try:  # torch: a RuntimeError raised while the OSError of the file object was being handled
        try:
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
        except OSError:
            raise RuntimeError("[enforce fail] unexpected pos 704 vs 598")  # noqa: B904
    except RuntimeError as err:
        assert os_error_in(err) == errno.EDQUOT
    rust = Exception("Error while serializing: I/O error: File too large (os error 27)")
    assert os_error_in(rust) == errno.EFBIG
    assert os_error_in(RuntimeError("[Errno 28] No space left on device")) == errno.ENOSPC
    assert os_error_in(RuntimeError("unexpected pos 704 vs 598")) is None


def test_writing_converts_only_disk_failures():
    full = pytest.raises(WriteError, match="no space left on device while writing out.bin")
    with full, writing("out.bin"):
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(KeyError), writing("out.bin"):  # anything else passes through unchanged
        raise KeyError("k")
    with pytest.raises(ConnectionResetError), writing("out.bin"):
        raise ConnectionResetError(errno.ECONNRESET, "reset")


def _report(err, **kwargs):
    out = io.StringIO()
    code = report(err, "rnnkit train", file=out, **kwargs)
    return code, out.getvalue()


def test_report_prints_one_line_and_returns_the_exit_code(monkeypatch):
    monkeypatch.delenv("RNNKIT_DEBUG", raising=False)
    code, text = _report(UsageError("--resume and --overwrite: pass one"))
    assert (code, text) == (2, "rnnkit train: error: --resume and --overwrite: pass one\n")
    code, text = _report(DataError("f.csv, line 2: bad", option=OptionHint("skip_empty")))
    assert text == "rnnkit train: error: f.csv, line 2: bad; pass --skip-empty\n"
    code, text = _report(KeyboardInterrupt())
    assert (code, text) == (130, "rnnkit train: interrupted\n")
    code, text = _report(Interrupted("stopped at epoch 2; resume the run"))
    assert (code, text) == (130, "rnnkit train: interrupted: stopped at epoch 2; resume the run\n")
    code, text = _report(OSError(errno.ENOSPC, "No space left on device", "run/metrics.jsonl"))
    assert text.startswith("rnnkit train: error: no space left on device while writing run/")
    code, text = _report(PermissionError(errno.EACCES, "Permission denied", "in.txt"))
    assert text == "rnnkit train: error: in.txt: permission denied; check its permissions\n"


def test_unexpected_errors_are_one_line_that_says_how_to_get_the_traceback(monkeypatch):
    monkeypatch.delenv("RNNKIT_DEBUG", raising=False)
    code, text = _report(ZeroDivisionError("division by zero\nsecond line"))
    assert code == 1 and text.count("\n") == 1 and "Traceback" not in text
    assert text.startswith("rnnkit train: error: unexpected ZeroDivisionError: division by zero")
    assert "--debug or RNNKIT_DEBUG=1" in text
    code, text = _report(ValueError("x" * 5000))
    assert len(text) < 2100 and text.endswith("…\n")


def test_debug_prints_the_traceback_too(monkeypatch):
    def fail():
        raise DataError("f.csv, line 2: bad")

    for debug, env in ((True, None), (False, "1")):
        if env:
            monkeypatch.setenv("RNNKIT_DEBUG", env)
        try:
            fail()
        except DataError as err:
            _, text = _report(err, debug=debug)
        assert text.startswith("Traceback") and "in fail" in text
        assert text.endswith("rnnkit train: error: f.csv, line 2: bad\n")
    monkeypatch.setenv("RNNKIT_DEBUG", "0")
    assert not _report(DataError("x"))[1].startswith("Traceback")


def test_run_command(capsys, monkeypatch):
    monkeypatch.delenv("RNNKIT_DEBUG", raising=False)
    assert run_command(lambda: None, "rnnkit x") == 0
    assert run_command(lambda: 3, "rnnkit x") == 3

    def usage():
        raise UsageError("no such thing")

    assert run_command(usage, "rnnkit x") == 2
    assert capsys.readouterr().err == "rnnkit x: error: no such thing\n"

    def leave():
        raise SystemExit(4)

    with pytest.raises(SystemExit):
        run_command(leave, "rnnkit x")


def test_describe_is_one_line():
    assert describe(RunDirError("a\nb   c")) == "a b c"
    assert isinstance(RnnkitError("x"), Exception)
