"""The native extension, typed as Any (it ships no stubs)."""

from typing import Any

import blecrypt

native: Any = getattr(blecrypt, "_native")
