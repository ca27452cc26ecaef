"""The seed 004 tutorial, offline: ridge regression on scikit-learn's diabetes data.

One run per alpha logs its alpha and RMSE (Azure form), a learning curve (W&B form),
predicted-vs-true and residual charts, and the fitted model; then the script finds the
best run from the run directories alone and downloads its model. Nothing touches the network.

    python examples/diabetes.py [--dir flightlog-runs] [--fresh]
"""

from __future__ import annotations

import argparse
import math
import pickle
import tempfile
from pathlib import Path

import flightlog

PROJECT = "diabetes-experiment"


ALPHAS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def finished_runs(root: Path) -> dict[str, flightlog.LocalRun]:
    """The finished runs already under ``root``, by name (a second run of the script
    reuses them rather than logging every alpha twice)."""
    project = root / PROJECT
    runs = [flightlog.open_run(d) for d in sorted(project.iterdir())] if project.is_dir() else []
    return {r.name: r for r in runs if r.status == "finished"}


def train(root: Path, fresh: bool = False) -> None:
    done = {} if fresh else finished_runs(root)
    todo = [alpha for alpha in ALPHAS if f"ridge-{alpha}" not in done]
    if len(todo) < len(ALPHAS):
        print(f"reusing {len(ALPHAS) - len(todo)} finished runs in {root / PROJECT}"
              + (f", training the {len(todo)} missing" if todo else "")
              + " (--fresh trains all ten again, beside them)")
    if not todo:
        return
    # Imported here: a second run that reuses every run needs none of scikit-learn.
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_squared_error
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)
    for alpha in todo:
        with flightlog.init(project=PROJECT, name=f"ridge-{alpha}", config={"alpha": alpha},
                            tags=["baseline"], dir=root) as run:
            run.log("alpha_value", alpha)
            for size in range(40, len(x_train) + 1, 40):  # a learning curve, one step each
                model = Ridge(alpha=alpha).fit(x_train[:size], y_train[:size])
                rmse = math.sqrt(mean_squared_error(y_test, model.predict(x_test)))
                run.log({"train_size": size, "test_rmse": rmse})
            model = Ridge(alpha=alpha).fit(x_train, y_train)
            predicted = model.predict(x_test)
            rmse = math.sqrt(mean_squared_error(y_true=y_test, y_pred=predicted))
            run.log("rmse", rmse)
            # Azure's regression charts (seed 003), drawn by the UI and the report.
            run.log({"predicted_vs_true": flightlog.plot.predicted_vs_true(y_test, predicted),
                     "residuals": flightlog.plot.residual_histogram(y_test, predicted)})
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "model.pkl"
                path.write_bytes(pickle.dumps(model))
                run.upload_file(f"model_alpha_{alpha}.pkl", path)
            print(f"{run.id}  alpha={alpha:<4} rmse={rmse:.3f}")


def best_run(root: Path) -> flightlog.LocalRun:
    return min(finished_runs(root).values(), key=lambda r: r.get_metrics()["rmse"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="flightlog-runs", help="root of run directories")
    parser.add_argument("--out", default="out", help="where to download the best model")
    parser.add_argument("--fresh", action="store_true",
                        help="train every alpha again even if finished runs are there")
    args = parser.parse_args()
    root = Path(args.dir)
    train(root, args.fresh)
    best = best_run(root)
    print(f"best run: {best.id} ({best.name}) rmse={best.get_metrics()['rmse']:.3f}")
    print(f"its files: {best.get_file_names()}")
    name = best.get_file_names()[0]
    target = best.download_file(name, Path(args.out) / name)
    print(f"downloaded to {target}")


if __name__ == "__main__":
    main()
