from components.page import not_built_yet

not_built_yet("Explanations", [
    "Global and local SHAP explanations a non-specialist can read",
    "Cohort comparisons and the stability of explanations",
])
