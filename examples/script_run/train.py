"""Seed 003, option 2 (Azure ML's ScriptRunConfig example), as `flightlog run` runs it.

The script is Azure's, with two changes: `Run` comes from `flightlog.azureml`, and the
model files go to `outputs/`, which the runner attaches as they appear (Azure's comment:
"save model in the outputs folder so it automatically get uploaded"). Started by
`flightlog run`, `Run.get_context()` is the runner's run; started alone, an offline run.
"""

import os

import joblib
import mylib
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

from flightlog.azureml import Run

os.makedirs("./outputs", exist_ok=True)

X, y = load_diabetes(return_X_y=True)

run = Run.get_context()

X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
data = {"train": {"X": X_train, "y": y_train},
        "test": {"X": X_test, "y": y_test}}

# list of numbers from 0.0 to 1.0 with a 0.05 interval
alphas = mylib.get_alphas()

for alpha in alphas:
    # Use Ridge algorithm to create a regression model
    reg = Ridge(alpha=alpha)
    reg.fit(data["train"]["X"], data["train"]["y"])

    preds = reg.predict(data["test"]["X"])
    mse = mean_squared_error(preds, data["test"]["y"])
    # log the alpha and mse values
    run.log("alpha", alpha)
    run.log("mse", mse)

    model_file_name = f"outputs/ridge_{alpha:.2f}.pkl"
    # save model in the outputs folder so it automatically get uploaded
    joblib.dump(value=reg, filename=model_file_name)

    print(f"alpha is {alpha:.2f}, and mse is {mse:0.2f}")
