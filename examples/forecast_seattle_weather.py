"""Forecast Seattle's daily maximum temperature a week ahead with a liquid (CfC) network.

Fits LiquidForecaster on 2012 - mid 2015 of the vega_datasets Seattle weather (real daily
observations; precipitation, minimum temperature and wind as covariates), backtests it over
the last 180 days against persistence, saves and reloads it, and draws the last forecast
with its 80% interval to seattle_forecast.png.

    python examples/forecast_seattle_weather.py
"""

import tempfile
from pathlib import Path

from liquidts.forecast.classical import Naive
from liquidts.datasets import load_seattle_weather
from liquidts.forecast import LiquidForecaster
from liquidts.forecast.plot import plot_forecast

df = load_seattle_weather().drop(columns="weather")
train, test = df.iloc[:-180], df.iloc[-180:]

model = LiquidForecaster(horizon=7, target="temp_max", random_state=0)
model.fit(train)
print(f"fitted in {model.n_epochs_} epochs; covariates {model.covariates_}, lookback {model.lookback_}")

# Backtest: a 7-day forecast from every day of the hold-out, reading the true history up to it.
# (model.cross_validate(df, n_windows, step) does the same on a fresh clone, refitting it.)
naive = Naive(horizon=7, target="temp_max").fit(train)
errors = {"liquid": [], "persistence": []}
for cut in range(len(train), len(df) - 6):
    truth = df["temp_max"].iloc[cut: cut + 7].to_numpy()
    for name, est in (("liquid", model), ("persistence", naive)):
        errors[name].append(abs(est.predict(df=df.iloc[:cut])["temp_max"].to_numpy() - truth).mean())
print("hold-out MAE: " + ", ".join(f"{k} {sum(v) / len(v):.2f} degC" for k, v in errors.items()))

# Save and load: safetensors weights + JSON config, the same forecasts after loading.
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "seattle.safetensors"
    model.save(path)
    restored = LiquidForecaster.load(path)
assert restored.predict().equals(model.predict())

# Serve: feed the held-out observations without retraining, then forecast the next week.
restored.update(test)
forecast = restored.predict(quantiles=[0.1, 0.9])
print(forecast.round(1))
ax = plot_forecast(df, forecast, "temp_max", title="Seattle temp_max: next 7 days (CfC)")
ax.figure.savefig("seattle_forecast.png", dpi=120)
print("wrote seattle_forecast.png")
