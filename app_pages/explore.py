from components.page import not_built_yet

not_built_yet("Explore", [
    "A KPI builder: measure, dimensions, filters and grain, shareable by link",
    "A read-only, sandboxed SQL console over the telemetry",
])
