"""The one canonical JSON serialisation that every hash, MAC and signed payload in the workspace is taken over.

Sorted keys, no spaces, UTF-8 text as is (no \\u escapes), and NaN/Infinity refused (they are not JSON, and two
writers could spell them differently). Changing any of this changes the hash of every stored record, so it is
written once, here.
"""

from __future__ import annotations

import json


def canonical_json(value) -> str:
    """`value` as canonical JSON text; raises ValueError on NaN or infinity and TypeError on non-JSON values."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
