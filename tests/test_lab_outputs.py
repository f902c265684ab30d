"""What a person reads in an executed lab: `output_faults` names, cell by cell, the outputs that read badly in
JupyterLab (raw markdown tables, dumps of long floats, a figure shown twice, NaN in a table, empty error stripes,
widgets with nothing to show without their kernel, lines wider than the window). It is checked here on small
notebooks built for each fault; tests/test_labs.py applies it to every executed lab, test_student_copies.py to the
student copies."""
import base64, re

import nbformat, pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output


WIDGET = "application/vnd.jupyter.widget-view+json"
MAX_LINE = 150     # characters of a printed line: wider ones wrap in a 1280 px window

_MD_RULE = re.compile(r"^\s*\|?(\s*:?-{3,}:?\s*\|)+(\s*:?-{3,}:?\s*)?$", re.M)           # |---|---| under a header
_MD_ROWS = re.compile(r"^[ \t]*\|[^\n]*\|[^\n]*\|[ \t]*\n[ \t]*\|[^\n]*\|[^\n]*\|[ \t]*$", re.M)  # | a | b | twice
_LONG_FLOAT_ENTRY = re.compile(r"""["'][^"'\n]{1,200}["']\s*:\s*\[?\s*-?\d+\.\d{6,}""")    # 'key': 0.1234567...
_NAN = re.compile(r"\bNaN\b")


def _text(value) -> str: return "".join(value) if isinstance(value, list) else str(value or "")


def _lines_of(text:str) -> list[str]:
    "The lines a front end shows: a carriage return redraws its line, so only what follows the last one stays."
    return [line.rsplit("\r", 1)[-1] for line in text.split("\n")]


def _merged_streams(outputs:list) -> list:
    "The outputs as a front end shows them: consecutive stream outputs of one name joined into one (papermill saves each flush)."
    merged = []
    for o in outputs:
        if (o.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == o.get("name")):
            merged[-1] = {**merged[-1], "text": _text(merged[-1].get("text")) + _text(o.get("text"))}
        else: merged.append(o)
    return merged


def _faults_of_text(where:str, text:str, kind:str) -> list[str]:
    "Raw markdown tables, dumps of long floats and overlong lines in one output's plain text."
    faults = []
    if _MD_RULE.search(text) or _MD_ROWS.search(text):
        faults.append(f"{where}: a raw markdown table in {kind} (show a DataFrame or Markdown)")
    if "{" in text and _LONG_FLOAT_ENTRY.search(text):
        faults.append(f"{where}: a dict or JSON dump of long floats in {kind} (show a rounded table)")
    long = [l for l in _lines_of(text) if len(l) > MAX_LINE]
    if long: faults.append(f"{where}: {len(long)} line(s) in {kind} longer than {MAX_LINE} characters, e.g. {long[0][:60]!r}...")
    return faults


def output_faults(nb) -> list[str]:
    "What reads badly in the outputs of an executed notebook `nb` (nbformat, as saved by papermill), one entry per fault."
    faults = []
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code": continue
        outputs = _merged_streams(cell.get("outputs", []))
        first = _text(cell.get("source")).strip().splitlines()[:1]
        where = f"cell {i} ({first[0][:50]!r})" if first else f"cell {i}"
        pngs, static, widgets = [], False, False
        for o in outputs:
            kind = o.get("output_type")
            if kind == "stream":
                text = _text(o.get("text"))
                if o.get("name") == "stderr" and not "".join(_lines_of(text)).strip():
                    faults.append(f"{where}: an empty stderr output (a pink stripe; a progress bar that closed?)")
                faults += _faults_of_text(where, text, f"printed {o.get('name', 'stream')} text")
            elif kind in ("display_data", "execute_result"):
                data = o.get("data", {})
                plain, html = _text(data.get("text/plain")), _text(data.get("text/html"))
                if "image/png" in data: pngs.append(_text(data["image/png"]).replace("\n", ""))
                static = static or "image/png" in data or "text/html" in data
                widgets = widgets or WIDGET in data
                if "text/html" not in data and "image/png" not in data:
                    faults += _faults_of_text(where, plain, "text shown")
                elif "<table" in html and _MD_RULE.search(plain):
                    faults.append(f"{where}: a raw markdown table in text shown")
                shown_text = re.sub(r"<[^>]*>", " ", html)         # the cells' text, not tags or embedded data
                if ("<table" in html or "dtype:" in plain or "text/html" not in data) and _NAN.search(plain + shown_text):
                    faults.append(f"{where}: NaN in a displayed table (say what is missing, e.g. with '—')")
        dupes = len(pngs) - len(set(base64.b64decode(p) for p in pngs))
        if dupes: faults.append(f"{where}: the same figure shown {dupes + 1} times")
        if widgets and not static:
            faults.append(f"{where}: a widget view with no image/png or text/html to show without its kernel")
    return faults


# ------------------------------------------------------------------------------------------------ small notebooks

def notebook(*outputs_per_cell) -> nbformat.NotebookNode:
    "A notebook of one markdown cell and one code cell per list of outputs."
    cells = [new_markdown_cell("# A lab")]
    for k, outputs in enumerate(outputs_per_cell):
        cells.append(new_code_cell(f"step_{k}()", outputs=list(outputs), execution_count=k + 1))
    return new_notebook(cells=cells)


def stream(text, name="stdout"): return new_output("stream", name=name, text=text)
def shown(data, kind="display_data"):
    return new_output(kind, data=data, **({"execution_count": 1} if kind == "execute_result" else {}))


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"one figure").decode()
OTHER_PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"another figure").decode()
TABLE_HTML = "<table><tr><th>model</th><th>accuracy</th></tr><tr><td>LSTM</td><td>0.452</td></tr></table>"


def clean_notebook():
    "Every kind of output a lab shows, each as it should be."
    return notebook(
        [stream("data: /data\ndevice: cpu\n")],
        [stream("epoch  1/12  train_loss 2.2713  val_loss 2.1906  val_accuracy 0.222  lr 0.001  0.4 s\n")],
        [shown({"text/plain": "LSTM on mel: 1 epoch in 3 s; best val_loss 2.1906"})],
        [shown({"image/png": PNG, "text/plain": "<Figure size 640x480 with 1 Axes>"}),
         shown({"image/png": OTHER_PNG, "text/plain": "<Figure size 640x480 with 1 Axes>"})],
        [shown({"text/html": TABLE_HTML, "text/plain": "      accuracy\nLSTM     0.452"}, "execute_result")],
        [shown({"text/html": "<table><td>—</td></table>", "text/plain": "   energy\nb       —"}, "execute_result")],
        [stream("x (4, 11, 128), y [2, 7, 2, 8]\n"), stream("a warning a person can read\n", "stderr")],
        [stream("{'lstm valence': 0.771, 'cnn valence': -0.086}\n")],        # a short dict: three decimals
        [shown({WIDGET: {"model_id": "abc"}, "image/png": PNG, "text/plain": "Explorer"})],
        [shown({"text/html": '<table><td><audio src="data:audio/wav;base64,AB/NaN+x"></audio></td></table>',
                "text/plain": "1 player"}, "execute_result")],                 # NaN inside embedded data is not shown
        [stream("\rtraining:  50%|#####     | 1/2\rtraining: 100%|##########| 2/2\n")],
        [stream("\rruns:  50%|#####     | 1/2", "stderr"), stream("\rruns: 100%|##########| 2/2", "stderr"),
         stream("\n", "stderr")],                                       # a bar left on screen, saved flush by flush
    )


def test_a_clean_notebook_has_no_faults():
    assert output_faults(clean_notebook()) == []


FAULTS = {
    "markdown table": ([stream("| model | accuracy |\n|---|---|\n| LSTM | 0.452 |\n")], "raw markdown table"),
    "markdown rows": ([stream("### Genre\n| model | accuracy |\n| LSTM | 0.452 |\n")], "raw markdown table"),
    "markdown table shown": ([shown({"text/plain": "| a | b |\n| --- | :---: |\n| 1 | 2 |"}, "execute_result")],
                             "raw markdown table"),
    "dict of long floats": ([stream("{'accuracy': 0.26666666666666666, 'macro_f1': 0.11301587301587301}\n")],
                            "dump of long floats"),
    "JSON of long floats": ([stream('{\n "mel": {\n  "accuracy": 0.13999999999999999\n }\n}\n')], "dump of long floats"),
    "dict returned": ([shown({"text/plain": "{'mAP': 0.6035841473341473}"}, "execute_result")], "dump of long floats"),
    "figure twice": ([shown({"image/png": PNG, "text/plain": "<Figure>"}),
                      shown({"image/png": PNG, "text/plain": "<Figure>"}, "execute_result")], "same figure shown 2 times"),
    "NaN in html": ([shown({"text/html": "<table><td>NaN</td></table>", "text/plain": "   a\n0 NaN"}, "execute_result")],
                    "NaN in a displayed table"),
    "NaN in html text": ([shown({"text/html": '<table><td><audio src="data:audio/wav;base64,AB/NaN+x"></audio></td><td>NaN</td></table>',
                                 "text/plain": "2 players"}, "execute_result")], "NaN in a displayed table"),
    "NaN in a Series": ([shown({"text/plain": "a    0.5\nb    NaN\nName: x, dtype: float64"}, "execute_result")],
                        "NaN in a displayed table"),
    "empty stderr": ([stream("\r", "stderr")], "empty stderr"),
    "emptied stderr": ([stream("\rsynth small:  50%|#####     | 1/2\r                              \r", "stderr")],
                       "empty stderr"),
    "emptied stderr, flush by flush": ([stream("\rruns:  50%|#####     | 1/2", "stderr"), stream("\r              \r", "stderr")],
                                       "empty stderr"),
    "bare widget": ([shown({WIDGET: {"model_id": "abc"}, "text/plain": "HBox(children=...)"})], "widget view"),
    "long line": ([stream("epoch 1/1  " + "  ".join(f"val_metric_{k} 0.1234" for k in range(12)) + "\n")],
                  "longer than 150"),
    "long line shown": ([shown({"text/plain": "x" * 151})], "longer than 150"),
}


@pytest.mark.parametrize("name", FAULTS)
def test_each_fault_is_named_with_its_cell(name):
    outputs, says = FAULTS[name]
    nb = clean_notebook()
    nb.cells.append(new_code_cell("the_faulty_step()", outputs=outputs, execution_count=99))
    faults = output_faults(nb)
    assert len(faults) == 1 and says in faults[0], faults
    assert faults[0].startswith(f"cell {len(nb.cells) - 1} ('the_faulty_step()')"), faults


def test_faults_are_listed_cell_by_cell():
    nb = notebook([stream("", "stderr")], [stream("fine\n")], [stream("| a |\n|---|\n"), stream("y" * 200)])
    faults = output_faults(nb)
    assert [f.split(" (")[0] for f in faults] == ["cell 1", "cell 3", "cell 3"], faults


def test_a_notebook_read_from_disk(tmp_path):
    "The check reads a notebook as saved (nbformat's JSON, text as lists of lines), not only one built in memory."
    nb = clean_notebook()
    nb.cells.append(new_code_cell("show()", outputs=[stream("|---|---|\n")], execution_count=3))
    nbformat.write(nb, tmp_path / "lab.ipynb")
    faults = output_faults(nbformat.read(tmp_path / "lab.ipynb", as_version=4))
    assert len(faults) == 1 and "markdown table" in faults[0]


# where a person would rather hear than read: the players each lab must hold (saved in the notebook, so they play
# when it is reopened): one clip per class and one clip three ways (lab 1), the surest mistakes (labs 2 and 3), a clip
# and its nearest neighbours (lab 7), one clip per domain (lab 8). tests/test_labs.py applies these to the executed labs.
PLAYERS = {"01_explore": 2, "02_lstm_genre": 1, "03_cnn_genre": 1, "07_embeddings": 1, "08_cross_domain": 1}


def players(nb) -> int:
    "How many outputs of a notebook hold audio players."
    return sum("<audio" in _text(o.get("data", {}).get("text/html")) for c in nb.cells for o in c.get("outputs", []))


def test_players_are_counted():
    player = shown({"text/html": '<div><audio controls src="data:audio/wav;base64,AAAA"></audio></div>'})
    assert players(notebook([player, player], [stream("no player\n")])) == 2 and players(clean_notebook()) == 1
