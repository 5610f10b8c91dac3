"""The ``classify`` suite: sequence classification on irregular and variable-length data.

    python -m benchmarks classify [--quick] [--models cfc ltc grud lstm odernn] [--seeds 0 1 2 3 4]

* ``physionet2012``: PhysioNet/CinC 2012 set A in-hospital mortality (4,000 ICU stays, 37
  variables each at its own irregular times, 5 static descriptors). Per seed, a stratified
  80/10/10 split of the stays: every model fits on the 80% with early stopping on the 10%
  validation stays, and is scored once on the 10% test stays: ROC AUC and AUPRC, seconds per
  training epoch (the mean over its epochs, measured in the same run on the same machine).
  Published: CfC 0.839 ± 0.002 at 0.1 min/epoch, ODE-RNN 0.833 ± 0.009 at 16.5 min/epoch (CfC
  paper, arXiv version, Table 5), mTAND-Full 0.858 (Shukla & Marlin, ICLR 2021); their protocols
  differ in details (splits, sets), see ../shared/NOTES.md.
* ``japanese_vowels``: UCR/UEA JapaneseVowels (9 speakers, 12 LPC coefficients, 7-29 frames per
  utterance), as shipped with sktime; the archive's train/test split, accuracy, the validation
  subjects drawn from the training ones.

``--max-epochs MODEL=N`` caps a slow model's epochs (the cap is written into the results).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split

from liquidts import LiquidClassifier
from liquidts.datasets import PHYSIONET_2012_STATIC, load_physionet2012

RESULTS = Path(__file__).with_name("results")
DEFAULT_MODELS = ("cfc", "ltc", "grud", "lstm", "odernn")
PUBLISHED = {"cfc": (0.839, 0.002, 0.1 * 60), "odernn": (0.833, 0.009, 16.5 * 60), "mTAND-Full": (0.858, None, None)}
PHYSIONET_COLUMNS = dict(id_col="RecordID", time_col="minutes", variable_col="parameter", value_col="value")


def physionet_split(ids: np.ndarray, labels: np.ndarray, seed: int):
    """Stratified 80/10/10 split of the stays: (train, validation, test) ids."""
    train, rest = train_test_split(ids, test_size=0.2, stratify=labels, random_state=seed)
    rest_labels = pd.Series(labels, index=ids).loc[rest].to_numpy()
    val, test = train_test_split(rest, test_size=0.5, stratify=rest_labels, random_state=seed)
    return np.sort(train), np.sort(val), np.sort(test)


def physionet_task(data_home, quick: bool):
    obs, outcomes = load_physionet2012(data_home)
    y = outcomes["In-hospital_death"]
    if quick:  # the first 300 stays
        keep = np.sort(y.index.to_numpy())[:300]
        y = y.loc[keep]
        obs = obs[obs["RecordID"].isin(keep)]
    return obs, y


def run_physionet(data_home, models, seeds, quick, params, caps, log=print, done=None) -> list:
    obs, y = physionet_task(data_home, quick)
    ids = np.sort(y.index.to_numpy())
    by_id = {k: g for k, g in obs.groupby("RecordID", sort=False)}
    records = []
    for seed in seeds:
        train, val, test = physionet_split(ids, y.loc[ids].to_numpy(), seed)
        parts = {name: pd.concat([by_id[i] for i in part]) for name, part in
                 (("train", train), ("val", val), ("test", test))}
        for model in models:
            kwargs = dict(PHYSIONET_COLUMNS, model=model, static=PHYSIONET_2012_STATIC, static_missing=-1,
                          random_state=seed, **params)
            if model in caps:
                kwargs["max_epochs"] = caps[model]
            clf = LiquidClassifier(**kwargs)
            start = time.perf_counter()
            clf.fit(parts["train"], y.loc[train], eval_set=(parts["val"], y.loc[val]))
            fit_s = time.perf_counter() - start
            proba = clf.predict_proba(parts["test"])[:, 1]
            truth = y.loc[test].to_numpy()
            rec = dict(task="physionet2012", model=model, seed=seed, auc=float(roc_auc_score(truth, proba)),
                       auprc=float(average_precision_score(truth, proba)),
                       val_auc=float(clf.best_validation_score_), epochs=clf.n_epochs_, best_epoch=clf.best_epoch_,
                       seconds_per_epoch=float(np.mean(clf.epoch_seconds_)), fit_s=round(fit_s, 1),
                       parameters=int(sum(p.numel() for p in clf.net_.parameters())),
                       max_epochs=kwargs.get("max_epochs", clf.max_epochs), n_train=len(train))
            records.append(rec)
            if done is not None:
                done(rec)
            log(f"physionet2012 {model:>7} seed {seed}: AUC {rec['auc']:.4f} AUPRC {rec['auprc']:.4f} "
                f"(val {rec['val_auc']:.4f}) {rec['seconds_per_epoch']:.2f} s/epoch x {rec['epochs']}")
    return records


def _ts_file(name: str) -> Path:
    """A .ts file shipped with sktime, found without importing sktime."""
    import importlib.util

    spec = importlib.util.find_spec("sktime")
    if spec is None:
        raise ImportError("the japanese_vowels task reads sktime's bundled data: pip install sktime")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name.split("_")[0] / f"{name}.ts"


def read_ts(path: Path, id_offset: int = 0):
    """A multivariate .ts file (sktime/UEA format, no timestamps) as long observations and labels:
    ``id``, ``time`` (the frame index), ``variable`` (``dim_k``), ``value``."""
    rows, labels = [], {}
    data = False
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not data:
            data = line.lower() == "@data"
            continue
        *dims, label = line.split(":")
        uid = id_offset + len(labels)
        for k, dim in enumerate(dims):
            for t, v in enumerate(dim.split(",")):
                if v != "?":
                    rows.append((uid, t, f"dim_{k}", float(v)))
        labels[uid] = label
    return pd.DataFrame(rows, columns=["id", "time", "variable", "value"]), pd.Series(labels)


def run_vowels(models, seeds, quick, params, caps, log=print, done=None) -> list:
    X, y = read_ts(_ts_file("JapaneseVowels_TRAIN"))
    X_test, y_test = read_ts(_ts_file("JapaneseVowels_TEST"), id_offset=10_000)
    records = []
    for seed in seeds:
        for model in models:
            kwargs = dict(model=model, random_state=seed, **params)
            if model in caps:
                kwargs["max_epochs"] = caps[model]
            clf = LiquidClassifier(**kwargs)
            start = time.perf_counter()
            clf.fit(X, y)
            fit_s = time.perf_counter() - start
            rec = dict(task="japanese_vowels", model=model, seed=seed,
                       accuracy=float(accuracy_score(y_test.sort_index(), clf.predict(X_test))),
                       epochs=clf.n_epochs_, seconds_per_epoch=float(np.mean(clf.epoch_seconds_)),
                       fit_s=round(fit_s, 1),
                       max_epochs=kwargs.get("max_epochs", clf.max_epochs))
            records.append(rec)
            if done is not None:
                done(rec)
            log(f"japanese_vowels {model:>7} seed {seed}: accuracy {rec['accuracy']:.4f} "
                f"{rec['seconds_per_epoch']:.2f} s/epoch x {rec['epochs']}")
    return records


def _stat(values, digits=3) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def _label(r: dict) -> str:
    return r["model"] if not r.get("run") else f"{r['model']} (run {r['run']})"


def markdown(records: list, meta: dict) -> str:
    runs = meta.get("runs", [meta])
    lines = ["# Benchmark suite `classify`", ""]
    for k, m in enumerate(runs):
        name = f"Run {k + 1}: " if len(runs) > 1 else ""
        lines += [f"{name}`{m['command']}`  ",
                  f"Commit: `{m['commit']}`; machine: {m['machine']}; torch {m['torch']}, "
                  f"{m['threads']} thread(s); date: {m['date']}; seeds {m['seeds']}; "
                  f"epoch caps {m.get('caps') or 'none'}.",
                  ""]
    if meta.get("note"):
        lines += [meta["note"], ""]
    records = [dict(r, model=_label(r)) for r in records]
    phys = [r for r in records if r["task"] == "physionet2012"]
    if phys:
        models = list(dict.fromkeys(r["model"] for r in phys))
        lines += ["## PhysioNet 2012 set A, in-hospital mortality", "",
                  "Stratified 80/10/10 splits of the 4,000 stays per seed; early stopping on the validation stays "
                  "(ROC AUC); scored once on the test stays. Mean ± std over seeds. Seconds per epoch: one pass "
                  "over the 3,200 training stays, measured in this run.", "",
                  "| model | test AUC | test AUPRC | validation AUC | s / epoch | epochs (cap) | seeds | parameters |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for m in models:
            rs = [r for r in phys if r["model"] == m]
            lines.append(f"| {m} | {_stat([r['auc'] for r in rs])} | {_stat([r['auprc'] for r in rs])} | "
                         f"{_stat([r['val_auc'] for r in rs])} | {_stat([r['seconds_per_epoch'] for r in rs], 2)} | "
                         f"{np.mean([r['epochs'] for r in rs]):.1f} ({rs[0]['max_epochs']}) | {len(rs)} | "
                         f"{rs[0]['parameters']} |")
        lines += ["", "Published (different machines and protocol details): "
                  + "; ".join(f"{m} {a:.3f}" + (f" ± {s:.3f}" if s else "")
                              + (f" at {t / 60:g} min/epoch" if t else "") for m, (a, s, t) in PUBLISHED.items())
                  + ".", ""]
        for run in dict.fromkeys(r.get("run") for r in phys):
            same = [r for r in phys if r.get("run") == run]
            speed = {r["model"].split(" ")[0]: np.mean([q["seconds_per_epoch"] for q in same
                                                         if q["model"] == r["model"]]) for r in same}
            if "cfc" in speed and len(speed) > 1:
                lines += [f"Seconds per epoch relative to CfC (same width, same run{f' {run}' if run else ''}): "
                          + ", ".join(f"{m} {speed[m] / speed['cfc']:.1f}x" for m in speed if m != "cfc") + ".", ""]
    vow = [r for r in records if r["task"] == "japanese_vowels"]
    if vow:
        lines += ["## JapaneseVowels (sktime's copy of the UEA archive)", "",
                  "The archive's train/test split (270 / 370 utterances, 7-29 frames, 12 coefficients); "
                  "validation: 10% of the training utterances.", "",
                  "| model | test accuracy | s / epoch | epochs |", "| --- | --- | --- | --- |"]
        for m in dict.fromkeys(r["model"] for r in vow):
            rs = [r for r in vow if r["model"] == m]
            lines.append(f"| {m} | {_stat([r['accuracy'] for r in rs])} | "
                         f"{_stat([r['seconds_per_epoch'] for r in rs], 3)} | "
                         f"{np.mean([r['epochs'] for r in rs]):.1f} |")
        lines.append("")
    return "\n".join(lines)


def combine(paths: list, out: Path, note: str = "") -> None:
    """One results file from several runs (``--combine``): records keep a ``run`` number (none for
    the first), so speeds are compared only within the run that measured them."""
    metas, records = [], []
    for k, path in enumerate(paths):
        body = json.loads(Path(path).read_text())
        metas.append(body["meta"])
        records += [dict(r, run=k + 1 if k else None) for r in body["records"]]
    meta = dict(runs=metas, note=note)
    out.mkdir(parents=True, exist_ok=True)
    (out / "classify.json").write_text(json.dumps({"meta": meta, "records": records}, indent=1))
    (out / "classify.md").write_text(markdown(records, meta))


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks classify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", 
                        help="300 stays, one seed, two epochs (one for ltc, odernn), 16 units (CI)")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--tasks", nargs="+", default=["physionet2012", "japanese_vowels"])
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2 3 4 (quick: 0)")
    parser.add_argument("--data-home", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="LiquidClassifier parameters")
    parser.add_argument("--max-epochs", nargs="*", default=[], metavar="MODEL=N", help="epoch caps for slow models")
    parser.add_argument("--note", default="", help="a sentence written into the results")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--name", default=None, help="file stem (default classify, or classify-quick)")
    parser.add_argument("--combine", nargs="+", default=None, metavar="JSON",
                        help="write classify.md/.json from the JSON files of earlier runs, and stop")
    args = parser.parse_args(argv)
    if args.combine:
        combine(args.combine, Path(args.out), args.note)
        return 0
    torch.set_num_threads(args.threads)
    from benchmarks.__main__ import _commit, _cpus, _value

    seeds = args.seeds or ([0] if args.quick else [0, 1, 2, 3, 4])
    params = {k: _value(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    caps = {k: int(v) for k, v in (kv.split("=", 1) for kv in args.max_epochs)}
    if args.quick:
        params.setdefault("max_epochs", 2)
        caps = {m: min(caps.get(m, 1), 1) if m in ("ltc", "odernn") else caps.get(m, 2) for m in args.models}
        params.setdefault("units", 16)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.name or ("classify-quick" if args.quick else "classify")
    meta = dict(command="python -m benchmarks classify " + " ".join(argv), commit=_commit(),
                machine=f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), {_cpus()} CPUs",
                torch=torch.__version__, threads=args.threads, seeds=seeds, date=datetime.date.today().isoformat(),
                params=params, caps=caps, note=args.note)
    records = []

    def save(record):  # after every fit, so a long run that stops keeps what it measured
        records.append(record)
        (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "records": records}, indent=1))
        (out / f"{stem}.md").write_text(markdown(records, meta))

    log = lambda line: print(line, flush=True)  # noqa: E731
    if "physionet2012" in args.tasks:
        run_physionet(args.data_home, args.models, seeds, args.quick, params, caps, log, save)
    if "japanese_vowels" in args.tasks:
        vowel_models = [m for m in args.models if m not in ("ltc", "odernn")] if args.quick else args.models
        run_vowels(vowel_models, seeds[:1] if args.quick else seeds, args.quick, params, caps, log, save)
    print(f"wrote {out / stem}.md, .json")
    return 0
