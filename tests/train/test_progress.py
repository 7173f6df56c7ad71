"""Progress: a bar on a terminal, plain lines elsewhere."""

import io

from rnnkit.train.progress import Progress, format_logs, is_terminal


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_every_tenth_of_the_epoch():
    stream = io.StringIO()
    progress = Progress(total=20, desc="epoch 1/3", stream=stream)
    for step in range(1, 21):
        progress.update(step, loss=1.0 / step, units_per_s=1234.5)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10  # every 2 steps
    assert lines[0] == "epoch 1/3 step 2/20  loss 0.5000  1,234 tok/s"
    assert lines[-1].startswith("epoch 1/3 step 20/20")


def test_a_terminal_gets_a_tqdm_bar():
    stream = FakeTerminal()
    progress = Progress(total=5, desc="epoch 1/1", stream=stream)
    assert progress.bar is not None
    for step in range(1, 6):
        progress.update(step, loss=0.25, units_per_s=100.0)
    progress.write("a message")
    progress.close()
    out = stream.getvalue()
    assert "\r" in out and "a message" in out and "epoch 1/1" in out


def test_disabled_progress_writes_nothing():
    stream = FakeTerminal()
    progress = Progress(total=5, desc="x", enabled=False, stream=stream)
    progress.update(5, 0.1, 1.0)
    progress.write("hidden")
    progress.close()
    assert stream.getvalue() == ""


def test_is_terminal_and_formatting():
    assert (
        not is_terminal(io.StringIO()) and is_terminal(FakeTerminal()) and not is_terminal(object())
    )
    logs = {
        "epoch": 2,
        "train_loss": 0.123456,
        "lr": 0.001,
        "time_s": 1.25,
        "tokens_per_s": 12345.6,
    }
    assert format_logs(logs) == "train_loss 0.1235  lr 1.00e-03  1.2s  12,346 tok/s"
