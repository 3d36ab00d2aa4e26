"""Drop-in replacement for BLUETTI's closed ``bluetti_crypt`` module (see docs/bluetti.md).

Not built yet in this version: importing works, constructing BluettiCrypt raises.
"""

try:
    from blecrypt._blecrypt import BluettiCrypt  # type: ignore[attr-defined]  # noqa: F401
except ImportError:
    try:
        from _blecrypt import BluettiCrypt  # type: ignore[attr-defined]  # noqa: F401
    except ImportError:
        class BluettiCrypt:  # type: ignore[no-redef]
            def __init__(self, *args, **kwargs):
                raise NotImplementedError("bluetti_crypt: the BLUETTI engine is not built in this version")
