from components.page import not_built_yet

not_built_yet("Sign-offs", [
    "Ethics-committee decisions bound to the exact evidence they were made on",
    "Roles enforced, records append-only and tamper-evident",
])
