"""rnnkit demo: runs end to end (dry run here), prints the table, and protects other folders."""

from rnnkit.cli import main


def test_demo_dry_run_prints_the_comparison(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "fast.ai: nn.GRU, 2 layers" in text and "83.8%" in text and "rnnkit GRU" in text
    assert "greedy continuation of 'one thousand two hundred thirty one ," in text
    assert main(["demo", "--out", str(out), "--dry-run"]) == 0  # replaces its own previous run


def test_demo_refuses_to_replace_other_folders(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["demo", "--out", str(tmp_path / "mine"), "--dry-run"]) == 1
    assert "not a previous demo run" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").exists()
