from components.page import not_built_yet

not_built_yet("Reports", [
    "Audit reports as PDF, self-contained HTML and JSON, with a verification command",
])
