from components.page import not_built_yet

not_built_yet("Fairness", [
    "Audits with criteria locked before the numbers are seen",
    "Group metrics with confidence intervals, and an honest 'inconclusive' for small groups",
])
