from components.page import not_built_yet

not_built_yet("Risks", [
    "The AI risk register mapped to NIST AI RMF 1.0, the EU AI Act and ISO/IEC 42001",
    "Risks fed by the evidence: drift, fairness and service-level breaches",
])
