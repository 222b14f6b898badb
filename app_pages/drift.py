from components.page import not_built_yet

not_built_yet("Drift", [
    "Population stability index and KS / chi-square tests per feature and for the score",
    "A heat map of drift by feature over time, with reference and current distributions",
    "Prediction drift where labels have not arrived",
])
