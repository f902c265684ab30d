"""labkit leaderboard: the public/private split, the daily limit, a malformed file named by its line, the page."""
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labkit.cli import main
from labkit.core import LabkitError
from labkit.data.layout import AFFECT
from labkit.teach.kaggle import write_solution
from labkit.teach.leaderboard import open_board, read_labels, split_clips, standings, submit, write_pages

IDS = [str(1000 + i) for i in range(20)]
DAY = dt.datetime(2026, 3, 2, 9, 30)


@pytest.fixture
def board(tmp_path):
    truth = pd.DataFrame(np.random.default_rng(3).random((20, 3)), index=pd.Index(IDS, name="id"), columns=list(AFFECT))
    truth.to_csv(tmp_path / "labels.csv")
    open_board(tmp_path / "board", tmp_path / "labels.csv", public=0.4, seed=7, daily_limit=2)
    return tmp_path, truth


def test_split_is_stored_deterministic_and_disjoint(board):
    tmp, truth = board
    cfg = open_board(tmp / "board")
    assert (cfg["public"], cfg["private"]) == split_clips(IDS, 0.4, 7)
    assert len(cfg["public"]) == 8 and len(cfg["private"]) == 12
    assert not set(cfg["public"]) & set(cfg["private"]) and set(cfg["public"]) | set(cfg["private"]) == set(IDS)
    assert split_clips(IDS, 0.4, 8) != split_clips(IDS, 0.4, 7)
    other = truth.copy(); other.iloc[0, 0] = 0.5
    other.to_csv(tmp / "other.csv")
    with pytest.raises(LabkitError, match="differs from the labels"):
        open_board(tmp / "board", tmp / "other.csv")


def test_public_and_private_scores_differ_and_reveal(board):
    tmp, truth = board
    cfg = open_board(tmp / "board")
    # right on the public clips, reversed on the private ones
    pred = truth.copy()
    pred.loc[cfg["private"]] = 1 - truth.loc[cfg["private"]]
    write_solution(IDS, pred.loc[IDS].to_numpy(copy=True), tmp / "alice.txt")
    write_solution(IDS, truth.loc[IDS].to_numpy(copy=True) * 0.5 + 0.25, tmp / "bob.txt")
    a = submit(tmp / "board", "alice", tmp / "alice.txt", DAY)
    b = submit(tmp / "board", "bob", tmp / "bob.txt", DAY)
    assert a["public"] == pytest.approx(1.0) and a["private"] == pytest.approx(-1.0)
    assert b["public"] == pytest.approx(1.0) and b["private"] == pytest.approx(1.0)
    md = write_pages(tmp / "board")
    assert "private" not in md.splitlines()[4] and "-1.0000" not in md
    assert "-1.0000" not in (tmp / "board" / "leaderboard.html").read_text()
    assert [r["student"] for r in standings(tmp / "board", reveal=True)] == ["bob", "alice"]
    md = write_pages(tmp / "board", reveal=True)
    assert "| 2 | alice | 1.0000 | -1.0000 |" in md
    assert "<td>-1.0000</td>" in (tmp / "board" / "leaderboard.html").read_text()


def test_daily_limit_and_resubmitting_the_same_file(board):
    tmp, truth = board
    for k in range(3):
        write_solution(IDS, np.clip(truth.loc[IDS].to_numpy(copy=True) + 0.01 * k, 0, 1), tmp / f"s{k}.txt")
    submit(tmp / "board", "carol", tmp / "s0.txt", DAY)
    assert submit(tmp / "board", "carol", tmp / "s0.txt", DAY)["file"]       # the same file again: not counted
    submit(tmp / "board", "carol", tmp / "s1.txt", DAY)
    with pytest.raises(LabkitError, match="used 2 of 2 submissions on 2026-03-02"):
        submit(tmp / "board", "carol", tmp / "s2.txt", DAY + dt.timedelta(hours=5))
    submit(tmp / "board", "carol", tmp / "s2.txt", DAY + dt.timedelta(days=1))
    assert standings(tmp / "board")[0]["entries"] == 3
    assert len(list((tmp / "board" / "submissions" / "carol").iterdir())) == 3


def test_malformed_file_named_by_line_and_cli(board, capsys):
    tmp, truth = board
    write_solution(IDS, truth.loc[IDS].to_numpy(copy=True), tmp / "subs" / "dave" / "solution.txt")
    lines = (tmp / "subs" / "dave" / "solution.txt").read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",high"
    (tmp / "subs" / "erin.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(LabkitError, match=r"line 6: values .* are not all numbers"):
        submit(tmp / "board", "erin", tmp / "subs" / "erin.txt", DAY)
    assert main(["leaderboard", str(tmp / "board"), str(tmp / "subs")]) == 1
    out = capsys.readouterr().out
    assert "refused: student 'erin'" in out and "line 6" in out and "| 1 | dave | 1.0000 |" in out
    assert main(["leaderboard", str(tmp / "board"), str(tmp / "subs" / "dave")]) == 0
    assert "dave: " in (out := capsys.readouterr().out) and "already scored, not counted again" in out


def test_labels_errors_name_the_line(tmp_path):
    (tmp_path / "l.csv").write_text("id,valence,energy,danceability\n1,0.1,0.2,0.3\n2,0.1,x,0.3\n")
    with pytest.raises(LabkitError, match="line 3"):
        read_labels(tmp_path / "l.csv")
