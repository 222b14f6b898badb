from components.page import not_built_yet

not_built_yet("KPIs", [
    "Accuracy, precision and recall with label coverage; latency p50/p95/p99; throughput; error rate",
    "CPU, memory, cost per 1,000 predictions and business outcome per model and version",
    "Service levels per model with green/amber/red status and the breaches in time",
    "A/B comparison of two versions with confidence intervals and a verdict per KPI",
])
